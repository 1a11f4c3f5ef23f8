"""``tegur train`` end to end on a tiny model: the artifact, its reload, and resuming an interrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import TrainerCallback
from typer.testing import CliRunner

from data.dataset import read_split
from data.taxonomy import LABEL_NAMES
from inference.artifact import load_metadata
from inference.predictor import Predictor
from tegur.cli import app
from tegur.config import load_config
from tegur.errors import ConfigError, DataError
from tests.fixtures_models import write_config, write_prepared
from training.inputs import label_arrays
from training.metrics import multilabel_report
from training.train import PROBE_TEXTS, checkpoint_dir, eval_subset, positive_weights, train

#: The module's reference run shows synthetic_nc rows twice (source weighting end to end).
WEIGHTED = {"source_weights": {"synthetic_nc": 2}}


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("prepared"))


def _run(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def trained(prepared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    config = write_config(root / "tiny.yaml", data_dir=prepared_dir, training=WEIGHTED)
    _run("train", "--config", str(config), "--output-dir", str(root / "artifact"))
    return root / "artifact"


def test_artifact_describes_itself(trained: Path) -> None:
    names = {p.name for p in trained.iterdir()}
    expected = {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"}
    assert expected | {"tegur.json", "normalizer.json", "README.md", "training_log.jsonl"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    config = json.loads((trained / "config.json").read_text())
    assert config["id2label"] == {str(i): n for i, n in enumerate(LABEL_NAMES)}
    assert config["label2id"] == {n: i for i, n in enumerate(LABEL_NAMES)}
    meta = load_metadata(trained)
    assert meta.labels == list(LABEL_NAMES)
    assert set(meta.thresholds) == set(LABEL_NAMES)
    assert set(meta.metrics) == {"validation", "test"}
    assert meta.metrics["test"]["n"] == 60
    assert meta.metrics["validation"]["n"] == 60  # all of it, although training evaluated 40
    assert {"torch", "transformers", "tokenizers", "tegur", "python"} <= set(meta.versions)
    assert meta.config["model"]["tiny"]["hidden_size"] == 32  # the resolved config, all sections
    assert meta.config["training"]["max_steps"] == 12
    assert meta.data is not None and meta.data.sources["synthetic_nc"].license == "CC BY-NC-SA 4.0"
    assert meta.data.stats == {"generator": "tests.fixtures_models"}
    assert meta.training["steps"] == 12 and meta.training["resumed_from_step"] is None
    train_split = read_split(meta.data.dir, "train")
    doubled = sum(ex.source == "synthetic_nc" for ex in train_split)
    assert doubled > 0
    assert meta.training["train_rows"] == len(train_split) + doubled  # synthetic_nc rows shown twice
    assert meta.data.rows["train"] == len(train_split)  # provenance counts the split, not the copies
    card = (trained / "README.md").read_text()
    assert "not for commercial use" in card
    assert f"synthetic_nc x2; {meta.training['train_rows']} rows seen per pass" in card
    log = [json.loads(line) for line in (trained / "training_log.jsonl").read_text().splitlines()]
    assert any("eval_macro_f1" in row for row in log) and any("loss" in row for row in log)


def test_checkpoints_are_removed_after_success(trained: Path) -> None:
    assert not trained.with_name(trained.name + ".checkpoints").exists()


def test_reloaded_artifact_reproduces_training(trained: Path, prepared_dir: Path) -> None:
    meta = load_metadata(trained)
    predictor = Predictor.from_artifact(trained)
    assert predictor.labels == LABEL_NAMES
    assert predictor.thresholds == meta.thresholds
    probes = predictor.predict_proba(list(PROBE_TEXTS))
    stored = np.array([[ref.scores[n] for n in LABEL_NAMES] for ref in meta.reference_scores])
    assert [ref.text for ref in meta.reference_scores] == list(PROBE_TEXTS)
    np.testing.assert_allclose(probes, stored, atol=1e-6)
    # The test metrics recomputed from the reloaded model equal those the training process stored.
    test = read_split(prepared_dir, "test")
    y, mask = label_arrays(test)
    probs = predictor.predict_proba([ex.text for ex in test])
    thresholds = [meta.thresholds[n] for n in LABEL_NAMES]
    assert multilabel_report(y, probs, thresholds, mask=mask) == meta.metrics["test"]


class _Interrupt(TrainerCallback):
    """Stop the process (as Ctrl-C would) once training passes ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt


def test_resume_continues_an_interrupted_run(trained: Path, prepared_dir: Path, tmp_path: Path) -> None:
    config_path = write_config(
        tmp_path / "tiny.yaml", data_dir=prepared_dir, training={**WEIGHTED, "keep_checkpoints": True}
    )
    out = tmp_path / "artifact"
    with pytest.raises(KeyboardInterrupt):
        train(load_config(config_path), output_dir=out, callbacks=[_Interrupt(8)])
    ckpts = checkpoint_dir(load_config(config_path).training, out)
    assert (ckpts / "checkpoint-6").is_dir() and not out.exists()

    with pytest.raises(ConfigError, match="pass --resume to continue it"):
        train(load_config(config_path), output_dir=out)

    _run("train", "--config", str(config_path), "--output-dir", str(out), "--resume")
    meta = load_metadata(out)
    assert meta.training["resumed_from_step"] == 6
    steps = [json.loads(line)["step"] for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # the interrupted run's lines after step 6 were dropped, not repeated
    assert meta.training["steps"] == 12
    # Same config and seed as the uninterrupted run: resuming restores weights, optimizer, schedule,
    # data order and RNG, so the final model is the same.
    reference = load_metadata(trained)
    for ours, theirs in zip(meta.reference_scores, reference.reference_scores, strict=True):
        assert ours.scores == pytest.approx(theirs.scores, abs=1e-5)


def test_resume_without_checkpoints_fails(prepared_dir: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "tiny.yaml", data_dir=prepared_dir))
    with pytest.raises(ConfigError, match=r"--resume: no checkpoint in .*train without --resume"):
        train(config, output_dir=tmp_path / "artifact", resume=True)


def test_missing_prepared_data_says_how_to_make_it(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "tiny.yaml", data_dir=tmp_path / "nothing"))
    with pytest.raises(DataError, match="run `tegur data prepare --config <config>` first"):
        train(config, output_dir=tmp_path / "artifact")


def test_missing_base_model_fails_before_training(prepared_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config_path = tmp_path / "e5.yaml"
    config_path.write_text(
        f"data: {{output_dir: {prepared_dir}}}\nmodel: {{name_or_path: models/multilingual-e5-small}}\n"
    )
    result = CliRunner().invoke(app, ["train", "--config", str(config_path)])
    assert isinstance(result.exception, ConfigError)
    assert "models/multilingual-e5-small not found: run `tegur model build --offline`" in str(
        result.exception
    )


def test_positive_weights_ignore_unannotated_rows() -> None:
    y = np.array([[1, 0], [0, 0], [0, 0], [0, 1]], dtype=np.float32)
    mask = np.array([[1, 1], [1, 0], [1, 0], [1, 1]], dtype=np.float32)
    # label 0: 1 positive, 3 negatives -> 3; label 1: 1 positive, 1 annotated negative -> 1
    assert positive_weights(y, mask, cap=20) == [3.0, 1.0]
    assert positive_weights(y, mask, cap=2) == [2.0, 1.0]


def test_eval_subset_is_fixed_and_bounded() -> None:
    from data.dataset import Example
    from training.config import TrainingConfig

    examples = [Example(id=str(i), text=f"pesan {i}") for i in range(100)]
    cfg = TrainingConfig(eval_max_examples=30)
    first = eval_subset(examples, cfg)
    assert len(first) == 30 and first == eval_subset(examples, cfg)
    assert [ex.id for ex in first] == sorted((ex.id for ex in first), key=int)  # input order kept
    assert eval_subset(examples, TrainingConfig()) == examples
