"""Shared training inputs: per-source weighting of the train split."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from data.dataset import Example
from training.inputs import weight_by_source


def _examples(counts: dict[str, int]) -> list[Example]:
    return [
        Example(id=f"{source}-{i}", text=f"pesan {source} {i}", source=source)
        for source, n in counts.items()
        for i in range(n)
    ]


def test_no_weights_keeps_the_split_as_is() -> None:
    examples = _examples({"a": 5, "b": 3})
    assert weight_by_source(examples, {}, seed=1) == examples


@pytest.mark.parametrize(("weight", "copies"), [(1, 1), (2, 2), (4, 4)])
def test_integer_weight_repeats_every_row(weight: int, copies: int) -> None:
    examples = _examples({"curated": 10, "public": 20})
    out = weight_by_source(examples, {"curated": weight}, seed=1)
    per_row = Counter(ex.id for ex in out)
    assert all(per_row[f"curated-{i}"] == copies for i in range(10))
    assert all(per_row[f"public-{i}"] == 1 for i in range(20))  # unnamed sources keep weight 1


def test_fractional_weight_samples_the_fraction_reproducibly() -> None:
    examples = _examples({"big": 2000, "small": 100})
    out = weight_by_source(examples, {"big": 0.25, "small": 2.5}, seed=7)
    counts = Counter(ex.source for ex in out)
    assert 420 <= counts["big"] <= 580  # 500 expected
    assert 220 <= counts["small"] <= 280  # 250 expected; every row at least twice
    assert min(Counter(ex.id for ex in out if ex.source == "small").values()) == 2
    assert out == weight_by_source(examples, {"big": 0.25, "small": 2.5}, seed=7)
    assert out != weight_by_source(examples, {"big": 0.25, "small": 2.5}, seed=8)


def test_a_weight_on_a_source_without_rows_warns(caplog: pytest.LogCaptureFixture) -> None:
    examples = _examples({"curated": 3, "public": 2})
    with caplog.at_level(logging.WARNING, logger="training.inputs"):
        out = weight_by_source(examples, {"curatd": 4}, seed=1)
    assert out == examples
    assert "no training rows come from 'curatd' (sources here: curated, public)" in caplog.text
