"""Score calibration: per-label maps that make a score of 0.9 mean "about 90% of such messages are positive".

A :class:`Calibration` lives in the artifact as ``calibration.json`` (written by ``tegur calibrate``, only
when it lowers the validation calibration error) and the predictor applies it after the sigmoid. Three
methods:

* **temperature**: one parameter per label, ``p' = sigmoid(logit(p) / T)``, fitted by
  minimising the validation negative log-likelihood. Strictly monotonic, so the artifact's thresholds map
  exactly (``t' = sigmoid(logit(t) / T)``) and every flag decision stays what it was. It sharpens or
  softens scores around 0.5 but cannot move them: it does not undo the upward shift that class weighting
  (``pos_weight``) gives a rare label's scores.
* **platt** (default): temperature plus a bias per label, ``p' = sigmoid(logit(p) / T + b)`` (Platt
  scaling with a positive slope). Still strictly monotonic with exactly mapped thresholds, and it corrects
  that shift.
* **isotonic**: a non-decreasing step-linear map per label (scikit-learn's ``IsotonicRegression``, stored
  as its breakpoints and applied with ``np.interp``). More flexible, needs more validation data, and has
  flat stretches, so thresholds must be re-tuned on calibrated scores rather than mapped.

Applying a calibration is plain numpy; fitting uses scipy (temperature) or scikit-learn (isotonic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tegur.errors import ArtifactError
from tegur.io import write_json_atomic

CALIBRATION_FILE = "calibration.json"
FORMAT_VERSION = 1

#: Scores are clipped to [EPS, 1 - EPS] before taking the logit: float32 sigmoid outputs reach exactly 1.0.
EPS = 1e-7
#: Search range of the temperature (log-uniform); beyond it the model is broken, not miscalibrated.
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 20.0
MAX_BIAS = 20.0


class CalibrationMethod(StrEnum):
    """How scores are recalibrated."""

    TEMPERATURE = "temperature"
    PLATT = "platt"
    ISOTONIC = "isotonic"


def logit(probs: np.ndarray) -> np.ndarray:
    """Log-odds of scores clipped to [EPS, 1 - EPS], in float64."""
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(np.asarray(logits, dtype=np.float64))


class IsotonicMap(BaseModel):
    """Breakpoints of a non-decreasing map from raw score to calibrated score (linear in between)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: list[float] = Field(min_length=1, description="Raw scores, non-decreasing.")
    y: list[float] = Field(min_length=1, description="Calibrated scores in [0, 1], non-decreasing.")

    @model_validator(mode="after")
    def _monotonic(self) -> IsotonicMap:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} points but y has {len(self.y)}")
        if np.any(np.diff(self.x) < 0) or np.any(np.diff(self.y) < 0):
            raise ValueError("isotonic breakpoints must be non-decreasing")
        if min(self.y) < 0.0 or max(self.y) > 1.0:
            raise ValueError("isotonic outputs must lie in [0, 1]")
        return self

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(probs, dtype=np.float64), self.x, self.y)


class Calibration(BaseModel):
    """A fitted per-label calibration, as stored in ``<artifact>/calibration.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int = Field(FORMAT_VERSION, description="Layout version of calibration.json.")
    method: CalibrationMethod
    labels: list[str] = Field(min_length=1, description="Score-column order (the artifact's labels).")
    temperatures: dict[str, float] | None = Field(
        None, description="Temperature per label (temperature, platt); 1.0 leaves a label unchanged."
    )
    biases: dict[str, float] | None = Field(
        None, description="Logit bias per label (platt); 0.0 leaves a label unchanged."
    )
    isotonic: dict[str, IsotonicMap] | None = Field(None, description="Map per label (method isotonic).")
    thresholds: dict[str, float] = Field(description="Decision thresholds on the calibrated scale.")
    uncalibrated_thresholds: dict[str, float] = Field(
        description="The artifact's thresholds (raw scale) these were derived from."
    )
    model_version: str = Field(description="model_version of the weights the calibration was fitted on.")
    fitted_on: dict[str, Any] = Field(
        default_factory=dict, description="Provenance: data folder, split, annotated rows per label."
    )
    ece_before: dict[str, float | None] = Field(
        default_factory=dict, description="Expected calibration error per label (and 'pooled') before."
    )
    ece_after: dict[str, float | None] = Field(
        default_factory=dict, description="The same after calibration (held-out estimate when recorded so)."
    )
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for label, t in (value or {}).items():
            if not (np.isfinite(t) and t > 0):
                raise ValueError(f"temperature of {label!r} must be a positive number, got {t}")
        return value

    @field_validator("biases")
    @classmethod
    def _finite(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for label, b in (value or {}).items():
            if not np.isfinite(b):
                raise ValueError(f"bias of {label!r} must be a finite number, got {b}")
        return value

    @model_validator(mode="after")
    def _covers_labels(self) -> Calibration:
        required: dict[str, Mapping[str, object] | None] = {"thresholds": self.thresholds}
        if self.method == CalibrationMethod.ISOTONIC:
            required["isotonic"] = self.isotonic
        else:
            required["temperatures"] = self.temperatures
        if self.method == CalibrationMethod.PLATT:
            required["biases"] = self.biases
        for name, mapping in required.items():
            if mapping is None or sorted(mapping) != sorted(self.labels):
                got = None if mapping is None else sorted(mapping)
                raise ValueError(f"{name} must give one value per label {self.labels}, got {got}")
        for label, t in self.thresholds.items():
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"threshold of {label!r} is {t}, outside [0, 1]")
        return self

    def _check_width(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape[1] != len(self.labels):
            raise ValueError(f"expected scores of shape (N, {len(self.labels)}), got {scores.shape}")
        return scores

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Calibrate scores in [0, 1], shape ``(N, L)`` in :attr:`labels` order; returns the input's dtype."""
        probs = self._check_width(probs)
        dtype = probs.dtype if np.issubdtype(probs.dtype, np.floating) else np.float64
        if self.method != CalibrationMethod.ISOTONIC:
            return self.apply_logits(logit(probs)).astype(dtype, copy=False)
        assert self.isotonic is not None  # guaranteed by the validator
        out = np.empty(probs.shape, dtype=np.float64)
        for j, label in enumerate(self.labels):
            out[:, j] = self.isotonic[label](probs[:, j])
        return out.astype(dtype, copy=False)

    def apply_logits(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated scores from the head's raw logits (exact: no clipping for temperature and platt)."""
        logits = self._check_width(logits)
        dtype = logits.dtype if np.issubdtype(logits.dtype, np.floating) else np.float64
        if self.method == CalibrationMethod.ISOTONIC:
            return self.apply(_sigmoid(logits)).astype(dtype, copy=False)
        assert self.temperatures is not None  # guaranteed by the validator
        temps = np.asarray([self.temperatures[label] for label in self.labels], dtype=np.float64)
        biases = np.asarray([(self.biases or {}).get(label, 0.0) for label in self.labels], dtype=np.float64)
        scaled = np.asarray(logits, dtype=np.float64) / temps[None, :] + biases[None, :]
        return _sigmoid(scaled).astype(dtype, copy=False)

    def thresholds_array(self) -> np.ndarray:
        """Calibrated thresholds in :attr:`labels` order."""
        return np.asarray([self.thresholds[label] for label in self.labels], dtype=np.float64)


def fit_temperature(probs: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature ``T`` minimising the negative log-likelihood of ``sigmoid(logit(p) / T)``.

    ``probs`` and ``y_true`` are 1-D (one label's annotated rows). Returns 1.0 when the rows hold only
    one class: the likelihood then rewards ever more extreme scores and says nothing about calibration.
    """
    from scipy.optimize import minimize_scalar

    z = logit(np.asarray(probs).ravel())
    y = np.asarray(y_true, dtype=np.float64).ravel()
    if z.shape != y.shape:
        raise ValueError(f"probs {z.shape} and y_true {y.shape} differ in length")
    if y.size == 0 or y.min() == y.max():
        return 1.0

    def nll(log_t: float) -> float:
        scaled = z / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, scaled) - y * scaled))

    result = minimize_scalar(
        nll,
        bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def fit_platt(probs: np.ndarray, y_true: np.ndarray) -> tuple[float, float]:
    """Temperature ``T`` and bias ``b`` minimising the negative log-likelihood of ``sigmoid(logit(p)/T + b)``.

    ``(1.0, 0.0)`` when the rows hold only one class.
    """
    from scipy.optimize import minimize

    z = logit(np.asarray(probs).ravel())
    y = np.asarray(y_true, dtype=np.float64).ravel()
    if z.shape != y.shape:
        raise ValueError(f"probs {z.shape} and y_true {y.shape} differ in length")
    if y.size == 0 or y.min() == y.max():
        return 1.0, 0.0

    def nll_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        log_t, bias = params
        scaled = z / np.exp(log_t) + bias
        residual = _sigmoid(scaled) - y  # d nll / d scaled, per row
        grad_log_t = float(np.mean(residual * -(scaled - bias)))
        loss = float(np.mean(np.logaddexp(0.0, scaled) - y * scaled))
        return loss, np.array([grad_log_t, float(np.mean(residual))])

    start = np.array([0.0, 0.0])
    bounds = [(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)), (-MAX_BIAS, MAX_BIAS)]
    result = minimize(nll_and_grad, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(result.x[0])), float(result.x[1])


def fit_isotonic(probs: np.ndarray, y_true: np.ndarray) -> IsotonicMap:
    """A non-decreasing map from raw score to the observed positive rate; identity for one-class rows."""
    from sklearn.isotonic import IsotonicRegression

    p = np.asarray(probs, dtype=np.float64).ravel()
    y = np.asarray(y_true, dtype=np.float64).ravel()
    if p.shape != y.shape:
        raise ValueError(f"probs {p.shape} and y_true {y.shape} differ in length")
    if y.size == 0 or y.min() == y.max():
        return IsotonicMap(x=[0.0, 1.0], y=[0.0, 1.0])
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(p, y)
    return IsotonicMap(
        x=[float(v) for v in model.X_thresholds_], y=[float(v) for v in np.clip(model.y_thresholds_, 0, 1)]
    )


def map_thresholds_through_temperature(
    thresholds: Mapping[str, float],
    temperatures: Mapping[str, float],
    biases: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Thresholds on the calibrated scale that flag exactly the messages the raw thresholds flagged."""
    mapped: dict[str, float] = {}
    for label, t in thresholds.items():
        if t <= 0.0 or t >= 1.0:
            mapped[label] = float(t)  # 0 flags everything and 1 almost nothing, on either scale
            continue
        bias = (biases or {}).get(label, 0.0)
        mapped[label] = float(_sigmoid(logit(np.asarray([t]))[0] / temperatures[label] + bias))
    return mapped


def fit_calibration(
    probs: np.ndarray,
    y_true: np.ndarray,
    *,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
    model_version: str,
    method: CalibrationMethod = CalibrationMethod.PLATT,
    mask: np.ndarray | None = None,
    fitted_on: Mapping[str, Any] | None = None,
) -> Calibration:
    """Fit one map per label on the rows that annotate it.

    For temperature and Platt scaling the thresholds are mapped exactly; for isotonic scaling they are
    mapped through the fitted map as a starting point, and the caller should re-tune them on calibrated
    scores (``training.evaluate.validated_calibration`` does).
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true).astype(bool)
    if probs.ndim != 2 or probs.shape != y_true.shape or probs.shape[1] != len(labels):
        raise ValueError(f"probs {probs.shape} and y_true {y_true.shape} must be (N, {len(labels)})")
    mask = np.ones(probs.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    labels = list(labels)
    temperatures: dict[str, float] | None = None
    biases: dict[str, float] | None = None
    isotonic: dict[str, IsotonicMap] | None = None
    if method == CalibrationMethod.TEMPERATURE:
        temperatures = {
            label: fit_temperature(probs[mask[:, j], j], y_true[mask[:, j], j])
            for j, label in enumerate(labels)
        }
        calibrated_thresholds = map_thresholds_through_temperature(thresholds, temperatures)
    elif method == CalibrationMethod.PLATT:
        fitted = {
            label: fit_platt(probs[mask[:, j], j], y_true[mask[:, j], j]) for j, label in enumerate(labels)
        }
        temperatures = {label: t for label, (t, _) in fitted.items()}
        biases = {label: b for label, (_, b) in fitted.items()}
        calibrated_thresholds = map_thresholds_through_temperature(thresholds, temperatures, biases)
    else:
        isotonic = {
            label: fit_isotonic(probs[mask[:, j], j], y_true[mask[:, j], j]) for j, label in enumerate(labels)
        }
        calibrated_thresholds = {
            label: float(isotonic[label](np.asarray([thresholds[label]]))[0]) for label in labels
        }
    return Calibration(
        method=method,
        labels=labels,
        temperatures=temperatures,
        biases=biases,
        isotonic=isotonic,
        thresholds=calibrated_thresholds,
        uncalibrated_thresholds={label: float(thresholds[label]) for label in labels},
        model_version=model_version,
        fitted_on=dict(fitted_on or {}),
    )


def save_calibration(directory: str | Path, calibration: Calibration) -> Path:
    """Write ``<directory>/calibration.json`` atomically; return its path."""
    path = Path(directory) / CALIBRATION_FILE
    write_json_atomic(path, calibration.model_dump(mode="json"))
    return path


def load_calibration(directory: str | Path) -> Calibration | None:
    """The artifact's calibration, or ``None`` when it has none.

    Raises:
        ArtifactError: ``calibration.json`` is invalid, or was fitted on other weights or labels than the
            artifact's (it would silently distort every score).
    """
    from inference.artifact import load_metadata

    directory = Path(directory)
    path = directory / CALIBRATION_FILE
    if not path.is_file():
        return None
    fix = f"run `tegur calibrate --model {directory}` again or delete {path}"
    try:
        calibration = Calibration.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or CALIBRATION_FILE}: {e['msg']}" for e in exc.errors()
        )
        raise ArtifactError(f"{path} is invalid ({problems}); {fix}") from None
    metadata = load_metadata(directory)
    if calibration.labels != list(metadata.labels):
        raise ArtifactError(
            f"{path}: labels {calibration.labels} differ from the model's {list(metadata.labels)}; {fix}"
        )
    if calibration.model_version != metadata.model_version:
        raise ArtifactError(
            f"{path} was fitted on model version {calibration.model_version!r} but the weights are "
            f"{metadata.model_version!r}; {fix}"
        )
    return calibration
