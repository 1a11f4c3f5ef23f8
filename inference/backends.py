"""What turns token ids into logits: PyTorch (the reference path) or ONNX Runtime (an exported variant).

``tegur export onnx`` writes ``model.onnx`` / ``model.int8.onnx`` into the artifact and, in
``export.json``, which variants agreed with the PyTorch fp32 reference on the validation split and how
fast each ran. :func:`choose_backend` reads that record to pick what the predictor runs: by default the
fastest validated variant this CPU can run (bf16 only with native bf16), else PyTorch fp32.

Neither torch nor transformers is imported here at module level: an artifact served through ONNX
Runtime loads in well under a second without them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inference.hardware import CpuInfo, cpu_info
from inference.settings import Precision, Runtime
from tegur.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    from inference.modeling import TegurForMultiLabel

logger = logging.getLogger(__name__)

EXPORT_FILE = "export.json"
EXPORT_FORMAT_VERSION = 1
#: The file of each ONNX variant inside the artifact.
ONNX_FILES: dict[Precision, str] = {Precision.FP32: "model.onnx", Precision.INT8: "model.int8.onnx"}
#: Input and output names of the exported graph.
ONNX_INPUTS = ("input_ids", "attention_mask")
ONNX_OUTPUT = "logits"


class Backend(Protocol):
    """Logits for a padded batch: ``(batch, seq)`` int64 ids and 0/1 mask -> ``(batch, labels)`` float32."""

    @property
    def runtime(self) -> Runtime: ...

    @property
    def precision(self) -> Precision: ...

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """The PyTorch model, in fp32 (the reference) or under bf16 autocast."""

    def __init__(
        self,
        model: TegurForMultiLabel,
        *,
        device: str = "cpu",
        precision: Precision | str = Precision.FP32,
        num_threads: int | None = None,
    ) -> None:
        import torch

        precision = parse_precision(precision)
        if precision == Precision.AUTO:
            precision = Precision.FP32
        if precision == Precision.INT8:
            raise ConfigError(INT8_NEEDS_EXPORT)
        if num_threads is not None:
            check_threads(num_threads)
            torch.set_num_threads(num_threads)
        try:
            self._device = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None
        self._model = model.eval().to(self._device)
        self._precision = precision
        self._torch = torch

    @property
    def runtime(self) -> Runtime:
        return Runtime.TORCH

    @property
    def precision(self) -> Precision:
        return self._precision

    @property
    def model(self) -> TegurForMultiLabel:
        return self._model

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        autocast = torch.autocast(
            self._device.type, dtype=torch.bfloat16, enabled=self._precision == Precision.BF16
        )
        with torch.inference_mode(), autocast:
            out = self._model(
                input_ids=torch.from_numpy(input_ids).to(self._device),
                attention_mask=torch.from_numpy(attention_mask).to(self._device),
            ).logits
        return out.float().cpu().numpy()


class OnnxBackend:
    """An exported graph run by ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path, *, precision: Precision, num_threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"{path} not found; export it with `tegur export onnx --model {path.parent}`")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if num_threads is not None:
            check_threads(num_threads)
            options.intra_op_num_threads = num_threads
        # Idle intra-op threads would otherwise spin between calls, taking the cores the event loop
        # and the tokenizer need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a damaged file
            raise ArtifactError(
                f"{path}: ONNX Runtime cannot load it ({exc}); re-run `tegur export onnx`"
            ) from None
        self._precision = precision
        self.path = path

    @property
    def runtime(self) -> Runtime:
        return Runtime.ONNXRUNTIME

    @property
    def precision(self) -> Precision:
        return self._precision

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {ONNX_INPUTS[0]: input_ids, ONNX_INPUTS[1]: attention_mask}
        return np.asarray(self._session.run([ONNX_OUTPUT], feed)[0], dtype=np.float32)


INT8_NEEDS_EXPORT = (
    "precision int8 runs only as an ONNX variant validated against the fp32 reference; run "
    "`tegur export onnx --model DIR` (it quantises, checks flag agreement and F1 on the validation split, "
    "and keeps the variant only if it passes), or use fp32"
)


def parse_precision(value: Precision | str) -> Precision:
    try:
        return Precision(value)
    except ValueError:
        allowed = ", ".join(p.value for p in Precision)
        raise ConfigError(f"unknown precision {value!r}; expected one of {allowed}") from None


def parse_runtime(value: Runtime | str) -> Runtime:
    try:
        return Runtime(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Runtime)
        raise ConfigError(f"unknown runtime {value!r}; expected one of {allowed}") from None


def check_threads(num_threads: int) -> None:
    if num_threads < 1:
        raise ConfigError(f"num_threads must be at least 1, got {num_threads}")


# ------------------------------------------------------------------------------------- export record


class VariantReport(BaseModel):
    """One candidate's check against the PyTorch fp32 reference on the validation split."""

    model_config = ConfigDict(extra="forbid")

    precision: Precision
    runtime: Runtime
    file: str | None = Field(None, description="File in the artifact (None: runs from the weights).")
    sha256: str | None = None
    recipe: dict[str, Any] = Field(default_factory=dict, description="How it was made (quantisation).")
    agreement: float = Field(description="Messages whose flag decisions equal the reference's.")
    f1: dict[str, float] = Field(default_factory=dict, description="Per-label F1 of this variant.")
    f1_delta: dict[str, float] = Field(default_factory=dict, description="Per-label F1 minus reference's.")
    max_score_diff: float = Field(0.0, description="Largest |score - reference score| over all cells.")
    messages_per_s: float = Field(0.0, description="Measured at export time (batches of 64).")
    single_p99_ms: float = Field(
        0.0, description="p99 milliseconds to score one message alone, measured at export (0: not measured)."
    )
    validated: bool
    reason: str = Field("", description="Why it was refused ('' when validated).")


class ExportManifest(BaseModel):
    """Contents of ``export.json``."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = EXPORT_FORMAT_VERSION
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    model_version: str = Field(description="The weights exported; another version makes this stale.")
    split: str
    rows: int
    data_dir: str
    min_agreement: float
    max_f1_delta: float
    threads: int
    cpu: dict[str, Any]
    reference: VariantReport
    variants: list[VariantReport]
    versions: dict[str, str] = Field(default_factory=dict)

    def usable(self, directory: Path, cpu: CpuInfo) -> list[VariantReport]:
        """Validated variants whose file is present and that this CPU runs well (bf16: native only)."""
        out = []
        for variant in self.variants:
            if not variant.validated:
                continue
            if variant.file is not None and not (directory / variant.file).is_file():
                continue
            if variant.precision == Precision.BF16 and not cpu.native_bf16:
                continue
            out.append(variant)
        return out


def load_manifest(directory: str | Path, model_version: str) -> ExportManifest | None:
    """``export.json`` of the artifact, or None when absent or written for other weights (stale)."""
    path = Path(directory) / EXPORT_FILE
    if not path.is_file():
        return None
    try:
        manifest = ExportManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "file"
        raise ArtifactError(
            f"{path} is invalid ({where}: {first['msg']}); re-run `tegur export onnx --model {directory}`"
        ) from None
    if manifest.model_version != model_version:
        logger.warning(
            "%s was written for model %s, not %s: ignoring it (re-run `tegur export onnx`)",
            path,
            manifest.model_version,
            model_version,
        )
        return None
    return manifest


@dataclass(frozen=True)
class BackendChoice:
    """What to run: the runtime, the precision and (for ONNX Runtime) the graph file."""

    runtime: Runtime
    precision: Precision
    file: str | None
    why: str


def choose_backend(
    manifest: ExportManifest | None,
    directory: Path,
    *,
    precision: Precision,
    runtime: Runtime,
    device: str = "cpu",
    cpu: CpuInfo | None = None,
) -> BackendChoice:
    """Pick the backend for ``precision`` and ``runtime`` (either may be ``auto``).

    auto precision: the fastest of the validated variants this CPU runs well and the reference.
    fp32: ONNX Runtime's fp32 graph when validated (unless runtime is torch), else PyTorch fp32.
    int8: only a validated ONNX variant. bf16: PyTorch autocast (auto picks it only when validated
    on a CPU with native bf16).

    Raises:
        ConfigError: the combination cannot run (int8 or onnxruntime without a validated variant).
    """
    cpu = cpu or cpu_info()
    usable = manifest.usable(directory, cpu) if manifest is not None else []
    if device != "cpu":  # ONNX Runtime runs here on the CPU only
        if runtime == Runtime.ONNXRUNTIME:
            raise ConfigError(f"runtime onnxruntime runs on the CPU only, not on {device!r}")
        usable = [v for v in usable if v.runtime == Runtime.TORCH]
    if runtime == Runtime.TORCH:
        if precision == Precision.INT8:
            raise ConfigError("precision int8 runs on onnxruntime only; use --runtime auto or onnxruntime")
        usable = [v for v in usable if v.runtime == Runtime.TORCH]
    elif runtime == Runtime.ONNXRUNTIME:
        usable = [v for v in usable if v.runtime == Runtime.ONNXRUNTIME]

    if precision == Precision.AUTO:
        if runtime == Runtime.ONNXRUNTIME and not usable:
            raise ConfigError(_no_variant(directory, "ONNX variant"))
        reference_speed = manifest.reference.messages_per_s if manifest is not None else 0.0
        if manifest is not None:
            usable = [v for v in usable if not _slower_alone(v, manifest.reference)]
        best = max(usable, key=lambda v: v.messages_per_s, default=None)
        if best is not None and (runtime == Runtime.ONNXRUNTIME or best.messages_per_s > reference_speed):
            return BackendChoice(
                best.runtime, best.precision, best.file, f"fastest validated ({best.recipe})"
            )
        return BackendChoice(Runtime.TORCH, Precision.FP32, None, "reference (no faster validated variant)")

    match = next((v for v in usable if v.precision == precision), None)
    if match is not None and (runtime != Runtime.AUTO or match.runtime == Runtime.ONNXRUNTIME):
        return BackendChoice(match.runtime, match.precision, match.file, "validated variant")
    if runtime == Runtime.ONNXRUNTIME or precision == Precision.INT8:
        if precision == Precision.INT8 and manifest is None:
            raise ConfigError(INT8_NEEDS_EXPORT)
        raise ConfigError(_no_variant(directory, f"validated {precision.value} ONNX variant"))
    return BackendChoice(Runtime.TORCH, precision, None, "PyTorch")


def _slower_alone(variant: VariantReport, reference: VariantReport) -> bool:
    """Whether one message alone takes longer than on the reference (a serving path must not).

    bf16 autocast can win in batches and still lose on single messages of new lengths, where oneDNN
    builds a kernel per shape; a LIVE line usually arrives alone.
    """
    measured = variant.single_p99_ms > 0 and reference.single_p99_ms > 0
    return measured and variant.single_p99_ms > reference.single_p99_ms


def _no_variant(directory: Path, what: str) -> str:
    return (
        f"{directory} has no {what} that this CPU can run; run `tegur export onnx --model {directory}` "
        "(see its report for why a variant was refused), or use --runtime torch"
    )
