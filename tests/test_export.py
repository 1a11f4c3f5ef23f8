"""`tegur export onnx`: a tiny trained model exported, checked against the PyTorch reference, and chosen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from inference.backends import EXPORT_FILE, ExportManifest
from inference.export import ExportRefusedError, compare, export_artifact, weight_matmuls_by_layer
from inference.hardware import CpuInfo
from inference.predictor import Predictor
from inference.settings import Precision, Runtime
from tegur.cli import app
from tegur.errors import ConfigError, DataError
from tests.fixtures_models import write_config, write_prepared
from training.train import train

TEXTS = ["makasih kak", "cek bio ya guys link grup wa", "dasar jelek lu", "ibu aku sakit tolong gift kak"] * 5
NO_BF16 = CpuInfo(model="test cpu", flags=frozenset({"avx2"}))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    prepared = write_prepared(root / "prepared")
    from tegur.config import load_config

    train(load_config(write_config(root / "tiny.yaml", data_dir=prepared)), output_dir=root / "artifact")
    return root / "artifact"


@pytest.fixture(scope="module")
def exported(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exported") / "artifact"
    shutil.copytree(trained, folder)
    result = CliRunner().invoke(app, ["export", "onnx", "--model", str(folder), "--precisions", "fp32"])
    assert result.exit_code == 0, result.output
    assert "onnxruntime fp32 (fp32): agreement 100.00%" in result.output
    return folder


def test_fp32_graph_matches_the_reference_and_is_recorded(exported: Path) -> None:
    manifest = ExportManifest.model_validate_json((exported / EXPORT_FILE).read_text())
    (fp32,) = manifest.variants
    assert fp32.validated and fp32.file == "model.onnx" and (exported / "model.onnx").is_file()
    assert fp32.agreement == 1.0 and fp32.max_score_diff < 1e-4
    assert all(abs(d) <= 0.005 for d in fp32.f1_delta.values())
    assert manifest.rows == 60 and manifest.split == "validation"
    assert set(manifest.cpu) >= {"model", "avx2", "avx512_vnni", "avx512_bf16"}
    assert "## Runtimes" in (exported / "README.md").read_text()


def test_predictor_runs_the_exported_graph_with_the_reference_scores(exported: Path) -> None:
    reference = Predictor.from_artifact(exported, runtime=Runtime.TORCH)
    fast = Predictor.from_artifact(exported, precision=Precision.FP32)
    assert (reference.runtime, fast.runtime) == (Runtime.TORCH, Runtime.ONNXRUNTIME)
    np.testing.assert_allclose(fast.predict_proba(TEXTS), reference.predict_proba(TEXTS), atol=1e-4)
    # Batches of every size, padded differently, give the same scores.
    np.testing.assert_allclose(
        fast.predict_proba(TEXTS, batch_size=3), fast.predict_proba(TEXTS, batch_size=64), atol=1e-5
    )
    assert [p.labels for p in fast.predict(TEXTS)] == [p.labels for p in reference.predict(TEXTS)]


def test_int8_that_changes_decisions_is_refused(trained: Path, tmp_path: Path, monkeypatch) -> None:
    import onnx

    import inference.export as export

    def damaging_quantizer(source: Path, target: Path, recipe, cpu) -> dict:
        graph = onnx.load(str(source))
        for init in graph.graph.initializer:
            if init.name.endswith("classifier.bias"):
                bias = onnx.numpy_helper.to_array(init) + 3.0
                init.CopyFrom(onnx.numpy_helper.from_array(bias.astype(np.float32), init.name))
        onnx.save(graph, str(target))
        return {"name": recipe.name}

    folder = tmp_path / "artifact"
    shutil.copytree(trained, folder)
    (folder / "model.int8.onnx").write_bytes(b"left over from an earlier export")
    monkeypatch.setattr(export, "quantize_int8", damaging_quantizer)
    with pytest.raises(ExportRefusedError, match=r"refused int8 .*flag decisions agree on .*% of messages"):
        export_artifact(folder, precisions=[Precision.FP32, Precision.INT8], cpu=NO_BF16, measure_seconds=0.1)
    assert not (folder / "model.int8.onnx").exists()  # the stale file went with the refusal
    manifest = json.loads((folder / EXPORT_FILE).read_text())
    refused = [v for v in manifest["variants"] if v["precision"] == "int8"]
    assert len(refused) == len(export.INT8_RECIPES) and not any(v["validated"] for v in refused)
    assert Predictor.from_artifact(folder).runtime in {Runtime.ONNXRUNTIME, Runtime.TORCH}
    with pytest.raises(ConfigError, match="has no validated int8 ONNX variant"):
        Predictor.from_artifact(folder, precision=Precision.INT8)


def test_real_int8_quantisation_is_checked_and_recorded(trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "artifact"
    shutil.copytree(trained, folder)
    try:
        export_artifact(folder, precisions=[Precision.INT8, Precision.BF16], cpu=NO_BF16, measure_seconds=0.1)
    except ExportRefusedError as exc:  # a tiny model may not survive int8: then it must say why
        assert "refused" in str(exc)
    manifest = ExportManifest.model_validate_json((folder / EXPORT_FILE).read_text())
    int8 = [v for v in manifest.variants if v.precision == Precision.INT8]
    assert int8 and all(v.recipe["weights"] == "int8 symmetric, per output channel" for v in int8)
    assert (folder / "model.int8.onnx").is_file() == any(v.validated for v in int8)
    assert not (folder / "model.onnx").exists()  # fp32 was only the quantiser's input
    (bf16,) = [v for v in manifest.variants if v.precision == Precision.BF16]
    assert not bf16.validated and "no native bf16" in bf16.reason


def test_weight_matmuls_come_in_layers_of_six(exported: Path) -> None:
    layers = weight_matmuls_by_layer(exported / "model.onnx")
    assert len(layers) == 2 and all(len(layer) == 6 for layer in layers)


def test_compare_counts_messages_and_f1() -> None:
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    mask = np.ones_like(y)
    ref = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.2]])
    same = compare(y, mask, ref, ref + 0.01, np.array([0.5, 0.5]), ["a", "b"])
    assert same.validated and same.agreement == 1.0 and same.reason == ""
    flipped = ref.copy()
    flipped[3, 0] = 0.6  # one false positive on one message
    worse = compare(y, mask, ref, flipped, np.array([0.5, 0.5]), ["a", "b"])
    assert not worse.validated and worse.agreement == 0.75
    assert "agree on 75.00% of messages (need 99.50%)" in worse.reason
    assert "a F1 changes by -0.2000" in worse.reason and "b F1" not in worse.reason


def test_export_without_validation_data_says_how(trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "artifact"
    shutil.copytree(trained, folder)
    with pytest.raises(
        DataError, match=r"validation.jsonl not found; run `tegur data prepare` or pass --data-dir"
    ):
        export_artifact(folder, data_dir=tmp_path / "nowhere")
