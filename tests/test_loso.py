"""``tegur loso``: folds hold a source out of train and validation, and score the model on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data.dataset import Example
from data.taxonomy import Label
from tegur.cli import app
from tegur.errors import DataError
from tests.fixtures_models import write_config, write_prepared
from training.inputs import load_splits
from training.loso import build_fold, default_groups, parse_group


def _ex(i: int, source: str, text: str, labels: tuple[Label, ...] = ()) -> Example:
    return Example(id=str(i), text=text, labels=labels, source=source)


def test_default_groups_keep_overlapping_sources_together_and_skip_curated() -> None:
    rows = [_ex(i, s, "x") for i, s in enumerate(["ibrohim2019", "ibrohim2018", "curated", "judol_gbennnn"])]
    assert default_groups(rows) == [("ibrohim2019", "ibrohim2018"), ("judol_gbennnn",)]
    assert parse_group(" a + b ") == ("a", "b")
    with pytest.raises(DataError, match="empty hold-out group"):
        parse_group("+")


def test_a_fold_moves_every_row_of_the_group_to_test_minus_near_copies() -> None:
    splits = {
        "train": [
            _ex(1, "a", "dasar pejabat korup turun aja lu dari kursi", (Label.BULLYING,)),
            _ex(2, "b", "makasih kak mawarnya sehat selalu ya"),
        ],
        "validation": [_ex(3, "a", "semoga lancar acaranya pak")],
        "test": [
            _ex(4, "b", "makasih kak mawarnya sehat selalu ya semua"),  # near-copy of row 2: it is in "b" too
            _ex(5, "b", "aku lagi makan bakso di pinggir jalan"),
        ],
    }
    fold, info = build_fold(splits, ["a"])
    assert [ex.id for ex in fold["train"]] == ["2"] and fold["validation"] == []
    assert [ex.id for ex in fold["test"]] == ["1", "3"]
    fold, info = build_fold(splits, ["b"])
    # Row 4 is not a near-copy of the remaining train (row 1), so every "b" row is evaluated.
    assert sorted(ex.id for ex in fold["test"]) == ["2", "4", "5"] and info["near_copies_removed"] == 0
    splits["train"].append(_ex(6, "a", "makasih kak mawarnya sehat selalu yaa"))
    fold, info = build_fold(splits, ["b"])
    assert info["near_copies_removed"] == 2 and [ex.id for ex in fold["test"]] == ["5"]
    with pytest.raises(DataError, match="not in the prepared data"):
        build_fold(splits, ["zzz"])


def test_loso_end_to_end_on_the_tiny_model(tmp_path: Path) -> None:
    prepared = write_prepared(tmp_path / "prepared")
    config = write_config(tmp_path / "tiny.yaml", data_dir=prepared)
    out = tmp_path / "loso"
    result = CliRunner().invoke(
        app, ["loso", "--config", str(config), "--out", str(out), "--hold-out", "synthetic_nc"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "loso.json").read_text(encoding="utf-8"))
    (fold,) = report["folds"]
    splits = load_splits(prepared)
    held = sum(ex.source == "synthetic_nc" for rows in splits.values() for ex in rows)
    assert fold["group"] == ["synthetic_nc"] and fold["held_out_rows"] == held
    assert fold["evaluated_rows"] + fold["near_copies_removed"] == held
    assert fold["train_rows"] == sum(ex.source != "synthetic_nc" for ex in splits["train"])
    for who in ("model", "baseline"):
        assert set(fold[who]) == {label.value for label in Label}
        assert all(0.0 <= row["f1"] <= 1.0 for row in fold[who].values() if row["positives"])
    assert "bullying" in report["summary"]["model"]
    assert not (out / "synthetic_nc" / "model").exists()  # fold models are removed by default
    table = (out / "loso.md").read_text(encoding="utf-8")
    assert "| synthetic_nc |" in table and "TF-IDF baseline" in table


def test_the_evaluation_cap_keeps_the_prevalence_of_positives() -> None:
    from training.loso import _stable_cap

    rows = [_ex(i, "a", f"t{i}", (Label.BULLYING,) if i % 4 == 0 else ()) for i in range(400)]
    kept = _stable_cap(rows, 100, seed=0)
    assert len(kept) == 100
    assert sum(bool(ex.labels) for ex in kept) == 25  # a quarter, as in the 400
    assert _stable_cap(rows, 100, seed=0) == kept and _stable_cap(rows, 1000, seed=0) == rows
