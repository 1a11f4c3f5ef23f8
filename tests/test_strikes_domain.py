"""The strike vocabulary: enums tied to the taxonomy, validated events, penalty status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data.taxonomy import LABEL_NAMES, Label, Surface
from strikes.domain import (
    DecisionKind,
    EventSource,
    Feature,
    Penalty,
    PenaltyKind,
    PenaltyStatus,
    Policy,
    Rule,
    RuleHit,
    Severity,
    ViolationEvent,
    feature_for_surface,
    policy_for_label,
)
from strikes.errors import InvalidEventError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_every_label_is_a_policy_with_the_same_value() -> None:
    for name in LABEL_NAMES:
        assert Policy(name).value == name
        assert policy_for_label(Label(name)) is Policy(name)
    assert {p.value for p in Policy} - set(LABEL_NAMES) == {
        "child_sexual_exploitation",
        "violent_threat",
        "real_world_violence",
    }


@pytest.mark.parametrize(
    ("surface", "feature"),
    [(Surface.COMMENT, Feature.COMMENT), (Surface.LIVE_CHAT, Feature.LIVE), ("live_chat", Feature.LIVE)],
)
def test_surfaces_map_to_features(surface: Surface | str, feature: Feature) -> None:
    assert feature_for_surface(surface) is feature


def test_orders() -> None:
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    assert DecisionKind.PERMANENT_BAN.rank > DecisionKind.RESTRICTION.rank > DecisionKind.STRIKE.rank
    assert DecisionKind.WARNING.rank > DecisionKind.NONE.rank > DecisionKind.DUPLICATE.rank


def test_event_coerces_strings_to_enums() -> None:
    event = ViolationEvent("a", "bullying", "live", "c", T0, "moderator")  # type: ignore[arg-type]
    assert (event.policy, event.feature, event.source) == (
        Policy.BULLYING,
        Feature.LIVE,
        EventSource.MODERATOR,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"occurred_at": datetime(2024, 1, 1)}, "occurred_at must be a timezone-aware", id="naive-time"
        ),
        pytest.param({"account_id": " "}, "account_id must be a non-empty string", id="blank-account"),
        pytest.param(
            {"content_id": "x" * 257}, "content_id is 257 characters long; the limit is 256", id="long"
        ),
        pytest.param({"policy": "spam"}, "unknown policy 'spam'; expected one of bullying", id="policy"),
        pytest.param({"feature": "story"}, "unknown feature 'story'", id="feature"),
        pytest.param({"evidence": {"bullying": "high"}}, "evidence must map names to numbers", id="evidence"),
    ],
)
def test_invalid_events_are_refused(overrides: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "account_id": "a",
        "policy": Policy.BULLYING,
        "feature": Feature.COMMENT,
        "content_id": "c",
        "occurred_at": T0,
        "source": EventSource.CLASSIFIER,
    }
    with pytest.raises(InvalidEventError, match=message):
        ViolationEvent(**{**fields, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ends", "lifted", "as_of", "status"),
    [
        pytest.param(24, None, 1, PenaltyStatus.ACTIVE, id="running"),
        pytest.param(24, None, 24, PenaltyStatus.ENDED, id="ended-at-its-end"),
        pytest.param(24, 12, 13, PenaltyStatus.LIFTED, id="lifted"),
        pytest.param(24, 12, 11, PenaltyStatus.ACTIVE, id="before-lift"),
        pytest.param(24, 30, 31, PenaltyStatus.ENDED, id="basis-overturned-after-it-ended"),
        pytest.param(None, None, 10_000, PenaltyStatus.ACTIVE, id="ban-never-ends"),
    ],
)
def test_penalty_status(ends: int | None, lifted: int | None, as_of: int, status: PenaltyStatus) -> None:
    hours = lambda n: None if n is None else T0 + timedelta(hours=n)  # noqa: E731
    kind = PenaltyKind.RESTRICTION if ends is not None else PenaltyKind.PERMANENT_BAN
    penalty = Penalty(kind, T0, RuleHit(Rule.STRIKE), 1, ends_at=hours(ends), lifted_at=hours(lifted))
    assert penalty.status_at(hours(as_of)) is status  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", list(Rule))
def test_every_rule_has_a_sentence(rule: Rule) -> None:
    text = RuleHit(rule, Policy.BULLYING, Feature.COMMENT, count=3, threshold=3, step=1).describe()
    assert text and text != rule.value
