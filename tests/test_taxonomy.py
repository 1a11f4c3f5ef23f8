from __future__ import annotations

import pytest

from data.taxonomy import LABEL_NAMES, Label, Surface, parse_labels, parse_surface
from tegur.errors import DataError


def test_four_labels_in_fixed_order():
    assert LABEL_NAMES == (
        "bullying",
        "sexual_solicitation",
        "pity_bait",
        "off_platform_redirection",
    )


def test_parse_labels_sorts_and_dedupes():
    assert parse_labels(["pity_bait", "bullying", "pity_bait"]) == [
        Label.BULLYING,
        Label.PITY_BAIT,
    ]


def test_unknown_label_names_value_and_place():
    with pytest.raises(DataError, match=r"curated.jsonl:3: unknown label 'spam'"):
        parse_labels(["spam"], where="curated.jsonl:3")


@pytest.mark.parametrize("bad", ["bullying", None, 3])
def test_labels_must_be_a_list(bad):
    with pytest.raises(DataError, match="must be a list"):
        parse_labels(bad)


def test_parse_surface():
    assert parse_surface("live_chat") is Surface.LIVE_CHAT
    with pytest.raises(DataError, match="unknown surface 'tv'"):
        parse_surface("tv")
