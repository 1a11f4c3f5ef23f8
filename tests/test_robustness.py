"""The evaluation views that cannot flatter: near-copy-free and project-written figures, the functional
suite, the minors lines and the leave-one-source-out table, in metrics.json and report.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from data.dataset import Example
from data.taxonomy import Label
from tegur.cli import app
from tegur.errors import DataError
from tests.fixtures_models import build_untrained_artifact, write_prepared
from training.robustness import held_out_views, minors_evaluation

B = (Label.BULLYING,)


def _ex(i: int, text: str, labels: tuple[Label, ...] = (), source: str = "pub") -> Example:
    return Example(id=str(i), text=text, labels=labels, source=source)


def test_views_split_curated_from_public_and_drop_near_copies_of_train() -> None:
    train = [_ex(0, "dasar pejabat korup turun aja lu dari kursi", B)]
    test = [
        _ex(1, "dasar pejabat korup turun aja lu dari kursi!!", B),  # near-copy, caught
        _ex(2, "kamu jelek banget kayak sapi", B, source="curated"),
        _ex(3, "semoga sukses acaranya pak", source="curated"),
        _ex(4, "aku lagi makan bakso"),
    ]
    # The model gets the near-copy right and misses the unseen insult.
    probs = np.array([[0.9, 0, 0, 0], [0.1, 0, 0, 0], [0.1, 0, 0, 0], [0.1, 0, 0, 0]])
    views = held_out_views(test, probs, [0.5] * 4, train)
    assert views["all"]["n"] == 4 and views["all"]["labels"]["bullying"]["f1"] == pytest.approx(2 / 3)
    assert views["project_written"]["n"] == 2 and views["project_written"]["labels"]["bullying"]["f1"] == 0
    assert views["public"]["n"] == 2 and views["public"]["labels"]["bullying"]["f1"] == 1.0
    assert views["near_copies"]["removed"] == 1 and views["near_copies"]["removed_positives"]["bullying"] == 1
    assert views["deduplicated"]["n"] == 3 and views["deduplicated"]["labels"]["bullying"]["f1"] == 0
    assert "deduplicated" not in held_out_views(test, probs, [0.5] * 4, None)


class _Fixed:
    """A predictor stand-in with fixed scores per text."""

    labels = tuple(label.value for label in Label)
    thresholds = dict.fromkeys(labels, 0.5)

    def __init__(self, scores: dict[str, list[float]]) -> None:
        self.scores = scores

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.array([self.scores[t] for t in texts])


def test_grooming_escalation_needs_the_minor_signal_and_a_flagged_solicitation(tmp_path: Path) -> None:
    rows = [
        {
            "text": "dek pc aku yuk nanti aku kasih pulsa",
            "labels": ["sexual_solicitation"],
            "minor_signal": True,
        },
        {"text": "aku masih smp kak, kls 8", "labels": [], "minor_signal": True},
        {"text": "open vcs kak, wa aja", "labels": ["sexual_solicitation"], "minor_signal": False},
    ]
    path = tmp_path / "minors.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    predictor = _Fixed(
        {rows[0]["text"]: [0, 0.9, 0, 0], rows[1]["text"]: [0, 0.9, 0, 0], rows[2]["text"]: [0, 0.9, 0, 0.9]}
    )
    result = minors_evaluation(predictor, path)
    assert result["minor_signal"] == {
        "positives": 2, "predicted": 2, "precision": 1.0, "recall": 1.0, "f1": 1.0
    }  # fmt: skip
    # Row 1 is a child speaking with a (wrong) solicitation flag: escalated, a false positive.
    assert (
        result["grooming_escalation"]["precision"] == 0.5 and result["grooming_escalation"]["recall"] == 1.0
    )
    path.write_text(json.dumps({"text": "x", "labels": []}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"minors\.jsonl:1: 'minor_signal'"):
        minors_evaluation(predictor, path)


def test_evaluate_reports_every_view(tmp_path: Path) -> None:
    artifact = build_untrained_artifact(tmp_path / "artifact")
    prepared = write_prepared(tmp_path / "prepared")
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "suite.jsonl").write_text(
        json.dumps({"id": "a", "functionality": "thanks", "expect": "no_flag", "text": "makasih kak"}) + "\n",
        encoding="utf-8",
    )
    minors = tmp_path / "minors.jsonl"
    minors.write_text(
        json.dumps({"text": "umurku 13 kak", "labels": [], "minor_signal": True}) + "\n", encoding="utf-8"
    )
    loso = tmp_path / "loso.json"
    loso.write_text(
        json.dumps(
            {
                "config": "c",
                "training": {"max_steps": 1, "max_length": 8},
                "near_copy_threshold": 0.5,
                "folds": [{"group": ["pub"], "evaluated_rows": 3, "near_copies_removed": 0, "model": {}}],
                "summary": {},
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--model", str(artifact), "--split", "test", "--data-dir", str(prepared),
         "--out", str(out), "--bootstrap", "20", "--no-baseline", "--suite", str(suite),
         "--minors", str(minors), "--loso", str(loso), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    robustness = metrics["robustness"]
    assert robustness["held_out_views"]["all"]["n"] == 60
    assert "deduplicated" in robustness["held_out_views"]
    assert robustness["functional"]["functionalities"]["thanks"]["n"] == 1
    assert robustness["minors"]["n"] == 1 and robustness["minors"]["minor_signal"]["recall"] == 1.0
    assert robustness["loso"]["folds"][0]["group"] == ["pub"]
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Held out for real", "## Functional suite", "## Minors", "## Leave one source out"):
        assert heading in report
