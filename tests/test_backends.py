"""The predictor's backend choice: what export.json validated, what this CPU runs well, what was asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.backends import (
    EXPORT_FILE,
    BackendChoice,
    ExportManifest,
    VariantReport,
    choose_backend,
    load_manifest,
)
from inference.hardware import CpuInfo
from inference.settings import Precision, Runtime
from tegur.errors import ArtifactError, ConfigError

AVX2 = CpuInfo(model="avx2 only", flags=frozenset({"avx2"}))
BF16_CPU = CpuInfo(model="native bf16", flags=frozenset({"avx2", "avx512_vnni", "avx512_bf16"}))


def variant(
    precision: Precision, speed: float, *, validated: bool = True, single_ms: float = 0.0
) -> VariantReport:
    runtime = Runtime.TORCH if precision == Precision.BF16 else Runtime.ONNXRUNTIME
    files = {Precision.FP32: "model.onnx", Precision.INT8: "model.int8.onnx"}
    return VariantReport(
        precision=precision,
        runtime=runtime,
        file=files.get(precision),
        agreement=1.0 if validated else 0.9,
        messages_per_s=speed,
        single_p99_ms=single_ms,
        validated=validated,
        reason="" if validated else "flag decisions agree on 90.00% of messages",
    )


def manifest(
    *variants: VariantReport, reference_speed: float = 50.0, version: str = "abc", reference_ms: float = 0.0
) -> ExportManifest:
    return ExportManifest(
        model_version=version,
        split="validation",
        rows=100,
        data_dir="data",
        min_agreement=0.995,
        max_f1_delta=0.005,
        threads=2,
        cpu=BF16_CPU.describe(),
        reference=VariantReport(
            precision=Precision.FP32,
            runtime=Runtime.TORCH,
            agreement=1.0,
            messages_per_s=reference_speed,
            single_p99_ms=reference_ms,
            validated=True,
        ),
        variants=list(variants),
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "model.onnx").write_bytes(b"graph")
    (tmp_path / "model.int8.onnx").write_bytes(b"graph")
    return tmp_path


def choose(
    m: ExportManifest | None, folder: Path, precision=Precision.AUTO, runtime=Runtime.AUTO, cpu=BF16_CPU
):
    return choose_backend(m, folder, precision=precision, runtime=runtime, cpu=cpu)


def test_without_an_export_the_reference_runs(folder: Path) -> None:
    assert choose(None, folder) == BackendChoice(
        Runtime.TORCH, Precision.FP32, None, "reference (no faster validated variant)"
    )
    assert choose(None, folder, Precision.FP32).runtime == Runtime.TORCH
    with pytest.raises(ConfigError, match="int8 runs only as an ONNX variant"):
        choose(None, folder, Precision.INT8)
    with pytest.raises(
        ConfigError, match="has no ONNX variant that this CPU can run; run `tegur export onnx"
    ):
        choose(None, folder, runtime=Runtime.ONNXRUNTIME)


def test_auto_takes_the_fastest_validated_variant(folder: Path) -> None:
    m = manifest(variant(Precision.FP32, 150), variant(Precision.INT8, 300), variant(Precision.BF16, 200))
    chosen = choose(m, folder)
    assert (chosen.runtime, chosen.precision, chosen.file) == (
        Runtime.ONNXRUNTIME,
        Precision.INT8,
        "model.int8.onnx",
    )


def test_auto_skips_a_variant_slower_than_the_reference_on_one_message(folder: Path) -> None:
    # bf16 autocast: fastest in batches, but one message of a new length takes longer than fp32.
    m = manifest(
        variant(Precision.FP32, 150, single_ms=9.0),
        variant(Precision.BF16, 400, single_ms=80.0),
        reference_ms=20.0,
    )
    assert choose(m, folder).precision == Precision.FP32
    # Asked for by name it still runs; unmeasured (older exports) it is not excluded.
    assert choose(m, folder, Precision.BF16).precision == Precision.BF16
    unmeasured = manifest(variant(Precision.FP32, 150), variant(Precision.BF16, 400), reference_ms=20.0)
    assert choose(unmeasured, folder).precision == Precision.BF16


def test_refused_variants_are_never_chosen(folder: Path) -> None:
    m = manifest(variant(Precision.FP32, 150), variant(Precision.INT8, 300, validated=False))
    assert choose(m, folder).precision == Precision.FP32
    with pytest.raises(ConfigError, match="has no validated int8 ONNX variant"):
        choose(m, folder, Precision.INT8)


def test_bf16_only_on_cpus_with_native_bf16(folder: Path) -> None:
    m = manifest(variant(Precision.FP32, 150), variant(Precision.BF16, 400))
    assert choose(m, folder, cpu=BF16_CPU).precision == Precision.BF16
    on_avx2 = choose(m, folder, cpu=AVX2)
    assert (on_avx2.runtime, on_avx2.precision) == (Runtime.ONNXRUNTIME, Precision.FP32)


def test_a_missing_file_is_not_chosen(folder: Path) -> None:
    (folder / "model.int8.onnx").unlink()
    m = manifest(variant(Precision.FP32, 150), variant(Precision.INT8, 300))
    assert choose(m, folder).precision == Precision.FP32


def test_slower_than_the_reference_keeps_the_reference(folder: Path) -> None:
    m = manifest(variant(Precision.FP32, 40), reference_speed=50)
    assert choose(m, folder).runtime == Runtime.TORCH
    # Asked for explicitly, the validated ONNX fp32 graph still runs.
    assert choose(m, folder, Precision.FP32).runtime == Runtime.ONNXRUNTIME
    assert choose(m, folder, runtime=Runtime.ONNXRUNTIME).runtime == Runtime.ONNXRUNTIME


def test_runtime_torch_is_the_reference_path(folder: Path) -> None:
    m = manifest(variant(Precision.FP32, 150), variant(Precision.INT8, 300))
    assert choose(m, folder, runtime=Runtime.TORCH) == BackendChoice(
        Runtime.TORCH, Precision.FP32, None, "reference (no faster validated variant)"
    )
    assert choose(m, folder, Precision.FP32, Runtime.TORCH).runtime == Runtime.TORCH
    with pytest.raises(ConfigError, match="int8 runs on onnxruntime only"):
        choose(m, folder, Precision.INT8, Runtime.TORCH)


def test_gpu_devices_use_torch(folder: Path) -> None:
    m = manifest(variant(Precision.FP32, 150), variant(Precision.INT8, 300))
    assert choose_backend(
        m, folder, precision=Precision.AUTO, runtime=Runtime.AUTO, device="cuda"
    ).runtime == (Runtime.TORCH)
    with pytest.raises(ConfigError, match="CPU only"):
        choose_backend(m, folder, precision=Precision.AUTO, runtime=Runtime.ONNXRUNTIME, device="cuda")


def test_a_stale_or_broken_manifest(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    (folder / EXPORT_FILE).write_text(manifest(variant(Precision.FP32, 1), version="old").model_dump_json())
    assert load_manifest(folder, "new") is None
    assert "was written for model old, not new" in caplog.text
    assert load_manifest(folder, "old") is not None
    (folder / EXPORT_FILE).write_text("{not json")
    with pytest.raises(
        ArtifactError, match=r"export.json is invalid \(file: Invalid JSON.*\); re-run `tegur export onnx"
    ):
        load_manifest(folder, "old")
