"""The strike service over a real database (SQLite and PostgreSQL), moving its clock, never sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from data.taxonomy import Label, Surface
from strikes.domain import (
    AppealOutcome,
    AppealStatus,
    DecisionKind,
    EventSource,
    Feature,
    NotificationKind,
    Policy,
    ViolationEvent,
)
from strikes.errors import (
    AppealAlreadyDecidedError,
    AppealAlreadyFiledError,
    AppealNotFoundError,
    InvalidEventError,
    StorageError,
    StrikeNotFoundError,
)
from strikes.policy import StrikePolicy
from strikes.service import StrikeService, classifier_violation
from strikes.settings import load_strike_settings
from strikes.storage import StrikeStore
from strikes.testing import Clock, reset_database

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture()
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture()
def service(migrated_url: str, policy: StrikePolicy, clock: Clock) -> Iterator[StrikeService]:
    store = StrikeStore(migrated_url)
    reset_database(store)
    service = StrikeService(store, policy, clock=clock)
    yield service
    service.close()


def moderator_event(content: str, policy: Policy = Policy.BULLYING, when: datetime = T0) -> ViolationEvent:
    return ViolationEvent(
        "acct", policy, Feature.COMMENT, content, when, EventSource.MODERATOR, actor="mod-1"
    )


def test_violations_escalate_to_a_ban_and_an_appeal_lifts_it(service: StrikeService, clock: Clock) -> None:
    kinds = []
    for i in range(5):
        kinds.append(service.record_violation(moderator_event(f"m{i}", when=clock.now)).kind)
        clock.advance(hours=1)
    # Shipped policy: warning, then bullying strikes; comment restricted at 2; bullying bans at 4.
    assert kinds == ["warning", "strike", "restriction", "restriction", "permanent_ban"]
    state = service.account_status("acct")
    assert state.banned
    ban = state.ban
    assert ban is not None and ban.triggered_by == 5

    appeal = service.file_appeal(3, "I was quoting someone")
    assert appeal.status is AppealStatus.PENDING
    clock.advance(days=2)
    resolution = service.decide_appeal(appeal.id, AppealOutcome.OVERTURN, moderator="mod-2", note="quote")
    # Three bullying strikes remain, one from the ban: the near-ban notice comes too (issue #11, item 6).
    assert [n.kind for n in resolution.notifications] == [
        NotificationKind.STRIKE_OVERTURNED,
        NotificationKind.BAN_LIFTED,
        NotificationKind.NEAR_BAN,
    ]
    assert not resolution.state.banned
    assert not service.account_status("acct").banned
    # The ban is still there in the history, as of any time before the decision.
    assert service.account_status("acct", as_of=clock.now - timedelta(days=1)).banned


def test_recording_is_idempotent(service: StrikeService) -> None:
    first = service.record_violation(moderator_event("m1"))
    again = service.record_violation(moderator_event("m1"))
    assert again.kind is DecisionKind.DUPLICATE
    assert again.violation_id == first.violation_id
    # A retry gets the stored decision's notifications back, not an empty list (issue #11, item 5).
    assert again.original is DecisionKind.WARNING
    assert again.notifications == first.notifications != ()
    assert len(service.account_status("acct").records) == 1


def test_expiry_follows_the_clock(service: StrikeService, clock: Clock) -> None:
    service.record_violation(moderator_event("m0"))
    service.record_violation(moderator_event("m1", when=clock.advance(hours=1)))
    assert len(service.account_status("acct").active_strikes) == 1
    clock.advance(days=90, seconds=-1)
    assert len(service.account_status("acct").active_strikes) == 1
    clock.advance(seconds=1)  # exactly 90 days after the violation
    assert service.account_status("acct").active_strikes == ()
    assert len(service.account_status("acct", as_of=T0 + timedelta(days=89)).active_strikes) == 1


def test_future_violations_are_refused(service: StrikeService, clock: Clock) -> None:
    with pytest.raises(InvalidEventError, match="is in the future"):
        service.record_violation(moderator_event("m1", when=clock.now + timedelta(hours=1)))


def test_appeal_rules(service: StrikeService) -> None:
    decision = service.record_violation(moderator_event("m1"))
    with pytest.raises(StrikeNotFoundError, match="strike 999 not found"):
        service.file_appeal(999, "why")
    appeal = service.file_appeal(decision.violation_id, "why")
    with pytest.raises(AppealAlreadyFiledError, match="appeal a strike once"):
        service.file_appeal(decision.violation_id, "again")
    with pytest.raises(AppealNotFoundError, match="appeal 999 not found"):
        service.decide_appeal(999, AppealOutcome.UPHOLD, moderator="mod")
    upheld = service.decide_appeal(appeal.id, AppealOutcome.UPHOLD, moderator="mod")
    assert upheld.appeal.status is AppealStatus.UPHELD
    assert [n.kind for n in upheld.notifications] == [NotificationKind.APPEAL_UPHELD]
    with pytest.raises(AppealAlreadyDecidedError, match="decisions are final"):
        service.decide_appeal(appeal.id, AppealOutcome.OVERTURN, moderator="mod")
    with pytest.raises(InvalidEventError, match="reason must be a non-empty string"):
        service.file_appeal(decision.violation_id, "  ")


def test_unknown_account_is_in_good_standing(service: StrikeService) -> None:
    state = service.account_status("never-seen")
    assert (state.records, state.penalties, state.banned) == ((), (), False)


def test_classifier_violation_uses_the_most_severe_label(policy: StrikePolicy) -> None:
    event = classifier_violation(
        account_id="acct",
        content_id="msg-1",
        surface=Surface.LIVE_CHAT,
        labels=[Label.PITY_BAIT, Label.SEXUAL_SOLICITATION],
        scores={
            "pity_bait": 0.8,
            "sexual_solicitation": 0.7,
            "bullying": 0.1,
            "off_platform_redirection": 0.0,
        },
        occurred_at=T0,
        policy=policy,
        model="tegur-e5-small",
    )
    assert (event.policy, event.feature, event.source) == (
        Policy.SEXUAL_SOLICITATION,
        Feature.LIVE,
        EventSource.CLASSIFIER,
    )
    assert event.evidence["pity_bait"] == 0.8
    assert event.actor == "tegur-e5-small"
    with pytest.raises(InvalidEventError, match="at least one label"):
        classifier_violation(
            account_id="acct",
            content_id="msg-2",
            surface="comment",
            labels=[],
            scores={},
            occurred_at=T0,
            policy=policy,
        )


def test_from_settings_checks_or_upgrades_the_schema(tmp_path: Path, repo_root: Path) -> None:
    url = f"sqlite:///{tmp_path / 'strikes.db'}"
    policy_path = repo_root / "configs" / "strikes.yaml"
    with pytest.raises(StorageError, match="tegur strikes migrate"):
        StrikeService.from_settings(
            load_strike_settings(database_url=url, policy_path=policy_path, auto_migrate=False)
        )
    service = StrikeService.from_settings(load_strike_settings(database_url=url, policy_path=policy_path))
    try:
        assert service.store.current_revision() == service.store.head_revision()
        assert service.policy.name == "strikes"
    finally:
        service.close()
