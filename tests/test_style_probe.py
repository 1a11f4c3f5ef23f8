"""The style probe separates hand-written lines from public ones only when their style differs."""

from __future__ import annotations

import random

from data.dataset import Example
from data.style_probe import style_probe, text_shape

WORDS = [
    "aku",
    "kamu",
    "dia",
    "makan",
    "minum",
    "jalan",
    "pulang",
    "kerja",
    "main",
    "nonton",
    "live",
    "kak",
    "bang",
    "sih",
    "dong",
]


def _rows(curated_style: bool) -> list[Example]:
    rng = random.Random(0)
    rows = []
    for i in range(160):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9)))
        curated = i % 2 == 0
        # A comma and a full stop: the style tell of hand-written lines.
        text = words.capitalize().replace(" ", ", ", 1) + "." if curated and curated_style else words
        rows.append(Example(id=str(i), text=text, source="curated" if curated else "pub"))
    return rows


def test_a_style_tell_is_found_and_its_absence_is_near_chance() -> None:
    told = style_probe(_rows(curated_style=True), folds=4)
    assert told["shape_roc_auc"] > 0.95 and told["curated_rows"] == 80
    same = style_probe(_rows(curated_style=False), folds=4)
    assert 0.3 < same["shape_roc_auc"] < 0.7 and 0.3 < same["roc_auc"] < 0.7


def test_shape_masks_words_and_numbers_only() -> None:
    assert text_shape("open vcs 08123, wa aja!! 😍") == "w w 0, w w!! 😍"


def test_too_few_curated_rows_give_a_note_not_a_number() -> None:
    rows = [Example(id="a", text="x", source="curated"), Example(id="b", text="y", source="pub")]
    assert style_probe(rows)["roc_auc"] is None
