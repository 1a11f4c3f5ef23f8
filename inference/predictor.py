"""The predictor: texts in, per-label scores and flagged labels out. Loads only from an artifact folder."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import torch
from tqdm.auto import tqdm

from inference.artifact import Artifact, ArtifactMetadata, load_artifact
from inference.calibration import Calibration, load_calibration
from inference.settings import Precision
from tegur.errors import ConfigError, DataError

if TYPE_CHECKING:
    from data.normalize import Normalizer
    from inference.modeling import TegurForMultiLabel

logger = logging.getLogger(__name__)

#: Measured on multilingual-e5-small fine-tuned by `tegur train` (validation split, 600 messages):
#: torch's dynamic int8 quantisation of the linear layers was 1.4x faster but changed 13% of the
#: flag decisions and dropped macro-F1 from 0.75 to 0.60; per-channel or partial quantisation kept
#: F1 within about 1 point but was no faster than fp32. Not worth a silently worse moderator.
INT8_UNSUPPORTED = (
    "precision int8 is not supported: dynamic int8 quantisation of the encoder changed 13% of flag "
    "decisions and cost 15 macro-F1 points on validation (the variants that keep F1 are not faster); "
    "use fp32, or bf16 on CPUs with AMX/AVX512-BF16 and on GPUs"
)


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


class Predictor:
    """A trained Tegur classifier ready to score texts.

    Build it with :meth:`from_artifact`. Every text goes through the artifact's normaliser and text
    prefix, exactly as in training.
    """

    def __init__(
        self,
        model: TegurForMultiLabel,
        tokenizer: Any,
        normalizer: Normalizer,
        metadata: ArtifactMetadata,
        *,
        device: str = "cpu",
        precision: Precision | str = Precision.FP32,
        num_threads: int | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        try:
            precision = Precision(precision)
        except ValueError:
            allowed = ", ".join(p.value for p in Precision)
            raise ConfigError(f"unknown precision {precision!r}; expected one of {allowed}") from None
        if num_threads is not None:
            if num_threads < 1:
                raise ConfigError(f"num_threads must be at least 1, got {num_threads}")
            torch.set_num_threads(num_threads)
        try:
            self._device = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None
        if precision == Precision.INT8:
            raise ConfigError(INT8_UNSUPPORTED)
        model = model.eval().to(self._device)
        self._model = model
        self._tokenizer = tokenizer
        self._normalizer = normalizer
        self._metadata = metadata
        self._precision = precision
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
        precision: Precision | str = Precision.FP32,
        num_threads: int | None = None,
    ) -> Predictor:
        """Load a predictor from a folder written by ``tegur train``.

        Args:
            directory: The artifact folder.
            device: ``cpu`` or a torch device such as ``cuda``.
            precision: ``fp32``, or ``bf16`` (autocast: scores within 0.005 of fp32; fast on CPUs
                with AMX/AVX512-BF16 and on GPUs, about 6x slower on AVX2-only CPUs). ``int8`` is
                refused (see :data:`INT8_UNSUPPORTED`).
            num_threads: torch intra-op threads (process-wide); default leaves torch's setting.

        Raises:
            ArtifactError: the folder is missing or is not a complete Tegur artifact.
            ConfigError: an unknown or unsupported precision, or an unknown device.
        """
        artifact: Artifact = load_artifact(directory)
        return cls(
            artifact.model,
            artifact.tokenizer,
            artifact.normalizer,
            artifact.metadata,
            device=device,
            precision=precision,
            num_threads=num_threads,
            calibration=load_calibration(directory),
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
        return self._precision

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
        items = check_texts(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.zeros((len(items), len(self.labels)), dtype=np.float32)
        if not items:
            return out
        encoded = tokenize(self._tokenizer, self.model_inputs(items), self._metadata.max_length)
        ids = encoded["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        autocast = torch.autocast(
            self._device.type, dtype=torch.bfloat16, enabled=self._precision == Precision.BF16
        )
        bar = tqdm(total=len(items), desc="scoring", unit="msg", disable=not progress, dynamic_ncols=True)
        with torch.inference_mode(), autocast, bar:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                features = [{key: encoded[key][i] for key in encoded} for i in chunk]
                batch = self._tokenizer.pad(features, return_tensors="pt")
                batch = {k: v.to(self._device) for k, v in batch.items() if k in _MODEL_INPUTS}
                logits = self._model(**batch).logits.float()
                if self._calibration is None:
                    out[chunk] = torch.sigmoid(logits).cpu().numpy()
                else:
                    out[chunk] = self._calibration.apply_logits(logits.cpu().numpy())
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


_MODEL_INPUTS = {"input_ids", "attention_mask", "token_type_ids"}
