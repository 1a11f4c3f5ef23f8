"""The functional-suite runner: loading, pass rules per expectation, targets and the minor-signal tally."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data.taxonomy import LABEL_NAMES
from tegur.errors import DataError
from training.functional import load_suite, render_markdown, run_suite, suite_texts

CASES = [
    {"id": "a1", "functionality": "clean_thanks", "expect": "no_flag", "labels": [], "text": "makasih kak"},
    {"id": "a2", "functionality": "clean_thanks", "expect": "no_flag", "labels": [], "text": "mantul kak"},
    {
        "id": "b1",
        "functionality": "solicitation_priced",
        "expect": "flag",
        "labels": ["sexual_solicitation", "off_platform_redirection"],
        "minor_signal": False,
        "text": "semalem brp kak? wa aja",
    },
    {
        "id": "b2",
        "functionality": "solicitation_priced",
        "expect": "flag",
        "labels": ["sexual_solicitation"],
        "minor_signal": True,
        "text": "dek 1 jam brp",
    },
]
INVARIANCE = [{"id": "c1", "functionality": "name_swap", "expect": "same", "texts": ["pak budi", "pak anto"]}]


def _write(directory: Path, cases: list[dict], invariance: list[dict] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "suite.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    if invariance is not None:
        (directory / "invariance.jsonl").write_text(
            "".join(json.dumps(c) + "\n" for c in invariance), encoding="utf-8"
        )
    return directory


def _scores(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=float) * 0.9 + 0.05  # 1 -> 0.95 (flagged at 0.5), 0 -> 0.05


def test_pass_rules_per_expectation(tmp_path: Path) -> None:
    suite = load_suite(_write(tmp_path, CASES, INVARIANCE))
    assert len(suite_texts(suite)) == 6
    probs = _scores(
        [
            [0, 0, 0, 0],  # a1 passes
            [1, 0, 0, 0],  # a2 flags bullying: fails
            [0, 1, 0, 1],  # b1 both labels: passes
            [0, 0, 0, 1],  # b2 misses solicitation: fails
            [1, 0, 0, 0],  # c1 variant 1
            [1, 0, 0, 0],  # c1 variant 2: same decisions, passes
        ]
    )
    minors = np.array([False, False, False, True, False, False])
    result = run_suite(suite, probs, [0.5] * 4, label_names=LABEL_NAMES, minor_flags=minors)
    rows = result["functionalities"]
    assert rows["clean_thanks"]["pass_rate"] == 0.5 and not rows["clean_thanks"]["meets_target"]
    assert rows["clean_thanks"]["failures"] == [{"id": "a2", "flagged": ["bullying"]}]
    assert rows["solicitation_priced"]["passed"] == 1
    assert rows["name_swap"]["pass_rate"] == 1.0 and rows["name_swap"]["meets_target"]
    assert result["minor_signal"] == {"n": 2, "positives": 1, "precision": 1.0, "recall": 1.0}
    assert result["summary"]["no_flag"]["pass_rate"] == 0.5
    table = render_markdown(result)
    assert "| clean_thanks | no_flag | 2 | 0.50 ✗ | 0.90 |" in table


def test_an_invariance_line_fails_when_one_variant_differs(tmp_path: Path) -> None:
    suite = load_suite(_write(tmp_path, CASES[:1], INVARIANCE))
    result = run_suite(suite, _scores([[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]), [0.5] * 4)
    assert result["functionalities"]["name_swap"]["passed"] == 0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "x", "functionality": "f", "expect": "maybe", "text": "t"}, "unknown expect"),
        (
            {"id": "x", "functionality": "f", "expect": "flag", "labels": [], "text": "t"},
            "must list the labels",
        ),
        ({"id": "x", "functionality": "f", "expect": "flag", "labels": ["spam"], "text": "t"}, "spam"),
        ({"id": "x", "functionality": "f", "expect": "no_flag", "text": " "}, "'text'"),
        ({"id": "x", "functionality": "f", "expect": "same", "texts": ["a", "b"]}, "does not belong"),
        (
            {"id": "x", "functionality": "f", "expect": "no_flag", "text": "t", "minor_signal": "yes"},
            "true or false",
        ),
    ],
)
def test_malformed_lines_are_refused_with_file_and_line(tmp_path: Path, row: dict, message: str) -> None:
    _write(tmp_path, [CASES[0], row])
    with pytest.raises(DataError, match=message) as info:
        load_suite(tmp_path)
    assert "suite.jsonl:2" in str(info.value)


def test_duplicate_ids_and_missing_suite_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no functional suite"):
        load_suite(tmp_path)
    _write(tmp_path, [CASES[0], CASES[0]])
    with pytest.raises(DataError, match="duplicate id"):
        load_suite(tmp_path)


def test_scores_of_the_wrong_length_are_refused(tmp_path: Path) -> None:
    suite = load_suite(_write(tmp_path, CASES))
    with pytest.raises(DataError, match="scored 3 texts"):
        run_suite(suite, _scores([[0, 0, 0, 0]] * 3), [0.5] * 4)
