"""The predictor: texts in, per-label scores and flagged labels out. Loads only from an artifact folder."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from tqdm.auto import tqdm

from inference.artifact import (
    TOKENIZER_FILE,
    ArtifactMetadata,
    load_artifact,
    load_metadata,
    load_normalizer,
    read_pad_token_id,
)
from inference.backends import (
    Backend,
    OnnxBackend,
    TorchBackend,
    choose_backend,
    load_manifest,
    parse_precision,
    parse_runtime,
)
from inference.calibration import Calibration, load_calibration
from inference.settings import Precision, Runtime
from tegur.errors import ArtifactError, DataError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from data.normalize import Normalizer
    from inference.modeling import TegurForMultiLabel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """Scores of one text and the labels at or above their thresholds."""

    scores: dict[str, float]
    labels: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.labels)


def model_inputs(texts: Sequence[str], normalizer: Normalizer, prefix: str) -> list[str]:
    """What the encoder sees: each text normalised, with the model's prefix. Training uses this too."""
    return [prefix + normalizer(text).text for text in texts]


def tokenize(
    tokenizer: Any, texts: Sequence[str], max_length: int, chunk: int = 2048
) -> dict[str, list[list[int]]]:
    """Token ids and masks as plain lists, truncated to ``max_length``.

    Tokenises in chunks: the fast tokenizer's per-text encoding objects for tens of thousands of texts
    at once cost hundreds of MB that the plain lists do not need.
    """
    out: dict[str, list[list[int]]] = {}
    for start in range(0, len(texts), chunk):
        encoded = tokenizer(list(texts[start : start + chunk]), truncation=True, max_length=max_length)
        for key, values in encoded.items():
            out.setdefault(key, []).extend(values)
    return out


def check_texts(texts: Sequence[object]) -> list[str]:
    """Return ``texts`` as a list of str; raise TypeError naming the first item that is not a str."""
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, got a single str; wrap it in a list")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
    return items


class TextEncoder:
    """The artifact's tokenizer as its Rust ``tokenizers`` pipeline: truncation, no padding, plain lists.

    The same ids as the transformers tokenizer the model was trained with (``tokenize``), without its
    per-call overhead, and loadable without importing transformers.
    """

    def __init__(self, tokenizer: Tokenizer, *, max_length: int, pad_token_id: int) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: truncation is per object
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        self.pad_token_id = pad_token_id

    @classmethod
    def from_pretrained(cls, tokenizer: Any, max_length: int) -> TextEncoder:
        """From a transformers fast tokenizer (what training holds)."""
        return cls(tokenizer.backend_tokenizer, max_length=max_length, pad_token_id=tokenizer.pad_token_id)

    @classmethod
    def from_artifact(cls, directory: str | Path, max_length: int) -> TextEncoder:
        """From the artifact's ``tokenizer.json``."""
        from tokenizers import Tokenizer

        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise ArtifactError(f"{directory} is not a Tegur artifact: missing {TOKENIZER_FILE}")
        tokenizer = Tokenizer.from_file(str(path))
        return cls(tokenizer, max_length=max_length, pad_token_id=read_pad_token_id(directory, tokenizer))

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, with the special tokens, truncated to ``max_length``."""
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]

    def pad(self, rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, mask)`` int64 arrays padded to the longest row."""
        width = max((len(row) for row in rows), default=0)
        ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return ids, mask


class Predictor:
    """A trained Tegur classifier ready to score texts.

    Build it with :meth:`from_artifact`. Every text goes through the artifact's normaliser and text
    prefix, exactly as in training; the logits come from a :class:`~inference.backends.Backend`
    (PyTorch, the reference, or an ONNX Runtime variant that ``tegur export onnx`` validated).
    """

    def __init__(
        self,
        model: TegurForMultiLabel | Backend,
        tokenizer: Any,
        normalizer: Normalizer,
        metadata: ArtifactMetadata,
        *,
        device: str = "cpu",
        precision: Precision | str = Precision.FP32,
        num_threads: int | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        """``model`` is a PyTorch model (run with ``device``, ``precision`` and ``num_threads``) or a
        ready backend; ``tokenizer`` a transformers fast tokenizer or a :class:`TextEncoder`."""
        if hasattr(model, "logits") and hasattr(model, "runtime"):
            self._backend: Backend = model  # type: ignore[assignment]
        else:
            self._backend = TorchBackend(model, device=device, precision=precision, num_threads=num_threads)
        self._encoder = (
            tokenizer
            if isinstance(tokenizer, TextEncoder)
            else TextEncoder.from_pretrained(tokenizer, metadata.max_length)
        )
        self._normalizer = normalizer
        self._metadata = metadata
        # A calibrated artifact scores on the calibrated scale, with its thresholds mapped onto it.
        self._calibration = calibration
        thresholds = calibration.thresholds if calibration is not None else metadata.thresholds
        self._thresholds = np.asarray([thresholds[name] for name in metadata.labels], dtype=np.float64)

    @classmethod
    def from_artifact(
        cls,
        directory: str | Path,
        *,
        device: str = "cpu",
        precision: Precision | str = Precision.AUTO,
        runtime: Runtime | str = Runtime.AUTO,
        num_threads: int | None = None,
    ) -> Predictor:
        """Load a predictor from a folder written by ``tegur train`` (or ``tegur distill``).

        Args:
            directory: The artifact folder.
            device: ``cpu`` or a torch device such as ``cuda`` (ONNX Runtime variants run on the CPU).
            precision: ``auto`` (default): the fastest variant that ``tegur export onnx`` validated for
                this artifact and that this CPU runs well, else PyTorch fp32. ``fp32``: ONNX Runtime's
                fp32 graph when validated, else PyTorch. ``int8``: the validated ONNX int8 variant only.
                ``bf16``: PyTorch autocast (fast only with AVX512-BF16/AMX or on GPUs).
            runtime: ``auto``, ``torch`` (the reference path) or ``onnxruntime``.
            num_threads: Intra-op threads (torch's are process-wide); default leaves the library's.

        Raises:
            ArtifactError: the folder is missing or is not a complete Tegur artifact.
            ConfigError: an unknown or unavailable precision or runtime, or an unknown device.
        """
        directory = Path(directory)
        metadata = load_metadata(directory)
        choice = choose_backend(
            load_manifest(directory, metadata.model_version),
            directory,
            precision=parse_precision(precision),
            runtime=parse_runtime(runtime),
            device=device,
        )
        logger.info("%s: %s %s (%s)", directory, choice.runtime.value, choice.precision.value, choice.why)
        calibration = load_calibration(directory)
        if choice.runtime == Runtime.ONNXRUNTIME:
            assert choice.file is not None  # ONNX choices always name their graph
            backend = OnnxBackend(
                directory / choice.file, precision=choice.precision, num_threads=num_threads
            )
            encoder = TextEncoder.from_artifact(directory, metadata.max_length)
            return cls(backend, encoder, load_normalizer(directory), metadata, calibration=calibration)
        artifact = load_artifact(directory)
        return cls(
            artifact.model,
            artifact.tokenizer,
            artifact.normalizer,
            artifact.metadata,
            device=device,
            precision=choice.precision,
            num_threads=num_threads,
            calibration=calibration,
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """Label names in score-column order."""
        return tuple(self._metadata.labels)

    @property
    def thresholds(self) -> dict[str, float]:
        """The threshold per label (tuned in training; mapped onto the calibrated scale if calibrated)."""
        return dict(zip(self.labels, self._thresholds.tolist(), strict=True))

    @property
    def calibration(self) -> Calibration | None:
        """The artifact's score calibration (``calibration.json``), if ``tegur calibrate`` stored one."""
        return self._calibration

    @property
    def model_name(self) -> str:
        return self._metadata.name

    @property
    def model_version(self) -> str:
        return self._metadata.model_version

    @property
    def normalizer_version(self) -> str:
        return self._metadata.normalizer_version

    @property
    def precision(self) -> Precision:
        """The precision the model runs in (never ``auto``: the resolved one)."""
        return self._backend.precision

    @property
    def runtime(self) -> Runtime:
        """What runs the model: torch or onnxruntime."""
        return self._backend.runtime

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def encoder(self) -> TextEncoder:
        return self._encoder

    @property
    def metadata(self) -> ArtifactMetadata:
        return self._metadata

    def model_inputs(self, texts: Sequence[str]) -> list[str]:
        """What the encoder sees: normalised text with the artifact's prefix."""
        return model_inputs(texts, self._normalizer, self._metadata.text_prefix)

    def predict_proba(
        self, texts: Sequence[str], batch_size: int = 64, *, progress: bool = False
    ) -> np.ndarray:
        """Scores in [0, 1], shape ``(len(texts), len(labels))``, columns in :attr:`labels` order.

        Texts are sorted by token length so that each batch pads little; rows come back in input order.
        ``progress`` shows a progress bar (for long offline runs such as evaluation).
        """
        logits = self.predict_logits(texts, batch_size, progress=progress)
        if self._calibration is not None:
            return self._calibration.apply_logits(logits).astype(np.float32)
        return _sigmoid(logits)

    def predict_logits(
        self, texts: Sequence[str], batch_size: int = 64, *, progress: bool = False
    ) -> np.ndarray:
        """Raw head logits (before sigmoid and calibration), shape ``(len(texts), len(labels))``.

        Texts are sorted by token length so that each batch pads little; rows come back in input order.
        """
        items = check_texts(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.zeros((len(items), len(self.labels)), dtype=np.float32)
        if not items:
            return out
        ids = self._encoder.encode(self.model_inputs(items))
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        bar = tqdm(total=len(items), desc="scoring", unit="msg", disable=not progress, dynamic_ncols=True)
        with bar:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                out[chunk] = self._backend.logits(*self._encoder.pad([ids[i] for i in chunk]))
                bar.update(len(chunk))
        return out

    def resolve_thresholds(self, overrides: Mapping[str, float] | None) -> np.ndarray:
        """The artifact's thresholds with ``overrides`` (label name -> value in [0, 1]) applied."""
        resolved = self._thresholds.copy()
        for name, value in (overrides or {}).items():
            if name not in self._metadata.labels:
                raise DataError(
                    f"unknown label {name!r} in thresholds; expected one of {', '.join(self.labels)}"
                )
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise DataError(f"threshold for {name!r} must be a number in [0, 1], got {value!r}")
            resolved[self._metadata.labels.index(name)] = float(value)
        return resolved

    @overload
    def predict(self, texts: str, *, thresholds: Mapping[str, float] | None = None) -> Prediction: ...
    @overload
    def predict(
        self, texts: Sequence[str], *, thresholds: Mapping[str, float] | None = None
    ) -> list[Prediction]: ...
    def predict(
        self, texts: str | Sequence[str], *, thresholds: Mapping[str, float] | None = None
    ) -> Prediction | list[Prediction]:
        """Score one text or a list, answering in kind.

        Args:
            texts: A str, or a list of str.
            thresholds: Per-label overrides of the artifact's thresholds.

        Raises:
            TypeError: an item is not a str (the message names its index).
            DataError: an override names an unknown label or is outside [0, 1].
        """
        single = isinstance(texts, str)
        items = [texts] if single else check_texts(texts)
        cut = self.resolve_thresholds(thresholds)
        probs = self.predict_proba(items)
        predictions = [
            Prediction(
                scores={name: float(p) for name, p in zip(self.labels, row, strict=True)},
                labels=[name for name, p, t in zip(self.labels, row, cut, strict=True) if p >= t],
            )
            for row in probs
        ]
        return predictions[0] if single else predictions


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    # Computed in float64: float32 exp overflows for logits below about -88.
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
