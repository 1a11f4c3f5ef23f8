"""The TF-IDF baseline: learns the synthetic split, tunes thresholds like the model, writes its metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from data.dataset import read_split
from data.taxonomy import LABEL_NAMES
from tegur.cli import app
from tests.fixtures_models import write_config, write_prepared
from training.baseline import METRICS_FILE, train_baseline
from training.inputs import label_arrays
from training.metrics import multilabel_report, threshold_grid, tune_thresholds


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("prepared"))


@pytest.fixture(scope="module")
def splits(prepared_dir: Path) -> dict:
    return {split: read_split(prepared_dir, split) for split in ("train", "validation", "test")}


def test_baseline_learns_the_templates(splits: dict) -> None:
    model = train_baseline(splits["train"], splits["validation"])
    probs = model.predict_proba([ex.text for ex in splits["test"]])
    assert probs.shape == (len(splits["test"]), len(LABEL_NAMES))
    y, mask = label_arrays(splits["test"])
    report = multilabel_report(y, probs, model.thresholds, mask=mask)
    assert report["macro"]["f1"] > 0.9  # the synthetic templates are separable by their words


def test_thresholds_are_tuned_on_validation_like_the_model(splits: dict) -> None:
    model = train_baseline(splits["train"], splits["validation"])
    y, mask = label_arrays(splits["validation"])
    probs = model.predict_proba([ex.text for ex in splits["validation"]])
    assert model.thresholds == tune_thresholds(y, probs, mask=mask, grid=threshold_grid(), default=0.5)


def test_a_label_with_one_class_scores_a_constant(splits: dict) -> None:
    train = [ex for ex in splits["train"] if "pity_bait" not in ex.labels]
    model = train_baseline(train, splits["validation"])
    probs = model.predict_proba(["ibu aku lagi sakit tolong gift", "halo"])
    assert np.all(probs[:, LABEL_NAMES.index("pity_bait")] == 0.0)
    assert model.predict_proba([]).shape == (0, len(LABEL_NAMES))


def test_baseline_command_writes_metrics(prepared_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "base.yaml", data_dir=prepared_dir)
    out = tmp_path / "baseline"
    result = CliRunner().invoke(app, ["baseline", "--config", str(config), "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads((out / METRICS_FILE).read_text())
    assert set(written["metrics"]) == {"validation", "test"}
    assert set(written["thresholds"]) == set(LABEL_NAMES)
    assert written["metrics"]["test"]["macro"]["f1"] > 0.9
    assert written["rows"] == {"train": 240, "validation": 60, "test": 60}


def test_baseline_trains_on_the_source_weighted_rows(splits: dict) -> None:
    from training.config import TrainingConfig

    texts = [ex.text for ex in splits["test"]]
    plain = train_baseline(splits["train"], splits["validation"]).predict_proba(texts)
    weighted = train_baseline(
        splits["train"], splits["validation"], training=TrainingConfig(source_weights={"synthetic_mit": 0.1})
    ).predict_proba(texts)
    assert not np.allclose(plain, weighted)  # most synthetic_mit rows were left out of its training
