"""Scores -> flagged labels and recommended action (inference/classify.py)."""

from __future__ import annotations

import numpy as np
import pytest

from data.taxonomy import LABEL_NAMES, LABELS, Label
from inference.classify import (
    Action,
    ActionBands,
    ThresholdBounds,
    ThresholdError,
    decide,
    decide_batch,
    model_thresholds,
    resolve_thresholds,
)
from tegur.errors import ArtifactError, ConfigError

B, S, P, R = LABELS  # bullying, sexual_solicitation, pity_bait, off_platform_redirection
THRESHOLDS = {B: 0.5, S: 0.4, P: 0.6, R: 0.3}
BANDS = ActionBands(review=0.45, remove=0.9)


class _Model:
    def __init__(self, labels=LABEL_NAMES, thresholds=None) -> None:
        self.labels = tuple(labels)
        self.thresholds = thresholds if thresholds is not None else {name: 0.5 for name in LABEL_NAMES}
        self.model_name = "fake"
        self.model_version = "0"
        self.normalizer_version = "n0"

    def predict_proba(self, texts, batch_size=64):  # pragma: no cover - not called here
        raise NotImplementedError


@pytest.mark.parametrize(
    ("scores", "flagged", "action"),
    [
        # nothing near a threshold or a band
        ((0.1, 0.1, 0.1, 0.1), [], Action.ALLOW),
        # just below every threshold and below the review band
        ((0.44, 0.39, 0.44, 0.29), [], Action.ALLOW),
        # a threshold is inclusive: score == threshold flags
        ((0.5, 0.0, 0.0, 0.0), [B], Action.REVIEW),
        # flagged but below the remove band -> review
        ((0.0, 0.0, 0.0, 0.89), [R], Action.REVIEW),
        # flagged and at the remove band (inclusive) -> remove
        ((0.0, 0.0, 0.0, 0.9), [R], Action.REMOVE),
        # not flagged (threshold 0.6) but in the review band: a near miss goes to review
        ((0.0, 0.0, 0.55, 0.0), [], Action.REVIEW),
        # several labels; one flagged label high enough to remove
        ((0.95, 0.41, 0.0, 0.31), [B, S, R], Action.REMOVE),
        # flagged labels are listed in taxonomy order
        ((0.0, 0.5, 0.7, 0.35), [S, P, R], Action.REVIEW),
    ],
)
def test_decide_table(scores, flagged, action) -> None:
    decision = decide(scores, THRESHOLDS, BANDS)
    assert decision.labels == flagged
    assert decision.action == action
    assert decision.max_score == pytest.approx(max(scores))
    assert decision.scores == {label: pytest.approx(s) for label, s in zip(LABELS, scores, strict=True)}


def test_remove_needs_the_label_flagged() -> None:
    # 0.92 is above the remove band, but the request raised this label's threshold to 0.95:
    # the message is a near miss for review, never silently allowed and never removed.
    thresholds = {**THRESHOLDS, B: 0.95}
    decision = decide((0.92, 0.0, 0.0, 0.0), thresholds, BANDS)
    assert decision.labels == []
    assert decision.action == Action.REVIEW


def test_decide_rejects_wrong_number_of_scores() -> None:
    with pytest.raises(ValueError, match="expected 4 scores"):
        decide((0.1, 0.2), THRESHOLDS, BANDS)


def test_decide_batch_matches_decide_row_by_row() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.random((20, len(LABELS))).astype(np.float32)
    decisions = decide_batch(probabilities, THRESHOLDS, BANDS)
    assert [d.action for d in decisions] == [
        decide(row.tolist(), THRESHOLDS, BANDS).action for row in probabilities
    ]
    with pytest.raises(ValueError, match="shape"):
        decide_batch(probabilities[:, :3], THRESHOLDS, BANDS)


def test_resolve_thresholds_applies_overrides_within_bounds() -> None:
    bounds = ThresholdBounds(0.05, 0.95)
    assert resolve_thresholds(THRESHOLDS, None, bounds) == THRESHOLDS
    resolved = resolve_thresholds(THRESHOLDS, {R: 0.05, B: 0.95}, bounds)
    assert resolved == {B: 0.95, S: 0.4, P: 0.6, R: 0.05}
    assert THRESHOLDS[B] == 0.5  # the base mapping is not modified


@pytest.mark.parametrize("value", [0.04, 0.96, 0.0, 1.0, float("nan"), float("inf")])
def test_resolve_thresholds_rejects_out_of_bounds(value) -> None:
    with pytest.raises(ThresholdError, match="pity_bait") as info:
        resolve_thresholds(THRESHOLDS, {P: value}, ThresholdBounds(0.05, 0.95))
    assert info.value.field == "thresholds.pity_bait"


@pytest.mark.parametrize(("low", "high"), [(0.0, 0.5), (0.6, 0.5), (0.1, 1.0)])
def test_threshold_bounds_validated(low, high) -> None:
    with pytest.raises(ConfigError, match="threshold bounds"):
        ThresholdBounds(low, high)


@pytest.mark.parametrize(("review", "remove"), [(0.0, 0.9), (0.95, 0.9), (0.5, 1.1)])
def test_action_bands_validated(review, remove) -> None:
    with pytest.raises(ConfigError, match="score bands"):
        ActionBands(review=review, remove=remove)


def test_model_thresholds_maps_names_to_labels() -> None:
    model = _Model(
        thresholds={
            "bullying": 0.1,
            "sexual_solicitation": 0.2,
            "pity_bait": 0.3,
            "off_platform_redirection": 0.4,
        }
    )
    assert model_thresholds(model) == {B: 0.1, S: 0.2, P: 0.3, R: 0.4}
    assert all(isinstance(label, Label) for label in model_thresholds(model))


def test_model_thresholds_rejects_other_label_order() -> None:
    model = _Model(labels=tuple(reversed(LABEL_NAMES)))
    with pytest.raises(ArtifactError, match="in that order"):
        model_thresholds(model)


@pytest.mark.parametrize("bad", [None, 1.5, "0.5"])
def test_model_thresholds_rejects_missing_or_invalid(bad) -> None:
    thresholds = {name: 0.5 for name in LABEL_NAMES}
    thresholds["pity_bait"] = bad
    with pytest.raises(ArtifactError, match="pity_bait"):
        model_thresholds(_Model(thresholds=thresholds))


def test_a_minor_signal_with_a_flagged_solicitation_escalates_and_alone_does_not() -> None:
    from data.minors import minor_signal

    child = minor_signal("aku masih smp kak, kls 8")
    assert child.flag
    solicitation = (0.0, 0.95, 0.0, 0.0)
    assert decide(solicitation, THRESHOLDS, BANDS).action is Action.REMOVE
    escalated = decide(solicitation, THRESHOLDS, BANDS, child)
    assert escalated.action is Action.ESCALATE and escalated.minor is child
    # A child speaking, nothing flagged but bullying: the signal is reported, the action is not escalate.
    assert decide((0.95, 0.0, 0.0, 0.0), THRESHOLDS, BANDS, child).action is Action.REMOVE
    assert decide((0.0, 0.0, 0.0, 0.0), THRESHOLDS, BANDS, child).action is Action.ALLOW
    # Secrecy from parents escalates even when the classifier flags nothing.
    secrecy = minor_signal("jgn bilang mama ya, nanti aku kirimin pulsa")
    assert decide((0.0, 0.0, 0.0, 0.0), THRESHOLDS, BANDS, secrecy).action is Action.ESCALATE


def test_decide_batch_takes_one_minor_signal_per_row() -> None:
    from data.minors import minor_signal

    probabilities = np.array([[0.0, 0.95, 0.0, 0.0], [0.0, 0.95, 0.0, 0.0]])
    signals = [minor_signal("umurku 13 kak"), minor_signal("aku 30 tahun")]
    actions = [d.action for d in decide_batch(probabilities, THRESHOLDS, BANDS, signals)]
    assert actions == [Action.ESCALATE, Action.REMOVE]
    with pytest.raises(ValueError, match="minor signals"):
        decide_batch(probabilities, THRESHOLDS, BANDS, signals[:1])
