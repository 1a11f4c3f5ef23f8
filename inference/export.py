"""``tegur export onnx``: the artifact's model as ONNX graphs, each kept only if it scores like the original.

For each candidate (ONNX fp32, ONNX int8 by the recipes below, PyTorch bf16 on CPUs with native bf16),
the validation split is scored by the candidate and by the reference (PyTorch fp32, the path training
measured). A candidate is kept when

* its flag decisions (which labels are at or above their thresholds) equal the reference's on at least
  ``min_agreement`` (99.5%) of the messages, and
* every label's F1 is within ``max_f1_delta`` (0.005) of the reference's,

and refused otherwise, with the numbers that failed. int8 recipes are tried from the most quantised to
the least (the XLM-R family has outlier activations that per-tensor int8 mishandles, so every recipe is
per-channel; the fallbacks keep the FFN output projections, then also the first and last layer, in
fp32), and the first that passes is kept. bf16 is kept only where the CPU has native bf16 and it
measures faster than the reference. What passed, how it was made and how fast it ran is written to
``export.json``, which the predictor reads to choose a backend.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data.dataset import read_split
from inference.artifact import MODEL_CARD_FILE, file_sha256, load_artifact, render_model_card
from inference.backends import (
    EXPORT_FILE,
    ONNX_FILES,
    ONNX_INPUTS,
    ONNX_OUTPUT,
    Backend,
    ExportManifest,
    OnnxBackend,
    TorchBackend,
    VariantReport,
)
from inference.hardware import CpuInfo, cpu_info
from inference.predictor import Predictor
from inference.settings import Precision, Runtime
from tegur.errors import ConfigError, DataError, TegurError
from tegur.io import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from inference.artifact import Artifact
    from inference.modeling import TegurForMultiLabel

logger = logging.getLogger(__name__)

DEFAULT_MIN_AGREEMENT = 0.995
DEFAULT_MAX_F1_DELTA = 0.005
OPSET = 18


class ExportRefusedError(TegurError):
    """A requested variant did not agree with the reference closely enough."""


@dataclass(frozen=True)
class Int8Recipe:
    """How to quantise: dynamic int8 (weights int8 per output channel, activations per batch)."""

    name: str
    #: Keep these MatMuls in fp32: "" (none), "ffn_output" (each layer's FFN down-projection, where
    #: XLM-R's outlier activations are), "ffn_output+edge_layers" (also every MatMul of the first and
    #: last layer), "ffn" (both FFN projections: only the attention projections are int8).
    keep_fp32: str = ""
    #: Also store the embedding table in int8 (4x smaller; a lookup, so no speed change).
    quantize_embeddings: bool = True

    def describe(self, reduce_range: bool) -> dict[str, Any]:
        return {
            "method": "onnxruntime.quantization.quantize_dynamic",
            "weights": "int8 symmetric, per output channel",
            "activations": "uint8, dynamic per batch",
            "reduce_range": reduce_range,
            **asdict(self),
        }


INT8_RECIPES: tuple[Int8Recipe, ...] = (
    Int8Recipe("per-channel"),
    Int8Recipe("per-channel, FFN outputs fp32", keep_fp32="ffn_output"),
    Int8Recipe("per-channel, FFN outputs + first/last layer fp32", keep_fp32="ffn_output+edge_layers"),
    Int8Recipe("per-channel, attention projections only", keep_fp32="ffn"),
)


# ------------------------------------------------------------------------------------------ export


def export_fp32(model: TegurForMultiLabel, path: Path) -> None:
    """Write the model (encoder, mean pooling, head: ids + mask -> logits) as one ONNX graph.

    The attention mask goes in as a ready additive bias: transformers' own mask construction
    specialises on the traced sequence length and silently mis-masks padding at other lengths.
    """
    import torch

    from inference.modeling import mean_pool

    class Graph(torch.nn.Module):
        def __init__(self, inner: TegurForMultiLabel) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            keep = attention_mask.to(torch.float32)
            bias = (1.0 - keep)[:, None, None, :] * torch.finfo(torch.float32).min
            hidden = self.inner.bert(input_ids=input_ids, attention_mask=bias).last_hidden_state
            return self.inner.classifier(mean_pool(hidden, attention_mask))

    graph = Graph(model.eval())
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 8, 2, 1, 1]], dtype=torch.int64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.int64)
    batch = torch.export.Dim("batch")
    seq = torch.export.Dim("seq", max=max(8, model.config.max_position_embeddings))
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and axis-naming chatter
            torch.onnx.export(
                graph,
                (ids, mask),
                str(path),
                input_names=list(ONNX_INPUTS),
                output_names=[ONNX_OUTPUT],
                dynamic_shapes={ONNX_INPUTS[0]: {0: batch, 1: seq}, ONNX_INPUTS[1]: {0: batch, 1: seq}},
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    finally:
        quiet.setLevel(level)


def _producer_ops(graph: Any) -> dict[str, str]:
    return {out: node.op_type for node in graph.node for out in node.output}


def weight_matmuls_by_layer(model_path: Path) -> list[list[str]]:
    """Names of the weight MatMuls of each encoder layer, in order (q, k, v, attn out, FFN in, FFN out).

    Found by structure, not by name (the exporter numbers nodes): a weight MatMul multiplies by an
    initializer; six of them make a layer.
    """
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in constants]
    if len(matmuls) % 6:
        raise ConfigError(f"{model_path}: {len(matmuls)} weight MatMuls is not 6 per layer; not a BERT graph")
    return [matmuls[i : i + 6] for i in range(0, len(matmuls), 6)]


def quantize_int8(source: Path, target: Path, recipe: Int8Recipe, cpu: CpuInfo) -> dict[str, Any]:
    """Quantise the fp32 graph by ``recipe``; return the recipe as recorded in ``export.json``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    layers = weight_matmuls_by_layer(source)
    exclude: list[str] = []
    if "ffn_output" in recipe.keep_fp32:
        exclude += [layer[5] for layer in layers]
    if recipe.keep_fp32 == "ffn":
        exclude += [name for layer in layers for name in layer[4:]]
    if "edge_layers" in recipe.keep_fp32:
        exclude += [*layers[0], *layers[-1]]
    # Without VNNI, u8*s8 products can saturate int16 accumulators: 7-bit weights avoid it.
    reduce_range = not cpu.int8_dot_product
    logging.disable(logging.WARNING)  # the quantiser logs every tensor on the root logger
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
            op_types_to_quantize=["MatMul", "Gather"] if recipe.quantize_embeddings else ["MatMul"],
            nodes_to_exclude=sorted(set(exclude)),
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        logging.disable(logging.NOTSET)
    return {**recipe.describe(reduce_range), "fp32_matmuls": len(set(exclude))}


# -------------------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Comparison:
    agreement: float
    f1: dict[str, float]
    f1_delta: dict[str, float]
    max_score_diff: float
    validated: bool
    reason: str


def compare(
    y: np.ndarray,
    mask: np.ndarray,
    reference: np.ndarray,
    candidate: np.ndarray,
    thresholds: np.ndarray,
    labels: Sequence[str],
    *,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    max_f1_delta: float = DEFAULT_MAX_F1_DELTA,
) -> Comparison:
    """Check a candidate's scores against the reference's on the same (labelled) messages."""
    from training.metrics import multilabel_report

    ref_flags = reference >= thresholds
    cand_flags = candidate >= thresholds
    agreement = float((ref_flags == cand_flags).all(axis=1).mean()) if len(y) else 1.0
    ref_report = multilabel_report(y, reference, thresholds.tolist(), mask=mask, label_names=labels)
    cand_report = multilabel_report(y, candidate, thresholds.tolist(), mask=mask, label_names=labels)
    f1 = {name: cand_report["labels"][name]["f1"] for name in labels}
    delta = {name: f1[name] - ref_report["labels"][name]["f1"] for name in labels}
    problems = []
    if agreement < min_agreement:
        problems.append(f"flag decisions agree on {agreement:.2%} of messages (need {min_agreement:.2%})")
    for name, change in delta.items():
        if abs(change) > max_f1_delta:
            problems.append(f"{name} F1 changes by {change:+.4f} (limit {max_f1_delta})")
    return Comparison(
        agreement=agreement,
        f1=f1,
        f1_delta=delta,
        max_score_diff=float(np.abs(candidate - reference).max()) if len(y) else 0.0,
        validated=not problems,
        reason="; ".join(problems),
    )


def measure_speed(predictor: Predictor, texts: Sequence[str], seconds: float, batch_size: int = 64) -> float:
    """Messages per second of ``predict_proba`` over ``texts`` in arrival-order batches (after a warm-up)."""
    texts = list(texts)
    if not texts:
        return 0.0
    predictor.predict_proba(texts[:batch_size], batch_size=batch_size)
    done, started = 0, time.perf_counter()
    while True:
        for start in range(0, len(texts), batch_size):
            predictor.predict_proba(texts[start : start + batch_size], batch_size=batch_size)
            done += len(texts[start : start + batch_size])
            if time.perf_counter() - started >= seconds:
                return done / (time.perf_counter() - started)


def measure_single_p99(predictor: Predictor, texts: Sequence[str], count: int = 200) -> float:
    """p99 milliseconds of scoring one message at a time, over ``count`` messages of varied lengths.

    Each call sees a new length, as a serving path does; a backend that compiles per shape shows it here.
    """
    texts = list(texts)[:count]
    if not texts:
        return 0.0
    predictor.predict_proba(texts[:1], batch_size=1)
    times = []
    for text in texts:
        started = time.perf_counter()
        predictor.predict_proba([text], batch_size=1)
        times.append((time.perf_counter() - started) * 1000.0)
    return float(np.percentile(times, 99))


# -------------------------------------------------------------------------------------------- driver


def _validation_examples(artifact: Artifact, data_dir: Path | None, split: str, max_rows: int | None):
    if data_dir is None:
        if artifact.metadata.data is None:
            raise DataError(
                f"{artifact.directory} does not record its prepared data; pass --data-dir with the folder "
                f"holding {split}.jsonl"
            )
        data_dir = Path(artifact.metadata.data.dir)
    if not (data_dir / f"{split}.jsonl").is_file():
        raise DataError(
            f"cannot validate the export: {data_dir / f'{split}.jsonl'} not found; run `tegur data prepare` "
            "or pass --data-dir"
        )
    examples = read_split(data_dir, split)
    if not examples:
        raise DataError(f"{data_dir / f'{split}.jsonl'} is empty: nothing to validate the export on")
    return data_dir, examples[:max_rows] if max_rows else examples


def export_artifact(
    directory: str | Path,
    *,
    precisions: Sequence[Precision] = (Precision.FP32, Precision.INT8, Precision.BF16),
    data_dir: str | Path | None = None,
    split: str = "validation",
    max_rows: int | None = None,
    num_threads: int | None = None,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    max_f1_delta: float = DEFAULT_MAX_F1_DELTA,
    measure_seconds: float = 3.0,
    cpu: CpuInfo | None = None,
) -> ExportManifest:
    """Export, validate and record the artifact's ONNX (and bf16) variants; see the module docstring.

    Variants that pass are written into the artifact (replacing earlier exports); ``export.json``
    records every candidate, kept or refused.

    Raises:
        ExportRefusedError: a requested precision had no candidate that passed (the passing ones are
            still written); the message gives the numbers.
        DataError: the split to validate on cannot be read.
    """
    from training.inputs import label_arrays

    directory = Path(directory)
    cpu = cpu or cpu_info()
    wanted = [Precision(p) for p in precisions]
    if not wanted or Precision.AUTO in wanted:
        raise ConfigError("precisions must name fp32, int8 and/or bf16")
    artifact = load_artifact(directory)
    data_dir_path, examples = _validation_examples(
        artifact, Path(data_dir) if data_dir is not None else None, split, max_rows
    )
    threads = num_threads or _default_threads()
    texts = [ex.text for ex in examples]
    speed_texts = texts[:1024]
    y, mask = label_arrays(examples)
    labels = artifact.metadata.labels

    def predictor_for(backend: Backend) -> Predictor:
        from inference.calibration import load_calibration
        from inference.predictor import TextEncoder

        encoder = TextEncoder.from_pretrained(artifact.tokenizer, artifact.metadata.max_length)
        return Predictor(
            backend, encoder, artifact.normalizer, artifact.metadata, calibration=load_calibration(directory)
        )

    reference = predictor_for(TorchBackend(artifact.model, precision=Precision.FP32, num_threads=threads))
    thresholds = np.asarray([reference.thresholds[name] for name in labels])
    logger.info("scoring %d %s messages with the PyTorch fp32 reference", len(texts), split)
    ref_probs = reference.predict_proba(texts, progress=True)
    ref_speed = measure_speed(reference, speed_texts, measure_seconds)
    ref_single = measure_single_p99(reference, texts)
    same = compare(y, mask, ref_probs, ref_probs, thresholds, labels)
    reports: list[VariantReport] = []
    kept: dict[str, Path] = {}

    def check(
        precision: Precision, runtime: Runtime, backend: Backend, recipe: dict[str, Any], file: Path | None
    ) -> VariantReport:
        predictor = predictor_for(backend)
        logger.info("scoring the %s split with %s %s", split, runtime.value, precision.value)
        result = compare(
            y,
            mask,
            ref_probs,
            predictor.predict_proba(texts, progress=True),
            thresholds,
            labels,
            min_agreement=min_agreement,
            max_f1_delta=max_f1_delta,
        )
        speed = measure_speed(predictor, speed_texts, measure_seconds) if result.validated else 0.0
        single = measure_single_p99(predictor, texts) if result.validated else 0.0
        report = VariantReport(
            precision=precision,
            runtime=runtime,
            file=ONNX_FILES[precision] if file is not None else None,
            sha256=file_sha256(file) if file is not None else None,
            recipe=recipe,
            agreement=result.agreement,
            f1=result.f1,
            f1_delta=result.f1_delta,
            max_score_diff=result.max_score_diff,
            messages_per_s=round(speed, 1),
            single_p99_ms=round(single, 2),
            validated=result.validated,
            reason=result.reason,
        )
        logger.info(
            "%s %s (%s): agreement %.4f, max |dF1| %.4f, %.0f messages/s, one message p99 %.1f ms: %s",
            runtime.value,
            precision.value,
            recipe.get("name", ""),
            report.agreement,
            max((abs(d) for d in report.f1_delta.values()), default=0.0),
            report.messages_per_s,
            report.single_p99_ms,
            "kept" if report.validated else f"refused ({report.reason})",
        )
        reports.append(report)
        return report

    with tempfile.TemporaryDirectory(prefix=".export-", dir=directory) as tmp_name:
        tmp = Path(tmp_name)
        if Precision.FP32 in wanted or Precision.INT8 in wanted:
            fp32_path = tmp / ONNX_FILES[Precision.FP32]
            logger.info("exporting %s to ONNX", directory)
            export_fp32(artifact.model, fp32_path)
            if Precision.FP32 in wanted:
                backend = OnnxBackend(fp32_path, precision=Precision.FP32, num_threads=threads)
                if check(Precision.FP32, Runtime.ONNXRUNTIME, backend, {"name": "fp32"}, fp32_path).validated:
                    kept[ONNX_FILES[Precision.FP32]] = fp32_path
            if Precision.INT8 in wanted:
                int8_path = tmp / ONNX_FILES[Precision.INT8]
                for recipe in INT8_RECIPES:
                    described = quantize_int8(fp32_path, int8_path, recipe, cpu)
                    backend = OnnxBackend(int8_path, precision=Precision.INT8, num_threads=threads)
                    if check(Precision.INT8, Runtime.ONNXRUNTIME, backend, described, int8_path).validated:
                        kept[ONNX_FILES[Precision.INT8]] = int8_path
                        break
        if Precision.BF16 in wanted:
            _check_bf16(artifact, cpu, threads, ref_speed, check, reports)
        # Keep only what passed: a variant of an earlier export that failed now must not linger.
        for name in ONNX_FILES.values():
            if name in kept:
                shutil.move(str(kept[name]), directory / name)
            else:
                (directory / name).unlink(missing_ok=True)

    manifest = ExportManifest(
        model_version=artifact.metadata.model_version,
        split=split,
        rows=len(examples),
        data_dir=str(data_dir_path),
        min_agreement=min_agreement,
        max_f1_delta=max_f1_delta,
        threads=threads,
        cpu=cpu.describe(),
        reference=VariantReport(
            precision=Precision.FP32,
            runtime=Runtime.TORCH,
            agreement=1.0,
            f1=same.f1,
            f1_delta=same.f1_delta,
            messages_per_s=round(ref_speed, 1),
            single_p99_ms=round(ref_single, 2),
            validated=True,
        ),
        variants=reports,
        versions=_versions(),
    )
    write_json_atomic(directory / EXPORT_FILE, manifest.model_dump(mode="json"))
    write_text_atomic(directory / MODEL_CARD_FILE, render_model_card(artifact.metadata, manifest))
    missing = [p for p in wanted if not any(r.validated and r.precision == p for r in reports)]
    if missing:
        why = "; ".join(
            f"{r.precision.value} ({r.recipe.get('name', r.runtime.value)}): {r.reason}"
            for r in reports
            if not r.validated and r.precision in missing
        )
        raise ExportRefusedError(
            f"refused {', '.join(p.value for p in missing)} for {directory}: {why}. What passed is written "
            f"and recorded in {EXPORT_FILE}; the predictor falls back to what validated"
        )
    return manifest


def _check_bf16(artifact, cpu: CpuInfo, threads: int, ref_speed: float, check, reports) -> None:
    if not cpu.native_bf16:
        reports.append(
            VariantReport(
                precision=Precision.BF16,
                runtime=Runtime.TORCH,
                agreement=0.0,
                validated=False,
                reason="this CPU has no native bf16 (avx512_bf16 / amx_bf16): bf16 would be slower than fp32",
            )
        )
        return
    backend = TorchBackend(artifact.model, precision=Precision.BF16, num_threads=threads)
    report = check(Precision.BF16, Runtime.TORCH, backend, {"name": "bf16 autocast"}, None)
    if report.validated and report.messages_per_s <= ref_speed:
        reports[-1] = report.model_copy(
            update={
                "validated": False,
                "reason": f"{report.messages_per_s:.0f} messages/s is not faster than fp32 ({ref_speed:.0f})",
            }
        )


def _default_threads() -> int:
    from inference.settings import available_cpus

    return available_cpus()


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__}
