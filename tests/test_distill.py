"""`tegur distill`: a tiny teacher distilled end to end into a 1-layer student that is a normal artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from inference.artifact import load_artifact, load_metadata
from inference.predictor import Predictor
from tegur.cli import app
from tegur.config import load_config
from tegur.errors import ConfigError, DataError
from tests.fixtures_models import write_config, write_prepared
from training.config import DistillConfig
from training.distill import DistillTrainer, build_student, read_unlabelled, student_layers
from training.train import PROBE_TEXTS, train

UNLABELLED = ["kak bagi link nya dong", "halo semua salam kenal", "mantap jiwa kak", "wkwk lucu banget"]


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("teacher")
    prepared = write_prepared(root / "prepared")
    with open(prepared / "unlabelled.jsonl", "w", encoding="utf-8") as fh:
        for text in UNLABELLED:
            fh.write(json.dumps({"text": text}) + "\n")
    train(load_config(write_config(root / "tiny.yaml", data_dir=prepared)), output_dir=root / "artifact")
    return root / "artifact"


@pytest.fixture(scope="module")
def student(teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("student")
    config = write_config(root / "student.yaml", data_dir=root / "unused")
    raw = yaml.safe_load(config.read_text())
    raw["distill"] = {"num_layers": 1, "temperature": 2.0, "alpha": 0.7}
    config.write_text(yaml.safe_dump(raw))
    _run("distill", "--teacher", str(teacher), "--config", str(config), "--output-dir", str(root / "student"))
    return root / "student"


def test_student_is_a_smaller_artifact_naming_its_teacher(student: Path, teacher: Path) -> None:
    meta, teacher_meta = load_metadata(student), load_metadata(teacher)
    assert json.loads((student / "config.json").read_text())["num_hidden_layers"] == 1
    assert meta.distillation["teacher"]["model_version"] == teacher_meta.model_version
    assert meta.distillation["teacher_layers"] == [1] and meta.distillation["layers_kept"] == 1
    assert meta.distillation["unlabelled_rows"] == len(UNLABELLED)  # the prepared folder's unlabelled.jsonl
    assert meta.distillation["vocabulary"]["changed_text"] == 0
    # The teacher's text pipeline, tuned thresholds and both held-out reports, as after `tegur train`.
    assert (meta.text_prefix, meta.max_length) == (teacher_meta.text_prefix, teacher_meta.max_length)
    assert set(meta.metrics) == {"validation", "test"} and meta.thresholds != dict.fromkeys(meta.labels, 0.5)
    card = (student / "README.md").read_text()
    assert f"Distilled (`tegur distill`) from teacher `tiny` ({teacher_meta.model_version}" in card
    assert "Vocabulary trimmed from" in card


def test_student_reloads_and_reproduces_its_probe_scores(student: Path) -> None:
    meta = load_metadata(student)
    predictor = Predictor.from_artifact(student)
    scores = predictor.predict_proba(list(PROBE_TEXTS))
    expected = np.array([[ref.scores[name] for name in meta.labels] for ref in meta.reference_scores])
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_student_evaluates_and_exports_like_any_artifact(student: Path, tmp_path: Path) -> None:
    _run("evaluate", "--model", str(student), "--split", "test", "--out", str(tmp_path / "report"))
    assert (tmp_path / "report" / "metrics.json").is_file()
    _run("export", "onnx", "--model", str(student), "--precisions", "fp32")
    assert (student / "model.onnx").is_file()


def test_layers_are_evenly_spaced_and_end_with_the_last() -> None:
    assert student_layers(12, DistillConfig(num_layers=4)) == [2, 5, 8, 11]
    assert student_layers(12, DistillConfig(num_layers=6)) == [1, 3, 5, 7, 9, 11]
    assert student_layers(2, DistillConfig(num_layers=1)) == [1]
    assert student_layers(12, DistillConfig(layers=[0, 11])) == [0, 11]
    with pytest.raises(ConfigError, match="the teacher has 12 layers; use fewer"):
        student_layers(12, DistillConfig(num_layers=13))
    with pytest.raises(ConfigError, match=r"the teacher has layers 0-1, not \[5\]"):
        student_layers(2, DistillConfig(layers=[0, 5]))
    with pytest.raises(ValueError, match="increasing order"):
        DistillConfig(layers=[3, 1])


def test_a_student_with_every_layer_is_the_teacher(teacher: Path) -> None:
    model = load_artifact(teacher).model
    copy = build_student(model, [0, 1]).eval()
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    with torch.no_grad():
        torch.testing.assert_close(copy(input_ids=ids).logits, model(input_ids=ids).logits)
    one = build_student(model, [1])
    assert torch.equal(
        one.bert.encoder.layer[0].output.dense.weight, model.bert.encoder.layer[1].output.dense.weight
    )


def test_kd_loss_mixes_soft_and_gold_labels(teacher: Path) -> None:
    model = load_artifact(teacher).model.train()
    trainer = DistillTrainer.__new__(DistillTrainer)  # only the loss is under test
    trainer.temperature, trainer.alpha = 2.0, 1.0
    batch = {
        "input_ids": torch.tensor([[2, 10, 11, 3]]),
        "attention_mask": torch.ones(1, 4, dtype=torch.long),
        "labels": torch.zeros(1, 4),
        "label_mask": torch.zeros(1, 4),  # unlabelled: the gold part contributes nothing
    }
    model.eval()
    with torch.no_grad():
        own = model(**{k: v for k, v in batch.items() if k.startswith(("input", "attention"))}).logits
        matched = trainer.compute_loss(model, {**batch, "teacher_logits": own.clone()})
        far = trainer.compute_loss(model, {**batch, "teacher_logits": own + 6.0})
    assert far > matched  # learning the teacher's own scores costs least
    trainer.alpha = 0.0
    with torch.no_grad():
        gold_only = trainer.compute_loss(model, {**batch, "teacher_logits": own + 6.0})
    assert gold_only == pytest.approx(0.0, abs=1e-6)


def test_unlabelled_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("satu\n\ndua\nsatu\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "tiga"}\n{"text": ""}\n', encoding="utf-8")
    assert read_unlabelled([tmp_path / "a.txt", tmp_path / "b.jsonl"], 10, 0) == ["satu", "dua", "tiga"]
    assert len(read_unlabelled([tmp_path / "a.txt"], 1, 0)) == 1
    (tmp_path / "bad.jsonl").write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: not a JSON object with a 'text' field"):
        read_unlabelled([tmp_path / "bad.jsonl"], 10, 0)
    with pytest.raises(DataError, match=r"not found; fix distill\.unlabelled"):
        read_unlabelled([tmp_path / "missing.txt"], 10, 0)
