"""The strike service over a real database (SQLite and PostgreSQL), moving its clock, never sleeping."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.taxonomy import Label, Surface
from strikes.domain import (
    AppealOutcome,
    AppealStatus,
    Decision,
    DecisionKind,
    EventSource,
    Feature,
    LiftCause,
    NotificationKind,
    Penalty,
    Policy,
    RecordKind,
    StrikeStatus,
    ViolationEvent,
)
from strikes.errors import (
    AppealAlreadyDecidedError,
    AppealAlreadyFiledError,
    AppealNotFoundError,
    ConflictError,
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


# --- Issue #11 regressions, on both backends ------------------------------------------------------


def _ban_acct(service: StrikeService, clock: Clock, n: int = 5) -> list[int]:
    """Warning, then bullying strikes an hour apart (the shipped policy bans at the 4th strike)."""
    ids = []
    for i in range(n):
        ids.append(service.record_violation(moderator_event(f"m{i}", when=clock.now)).violation_id)
        clock.advance(hours=1)
    return ids


def test_a_back_dated_report_on_banned_content_keeps_the_ban(service: StrikeService, clock: Clock) -> None:
    # Item 1.
    ids = _ban_acct(service, clock)
    late = moderator_event("m4", Policy.PITY_BAIT, when=clock.now - timedelta(hours=2))
    assert service.record_violation(late).kind is DecisionKind.NONE
    state = service.account_status("acct")
    assert state.banned
    (ban,) = [p for p in state.penalties if p.kind.value == "permanent_ban"]
    assert (ban.triggered_by, ban.lifted_at) == (ids[-1], None)
    assert service.verify() == (1, [])


def test_raising_a_threshold_does_not_unban(
    service: StrikeService, clock: Clock, policy: StrikePolicy
) -> None:
    # Item 1: the policy edit applies forward; the ban names the policy version that issued it.
    _ban_acct(service, clock)
    rules = policy.model_dump()
    rules["policies"]["bullying"]["threshold"] = 5
    rules["policies"]["sexual_solicitation"]["threshold"] = 3
    edited = StrikePolicy.model_validate(rules)
    later = StrikeService(service.store, edited, clock=clock)
    state = later.account_status("acct")
    assert state.banned and state.ban is not None and state.ban.policy_version == policy.version
    assert later.verify() == (1, [])


def test_an_overturn_that_leaves_enough_strikes_says_the_ban_stays(
    service: StrikeService, clock: Clock
) -> None:
    # Item 2: the account is not told "ban lifted" while a back-dated new ban keeps it banned.
    ids = _ban_acct(service, clock, n=6)
    appeal = service.file_appeal(ids[4], "not me")
    resolution = service.decide_appeal(appeal.id, AppealOutcome.OVERTURN, moderator="mod-2")
    assert [n.kind for n in resolution.notifications] == [
        NotificationKind.STRIKE_OVERTURNED,
        NotificationKind.PENALTY_KEPT,
    ]
    state = service.account_status("acct")
    assert state.banned and state.ban is not None and state.ban.triggered_by == ids[4]
    assert service.verify() == (1, [])


def test_a_late_event_leaves_the_announced_restriction_alone(service: StrikeService, clock: Clock) -> None:
    # Item 4: comment restricted at the second strike; a violation 17 days old arrives later.
    _ban_acct(service, clock, n=3)
    before = service.account_status("acct").penalties
    clock.advance(days=30)
    late = service.record_violation(
        moderator_event("old", Policy.PITY_BAIT, when=clock.now - timedelta(days=17))
    )
    after = service.account_status("acct").penalties
    assert after[: len(before)] == before
    for note in late.notifications:
        if note.kind is NotificationKind.RESTRICTION_APPLIED:
            assert (
                "restricted until" in note.message
                and clock.now.strftime("%Y-%m-%d") <= note.message.split("until ")[1]
            )
    assert all(p.starts_at == clock.now for p in late.new_penalties)


def test_concurrent_writers_without_occurred_at_replay_to_their_decisions(
    service: StrikeService, policy: StrikePolicy
) -> None:
    # Item 4: the time is taken under the account's lock, so the replay agrees with every decision.
    from strikes.testing import parallel_ingest

    batches = [
        [
            ViolationEvent(
                f"acct-{i % 3}", Policy.BULLYING, Feature.COMMENT, f"w{w}-{i}", None, EventSource.MODERATOR
            )
            for i in range(12)
        ]
        for w in range(3)
    ]
    url = service.store.url.render_as_string(hide_password=False)
    parallel_ingest(url, policy, batches, lead_time_s=0.2)
    checked, problems = service.verify()
    assert (checked, problems) == (3, [])


def test_notifications_are_stored_and_near_ban_is_sent_once(service: StrikeService, clock: Clock) -> None:
    # Item 6: sexual_solicitation bans at 3; at 2 the account is one strike away, and stays there.
    service.record_violation(moderator_event("w", Policy.PITY_BAIT, when=clock.now))
    for i in range(2):
        service.record_violation(
            moderator_event(f"s{i}", Policy.SEXUAL_SOLICITATION, when=clock.advance(days=1))
        )
    for i in range(4):
        service.record_violation(moderator_event(f"p{i}", Policy.PITY_BAIT, when=clock.advance(days=1)))
    stored = [n for _, n in service.notifications("acct", limit=100)]
    assert sum(n.kind is NotificationKind.NEAR_BAN for n in stored) == 1
    # Every notice can be reproduced from what the system knew when it was sent.
    for note in stored:
        assert note in service.account_status("acct", note.at, known_at=note.at).notifications


def test_a_classifier_cannot_raise_a_critical_policy(service: StrikeService, policy: StrikePolicy) -> None:
    # Item 7.
    event = ViolationEvent(
        "acct",
        Policy.CHILD_SEXUAL_EXPLOITATION,
        Feature.LIVE,
        "c1",
        T0,
        EventSource.CLASSIFIER,
        actor="model",
    )
    with pytest.raises(InvalidEventError, match="raised by moderators only"):
        service.record_violation(event)
    assert service.account_status("acct").records == ()


def test_appeals_belong_to_the_account_and_close_after_the_window(
    service: StrikeService, clock: Clock
) -> None:
    # Item 3.
    from strikes.errors import AppealWindowClosedError

    ids = _ban_acct(service, clock, n=3)
    with pytest.raises(StrikeNotFoundError, match=f"strike {ids[0]} not found"):
        service.file_appeal(ids[0], "spam", account_id="someone-else")
    clock.advance(days=150)
    assert service.file_appeal(ids[1], "late but fine", account_id="acct").status is AppealStatus.PENDING
    clock.advance(days=31)
    with pytest.raises(AppealWindowClosedError, match="appeals close 180 days later"):
        service.file_appeal(ids[2], "too late", account_id="acct")


def test_reports_are_resolved_and_reported_back(service: StrikeService) -> None:
    # Item 10: the reporter sees the status of the reports they made.
    report = service.file_report(
        "reporter", target_account_id="acct", policy=Policy.BULLYING, feature=Feature.COMMENT, content_id="x1"
    )
    assert [r.status for r in service.reports_by("reporter")] == ["open"]
    resolved, decision = service.resolve_report(report.id, actioned=True, moderator="mod-1")
    assert resolved.status == "actioned" and decision is not None and decision.kind is DecisionKind.WARNING
    assert service.account_status("acct").records[0].content_id == "x1"
    notes = [n for _, n in service.notifications("reporter")]
    assert [n.kind for n in notes] == [NotificationKind.REPORT_RESOLVED]
    with pytest.raises(ConflictError, match="already resolved"):
        service.resolve_report(report.id, actioned=False, moderator="mod-1")


# --- Property test: random interleavings against the stored system of record ----------------------

_POLICIES = [Policy.BULLYING, Policy.PITY_BAIT, Policy.OFF_PLATFORM_REDIRECTION, Policy.SEXUAL_SOLICITATION]
_OPS = st.one_of(
    st.tuples(
        st.just("violation"),
        st.integers(0, 9),  # content
        st.sampled_from([*_POLICIES, Policy.VIOLENT_THREAT]),
        st.sampled_from(list(Feature)),
        st.sampled_from(list(EventSource)),
        st.integers(0, 24 * 60),  # hours before now it happened: late and out-of-order reports
    ),
    st.tuples(st.just("retry"), st.integers(0, 50)),
    st.tuples(st.just("appeal"), st.integers(0, 50)),
    st.tuples(st.just("decide"), st.integers(0, 50), st.sampled_from(list(AppealOutcome))),
    st.tuples(st.just("advance"), st.integers(1, 24 * 40)),
    st.tuples(st.just("policy_edit"), st.integers(3, 6)),
    st.tuples(st.just("read"), st.integers(0, 24 * 100)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(_OPS, min_size=1, max_size=18))
def test_random_interleavings_keep_the_invariants(
    ops: list[tuple], migrated_url: str, policy: StrikePolicy
) -> None:
    store = StrikeStore(migrated_url)
    reset_database(store)
    clock = Clock(T0)
    service = StrikeService(store, policy, clock=clock)
    sent: list[tuple[ViolationEvent, Decision]] = []
    appeals: list[int] = []
    seen: dict[int, Penalty] = {}
    try:
        for op in ops:
            kind = op[0]
            if kind == "violation":
                _, content, pol, feature, source, age = op
                event = ViolationEvent(
                    "acct", pol, feature, f"c{content}", clock.now - timedelta(hours=age), source, actor="x"
                )
                try:
                    sent.append((event, service.record_violation(event)))
                except InvalidEventError as exc:
                    assert pol is Policy.VIOLENT_THREAT and source is EventSource.CLASSIFIER, exc
            elif kind == "retry" and sent:
                event, first = sent[op[1] % len(sent)]
                again = service.record_violation(event)
                # A retried request returns the stored decision and its notifications.
                assert again.kind is DecisionKind.DUPLICATE and again.violation_id == first.violation_id
                assert again.notifications == (
                    first.notifications if not first.duplicate else again.notifications
                )
                assert again.original is (first.kind if not first.duplicate else first.original)
            elif kind == "appeal" and sent:
                _, decision = sent[op[1] % len(sent)]
                with contextlib.suppress(AppealAlreadyFiledError, ConflictError):
                    appeals.append(
                        service.file_appeal(decision.violation_id, "bukan saya", account_id="acct").id
                    )
            elif kind == "decide" and appeals:
                with contextlib.suppress(AppealAlreadyDecidedError):
                    service.decide_appeal(appeals[op[1] % len(appeals)], op[2], moderator="mod")
            elif kind == "advance":
                clock.advance(hours=op[1])
            elif kind == "policy_edit":
                rules = policy.model_dump()
                rules["policies"]["bullying"]["threshold"] = op[1]
                rules["policies"]["sexual_solicitation"]["threshold"] = min(op[1], 3)
                service = StrikeService(store, StrikePolicy.model_validate(rules), clock=clock)
            elif kind == "read":
                at = clock.now - timedelta(hours=op[1])
                state = service.account_status("acct", at, known_at=at)
                assert all(n.at is None or n.at <= at for n in state.notifications)
            # An issued penalty never disappears or moves; it is only lifted by a recorded reversal.
            now = {p.no: p for p in store.read_penalties("acct")}
            for no, before in seen.items():
                after = now[no]
                assert replace(after, lifted_at=None, lift_cause=None, lifted_by=None) == replace(
                    before, lifted_at=None, lift_cause=None, lifted_by=None
                )
                if before.lifted_at is not None:
                    assert after == before
            for p in now.values():
                if p.lift_cause is LiftCause.APPEAL_OVERTURNED:
                    assert p.lifted_by in appeals
            seen = now

        # Snapshot == full replay, and stored decisions, penalties and notices match it.
        assert service.verify_account("acct") == []
        stored = [n for _, n in store.notifications("acct", limit=10_000)]
        # Every notice the account received is reproducible from what was known when it was sent.
        for note in stored:
            assert note in service.account_status("acct", note.at, known_at=note.at).notifications
        # No strike counted twice: one record per (content, policy); one standing warning or strike
        # per content unless critical.
        state = service.account_status("acct")
        keys = [(r.content_id, r.policy) for r in state.records]
        assert len(keys) == len(set(keys))
        standing = [
            r.content_id
            for r in state.records
            if r.kind is not RecordKind.SAME_CONTENT
            and r.status is not StrikeStatus.OVERTURNED
            and not policy.is_critical(r.policy)
        ]
        assert len(standing) == len(set(standing))
    finally:
        service.close()
