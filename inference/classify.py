"""From label probabilities to a moderation decision: flagged labels and a recommended action.

Plain functions, no web framework: the API, the benchmark and batch scripts share them.

The decision for one message, given its probability per label:

* a label is **flagged** when its probability is at or above its threshold: the artifact's tuned
  threshold, or a per-request override that lies within the configured bounds;
* the action is ``remove`` when a flagged label's probability is at or above the **remove band**;
* otherwise ``review`` when any label is flagged, or when any probability is at or above the **review
  band** (a near miss: a human looks at it, nothing is removed);
* otherwise ``allow``;
* and above all of these, ``escalate`` when the text reveals or targets a child (``data.minors``) and
  either a solicitation or redirection is flagged or the signal itself is grooming (secrecy from
  parents, a child address with a grooming cue): a human on the critical path decides, nothing is
  enforced automatically.

So ``remove`` needs both the label's own threshold and the remove band; raising a threshold above the
remove band turns would-be removals into reviews rather than silently allowing them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from data.minors import MinorSignal, escalates
from data.taxonomy import LABEL_NAMES, LABELS, Label
from tegur.errors import ArtifactError, ConfigError, DataError

NO_MINOR_SIGNAL = MinorSignal(flag=False, grooming_cue=False)


class Action(StrEnum):
    """What the platform should do with a message."""

    ALLOW = "allow"
    REVIEW = "review"
    REMOVE = "remove"
    ESCALATE = "escalate"  # a child may be at risk: urgent human review, never automated enforcement


class ScoreModel(Protocol):
    """What the service needs from a model (``inference.predictor.Predictor`` implements it)."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def thresholds(self) -> Mapping[str, float]: ...

    @property
    def model_name(self) -> str: ...

    @property
    def model_version(self) -> str: ...

    @property
    def normalizer_version(self) -> str: ...

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities, shape ``(len(texts), len(labels))``, columns in ``labels`` order."""
        ...


class ThresholdError(DataError):
    """A requested threshold is outside the configured bounds."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ThresholdBounds:
    """The lowest and highest threshold a request may ask for."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0.0 < self.low <= self.high < 1.0:
            raise ConfigError(
                f"threshold bounds must satisfy 0 < low <= high < 1, got [{self.low}, {self.high}]"
            )

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


@dataclass(frozen=True)
class ActionBands:
    """Score bands that turn flagged labels into an action (see the module docstring)."""

    review: float
    remove: float

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.remove <= 1.0:
            raise ConfigError(
                f"score bands must satisfy 0 < review <= remove <= 1, got review={self.review}, "
                f"remove={self.remove}"
            )


@dataclass(frozen=True)
class Decision:
    """The outcome for one message."""

    scores: dict[Label, float]
    labels: list[Label]
    action: Action
    max_score: float
    minor: MinorSignal = NO_MINOR_SIGNAL


def model_thresholds(model: ScoreModel) -> dict[Label, float]:
    """The model's tuned threshold per label, after checking it scores the taxonomy's labels in order.

    Raises:
        ArtifactError: the model's labels or thresholds do not match :data:`data.taxonomy.LABELS`.
    """
    labels = tuple(model.labels)
    if labels != LABEL_NAMES:
        raise ArtifactError(
            f"model {model.model_name!r} scores labels {list(labels)}, but this service expects "
            f"{list(LABEL_NAMES)} in that order; retrain or re-export the artifact"
        )
    thresholds: dict[Label, float] = {}
    for label in LABELS:
        value = model.thresholds.get(label.value)
        if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ArtifactError(
                f"model {model.model_name!r} has no usable threshold for {label.value!r} (got {value!r}); "
                "the artifact's thresholds must be numbers in [0, 1]"
            )
        thresholds[label] = float(value)
    return thresholds


def resolve_thresholds(
    base: Mapping[Label, float],
    overrides: Mapping[Label, float] | None,
    bounds: ThresholdBounds,
) -> dict[Label, float]:
    """The thresholds for one request: ``base`` with ``overrides`` applied.

    Raises:
        ThresholdError: an override is outside ``bounds``; its ``field`` is ``thresholds.<label>``.
    """
    resolved = {label: base[label] for label in LABELS}
    for label, value in (overrides or {}).items():
        if value not in bounds or not math.isfinite(value):
            raise ThresholdError(
                f"threshold for {label.value!r} must be between {bounds.low} and {bounds.high}, "
                f"got {value!r}",
                field=f"thresholds.{label.value}",
            )
        resolved[Label(label)] = float(value)
    return resolved


def decide(
    scores: Sequence[float],
    thresholds: Mapping[Label, float],
    bands: ActionBands,
    minor: MinorSignal = NO_MINOR_SIGNAL,
) -> Decision:
    """Flagged labels and action for one message; ``scores`` are in :data:`LABELS` order."""
    if len(scores) != len(LABELS):
        raise ValueError(f"expected {len(LABELS)} scores (one per label), got {len(scores)}")
    by_label = {label: float(score) for label, score in zip(LABELS, scores, strict=True)}
    flagged = [label for label in LABELS if by_label[label] >= thresholds[label]]
    max_score = max(by_label.values())
    if any(by_label[label] >= bands.remove for label in flagged):
        action = Action.REMOVE
    elif flagged or max_score >= bands.review:
        action = Action.REVIEW
    else:
        action = Action.ALLOW
    if escalates(minor, flagged):
        action = Action.ESCALATE
    return Decision(scores=by_label, labels=flagged, action=action, max_score=max_score, minor=minor)


def decide_batch(
    probabilities: np.ndarray,
    thresholds: Mapping[Label, float],
    bands: ActionBands,
    minors: Sequence[MinorSignal] | None = None,
) -> list[Decision]:
    """:func:`decide` for every row of an ``(N, len(LABELS))`` probability matrix (``minors``: per row)."""
    if probabilities.ndim != 2 or probabilities.shape[1] != len(LABELS):
        raise ValueError(f"expected probabilities of shape (N, {len(LABELS)}), got {probabilities.shape}")
    if minors is not None and len(minors) != len(probabilities):
        raise ValueError(f"{len(minors)} minor signals for {len(probabilities)} rows")
    signals = minors if minors is not None else [NO_MINOR_SIGNAL] * len(probabilities)
    return [
        decide(row.tolist(), thresholds, bands, minor)
        for row, minor in zip(probabilities, signals, strict=True)
    ]
