"""The strike engine: pure functions from an account's ledger to its state and to decisions.

State at ``as_of`` is a replay of the ledger entries with ``occurred_at <= as_of``, in
``(occurred_at, seq)`` order. The replay walks the violations:

1. A content id strikes once: a violation on content that already holds a warning or strike is
   recorded but counts nothing (``same_content``), unless its policy is critical.
2. A critical policy (e.g. ``violent_threat``) bans at once.
3. With ``first_violation_warning``, the account's first violation is a warning that does not count.
4. Otherwise it is a strike, active for ``strike_ttl_days`` after ``occurred_at``. If the active strikes
   reach the policy's threshold, the feature's threshold or the cumulative threshold, the account is
   permanently banned; else the feature's restriction ladder may restrict the feature from
   ``occurred_at`` for the rung's duration.

Appeals: once a strike is overturned, the replay treats it as never recorded from the overturn on,
so every restriction or ban that depended on it is lifted at that instant (and what the remaining
strikes justify stays). Expiry is different: a permanent ban stays when the strikes behind it expire.
Nothing deletes a strike; deleting the content changes nothing here.

A violation recorded late is placed at its ``occurred_at``: its strike expires 90 days after the
violation and any restriction it triggers runs from then, possibly already over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from strikes.domain import (
    AccountState,
    AppealDecided,
    AppealFiled,
    AppealOutcome,
    AppealResolution,
    AppealStatus,
    AppealView,
    Decision,
    DecisionKind,
    Feature,
    LedgerEntry,
    Notification,
    NotificationKind,
    Penalty,
    PenaltyKind,
    PenaltyStatus,
    RecordKind,
    Rule,
    RuleHit,
    StrikeStatus,
    StrikeView,
    ThresholdDistance,
    ThresholdScope,
    ViolationRecord,
    require_aware,
)
from strikes.errors import (
    AppealAlreadyDecidedError,
    AppealAlreadyFiledError,
    AppealNotFoundError,
    InvalidEventError,
    StrikeNotFoundError,
)
from strikes.policy import StrikePolicy

_RECORD_DECISION = {
    RecordKind.WARNING: DecisionKind.WARNING,
    RecordKind.STRIKE: DecisionKind.STRIKE,
    RecordKind.SAME_CONTENT: DecisionKind.NONE,
}
_PENALTY_DECISION = {
    PenaltyKind.RESTRICTION: DecisionKind.RESTRICTION,
    PenaltyKind.PERMANENT_BAN: DecisionKind.PERMANENT_BAN,
}


def _order(entry: LedgerEntry) -> tuple[datetime, int]:
    return (entry.occurred_at, entry.seq)


@dataclass
class _Replay:
    """One pass over the violations, skipping ``excluded`` (overturned) ones."""

    kinds: dict[int, tuple[RecordKind, RuleHit]] = field(default_factory=dict)
    penalties: list[Penalty] = field(default_factory=list)


def _replay(violations: Sequence[ViolationRecord], excluded: set[int], policy: StrikePolicy) -> _Replay:
    result = _Replay()
    ttl = policy.strike_ttl
    strikes: list[ViolationRecord] = []
    holding_content: set[str] = set()
    warned = banned = False
    for record in violations:
        if record.id in excluded:
            continue
        event = record.event
        at = event.occurred_at
        critical = policy.is_critical(event.policy)
        if event.content_id in holding_content and not critical:
            result.kinds[record.id] = (
                RecordKind.SAME_CONTENT,
                RuleHit(Rule.SAME_CONTENT, event.policy, event.feature),
            )
            continue
        holding_content.add(event.content_id)

        if banned:
            strikes.append(record)
            hit = RuleHit(Rule.ALREADY_BANNED, event.policy, event.feature)
            result.kinds[record.id] = (RecordKind.STRIKE, hit)
            continue
        if critical:
            strikes.append(record)
            hit = RuleHit(Rule.INSTANT_BAN, event.policy, event.feature)
            result.kinds[record.id] = (RecordKind.STRIKE, hit)
            result.penalties.append(Penalty(PenaltyKind.PERMANENT_BAN, at, hit, record.id))
            banned = True
            continue
        if policy.first_violation_warning and not warned:
            warned = True
            hit = RuleHit(Rule.FIRST_VIOLATION_WARNING, event.policy, event.feature)
            result.kinds[record.id] = (RecordKind.WARNING, hit)
            continue

        strikes.append(record)
        result.kinds[record.id] = (RecordKind.STRIKE, RuleHit(Rule.STRIKE, event.policy, event.feature))
        # Sorted by occurred_at, so every strike so far started at or before `at`.
        active = [s for s in strikes if s.occurred_at + ttl > at]
        ban_hit = _threshold_hit(active, record, policy)
        if ban_hit is not None:
            result.penalties.append(Penalty(PenaltyKind.PERMANENT_BAN, at, ban_hit, record.id))
            banned = True
            continue
        on_feature = sum(1 for s in active if s.event.feature is event.feature)
        rung = policy.features[event.feature].step_for(on_feature)
        if rung is not None:
            step_no, step = rung
            hit = RuleHit(
                Rule.RESTRICTION_LADDER,
                event.policy,
                event.feature,
                count=on_feature,
                threshold=step.after_strikes,
                step=step_no,
            )
            result.penalties.append(
                Penalty(
                    PenaltyKind.RESTRICTION,
                    at,
                    hit,
                    record.id,
                    feature=event.feature,
                    ends_at=at + step.duration,
                    step=step_no,
                )
            )
    return result


def _threshold_hit(
    active: list[ViolationRecord], record: ViolationRecord, policy: StrikePolicy
) -> RuleHit | None:
    # Only the new strike's policy and feature can newly reach a threshold: counts grow by one strike.
    event = record.event
    on_policy = sum(1 for s in active if s.event.policy is event.policy)
    threshold = policy.policies[event.policy].threshold
    if threshold is not None and on_policy >= threshold:
        return RuleHit(
            Rule.POLICY_THRESHOLD, event.policy, event.feature, count=on_policy, threshold=threshold
        )
    on_feature = sum(1 for s in active if s.event.feature is event.feature)
    threshold = policy.features[event.feature].threshold
    if on_feature >= threshold:
        return RuleHit(
            Rule.FEATURE_THRESHOLD, event.policy, event.feature, count=on_feature, threshold=threshold
        )
    if len(active) >= policy.cumulative_threshold:
        return RuleHit(
            Rule.CUMULATIVE_THRESHOLD,
            event.policy,
            event.feature,
            count=len(active),
            threshold=policy.cumulative_threshold,
        )
    return None


def _account_of(entries: Sequence[LedgerEntry], account_id: str | None) -> str:
    accounts = {e.account_id for e in entries}
    if account_id is not None:
        accounts.add(account_id)
    if len(accounts) > 1:
        raise InvalidEventError(f"a ledger holds one account's entries; got {sorted(accounts)}")
    if not accounts:
        raise InvalidEventError("account_id is required to evaluate an empty ledger")
    return accounts.pop()


def evaluate(
    entries: Iterable[LedgerEntry],
    policy: StrikePolicy,
    as_of: datetime,
    *,
    account_id: str | None = None,
) -> AccountState:
    """Recompute one account's state at ``as_of`` from its ledger.

    Args:
        entries: The account's ledger entries, in any order; those after ``as_of`` are ignored.
        policy: The strike policy to apply.
        as_of: The instant to describe (timezone-aware).
        account_id: The account, needed only when ``entries`` is empty.

    Returns:
        The history of every violation record (warning, strike or same-content, with status),
        every restriction and ban (including ended and lifted ones), appeals and threshold distances.
    """
    require_aware(as_of, "as_of")
    entries = list(entries)
    account = _account_of(entries, account_id)
    visible = sorted((e for e in entries if e.occurred_at <= as_of), key=_order)
    violations = [e for e in visible if isinstance(e, ViolationRecord)]
    appeals = {e.id: e for e in visible if isinstance(e, AppealFiled)}
    decisions = {e.appeal_id: e for e in visible if isinstance(e, AppealDecided)}
    for appeal_id in decisions:
        if appeal_id not in appeals:
            raise InvalidEventError(
                f"ledger of {account}: decision for appeal {appeal_id}, which was never filed"
            )

    overturns = [
        (d.occurred_at, appeals[d.appeal_id].violation_id, d.appeal_id)
        for d in visible
        if isinstance(d, AppealDecided) and d.outcome is AppealOutcome.OVERTURN
    ]
    # Replay once per overturn: the replay just before an overturn tells what the overturned record
    # was and which penalties disappear with it (those in force by then are lifted at that instant).
    excluded: set[int] = set()
    previous = _replay(violations, excluded, policy)
    overturned: dict[int, tuple[datetime, RecordKind, RuleHit]] = {}
    lifted: dict[tuple, Penalty] = {}
    known = {v.id for v in violations}
    for at, violation_id, appeal_id in overturns:
        if violation_id not in known or violation_id in excluded:
            raise InvalidEventError(
                f"ledger of {account}: appeal {appeal_id} overturns violation {violation_id}, which is "
                "not in this ledger or was already overturned"
            )
        kind, hit = previous.kinds[violation_id]
        overturned[violation_id] = (at, kind, hit)
        excluded.add(violation_id)
        current = _replay(violations, excluded, policy)
        kept = {p.key for p in current.penalties}
        for penalty in previous.penalties:
            if penalty.key not in kept and penalty.starts_at <= at and penalty.key not in lifted:
                lifted[penalty.key] = replace(penalty, lifted_at=at, lifted_by_appeal=appeal_id)
        previous = current
    final = previous

    appeal_views = {a.id: _appeal_view(a, decisions.get(a.id)) for a in appeals.values()}
    appeal_by_violation = {a.violation_id: appeal_views[a.id] for a in appeals.values()}
    records = []
    for record in violations:
        event = record.event
        expires_at = event.occurred_at + policy.strike_ttl
        overturned_at: datetime | None = None
        if record.id in overturned:
            overturned_at, kind, hit = overturned[record.id]
            status = StrikeStatus.OVERTURNED
        else:
            kind, hit = final.kinds[record.id]
            status = StrikeStatus.ACTIVE if as_of < expires_at else StrikeStatus.EXPIRED
        records.append(
            StrikeView(
                violation_id=record.id,
                policy=event.policy,
                feature=event.feature,
                content_id=event.content_id,
                source=event.source,
                occurred_at=event.occurred_at,
                expires_at=expires_at,
                kind=kind,
                status=status,
                rule=hit,
                appeal=appeal_by_violation.get(record.id),
                overturned_at=overturned_at,
            )
        )

    in_force = {p.key for p in final.penalties}
    penalties = sorted(
        [*final.penalties, *(p for key, p in lifted.items() if key not in in_force)],
        key=lambda p: (p.starts_at, p.triggered_by, p.kind),
    )
    return AccountState(
        account_id=account,
        as_of=as_of,
        records=tuple(records),
        penalties=tuple(penalties),
        distances=_distances(records, policy),
        appeals=tuple(sorted(appeal_views.values(), key=lambda a: (a.filed_at, a.id))),
    )


def _appeal_view(appeal: AppealFiled, decided: AppealDecided | None) -> AppealView:
    if decided is None:
        return AppealView(
            appeal.id, appeal.violation_id, appeal.occurred_at, appeal.reason, AppealStatus.PENDING
        )
    status = AppealStatus.OVERTURNED if decided.outcome is AppealOutcome.OVERTURN else AppealStatus.UPHELD
    return AppealView(
        appeal.id,
        appeal.violation_id,
        appeal.occurred_at,
        appeal.reason,
        status,
        decided_at=decided.occurred_at,
        moderator=decided.moderator,
        note=decided.note,
    )


def _distances(records: list[StrikeView], policy: StrikePolicy) -> tuple[ThresholdDistance, ...]:
    active = [r for r in records if r.counts]
    by_policy = Counter(r.policy for r in active)
    by_feature = Counter(r.feature for r in active)
    distances = [
        ThresholdDistance(ThresholdScope.POLICY, p.value, by_policy[p], rule.threshold)
        for p, rule in policy.policies.items()
        if rule.threshold is not None
    ]
    distances += [
        ThresholdDistance(ThresholdScope.FEATURE, f.value, by_feature[f], rule.threshold)
        for f, rule in policy.features.items()
    ]
    distances.append(
        ThresholdDistance(ThresholdScope.CUMULATIVE, "all", len(active), policy.cumulative_threshold)
    )
    return tuple(distances)


def find_duplicate(ledger: Iterable[LedgerEntry], record: ViolationRecord) -> ViolationRecord | None:
    """The recorded violation with the same (account, content id, policy) as ``record``, if any."""
    event = record.event
    for entry in ledger:
        if (
            isinstance(entry, ViolationRecord)
            and entry.account_id == event.account_id
            and entry.event.content_id == event.content_id
            and entry.event.policy is event.policy
        ):
            return entry
    return None


def _horizon(entries: Iterable[LedgerEntry], as_of: datetime | None) -> datetime:
    instants = [e.occurred_at for e in entries]
    if as_of is not None:
        require_aware(as_of, "as_of")
        instants.append(as_of)
    return max(instants)


def decide(
    ledger: Sequence[LedgerEntry],
    record: ViolationRecord,
    policy: StrikePolicy,
    *,
    as_of: datetime | None = None,
) -> Decision:
    """Decide what recording ``record`` does to an account whose ledger is ``ledger``.

    Args:
        ledger: The account's entries before ``record``.
        record: The new violation, with the id and ``seq`` it is (or would be) stored under.
        policy: The strike policy to apply.
        as_of: "Now", for the returned state; defaults to the latest instant in the ledger.

    Returns:
        A :class:`Decision`: ``duplicate`` if the ledger already holds this (content id, policy),
        otherwise the most severe of the record's own outcome (warning, strike, none) and the
        penalties it newly imposes, with the rule behind it and the notifications to send.
    """
    horizon = _horizon([*ledger, record], as_of)
    existing = find_duplicate(ledger, record)
    if existing is not None:
        state = evaluate(ledger, policy, horizon, account_id=record.account_id)
        hit = RuleHit(Rule.DUPLICATE_EVENT, record.event.policy, record.event.feature)
        return Decision(DecisionKind.DUPLICATE, hit, existing.id, (), (), state)

    before = evaluate(ledger, policy, horizon, account_id=record.account_id)
    after = evaluate([*ledger, record], policy, horizon)
    view = after.record(record.id)
    if view is None:  # pragma: no cover - the record is visible at the horizon by construction
        raise InvalidEventError(f"violation {record.id} is missing from its own replay")
    known = {p.key for p in before.penalties}
    new_penalties = tuple(p for p in after.penalties if p.key not in known and p.lifted_at is None)

    kind, hit = _RECORD_DECISION[view.kind], view.rule
    for penalty in new_penalties:
        candidate = _PENALTY_DECISION[penalty.kind]
        if candidate.rank > kind.rank:
            kind, hit = candidate, penalty.rule
    return Decision(
        kind,
        hit,
        record.id,
        new_penalties,
        _decision_notifications(view, new_penalties, after, policy),
        after,
    )


def _when(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _decision_notifications(
    view: StrikeView, new_penalties: tuple[Penalty, ...], after: AccountState, policy: StrikePolicy
) -> tuple[Notification, ...]:
    account = after.account_id
    out: list[Notification] = []
    what = f"{view.policy.value} violation on {view.feature.value} (content {view.content_id})"
    if view.kind is RecordKind.WARNING:
        out.append(
            Notification(
                NotificationKind.WARNING_ISSUED,
                account,
                f"Warning: {what}. This first violation does not count; further violations earn strikes.",
                view.violation_id,
            )
        )
    elif view.kind is RecordKind.STRIKE:
        out.append(
            Notification(
                NotificationKind.STRIKE_ISSUED,
                account,
                f"Strike: {what}. It counts until {_when(view.expires_at)}.",
                view.violation_id,
            )
        )
    for penalty in new_penalties:
        if penalty.kind is PenaltyKind.PERMANENT_BAN:
            message = f"Account permanently banned: {penalty.rule.describe()}."
            out.append(Notification(NotificationKind.ACCOUNT_BANNED, account, message, penalty.triggered_by))
        else:
            feature = penalty.feature.value if penalty.feature else "?"
            ends = _when(penalty.ends_at) if penalty.ends_at else "further notice"
            message = f"{feature} restricted until {ends}: {penalty.rule.describe()}."
            out.append(
                Notification(NotificationKind.RESTRICTION_APPLIED, account, message, penalty.triggered_by)
            )
    if view.kind is RecordKind.STRIKE and not after.banned:
        near = sorted(
            (d for d in after.distances if 0 < d.remaining <= policy.near_ban_notice),
            key=lambda d: d.remaining,
        )
        if near:
            closest = near[0]
            scope = (
                "strikes in all" if closest.scope is ThresholdScope.CUMULATIVE else f"{closest.name} strikes"
            )
            noun = "strike" if closest.remaining == 1 else "strikes"
            message = (
                f"This account is {closest.remaining} {noun} from a permanent ban "
                f"({closest.active} of {closest.threshold} {scope})."
            )
            out.append(Notification(NotificationKind.NEAR_BAN, account, message, view.violation_id))
    return tuple(out)


def check_appealable(ledger: Iterable[LedgerEntry], violation_id: int, at: datetime) -> ViolationRecord:
    """Return the violation ``violation_id`` if it can be appealed at ``at``.

    Raises:
        StrikeNotFoundError: No such violation in this ledger.
        AppealAlreadyFiledError: It was appealed before (an account can appeal a strike once).
        InvalidEventError: ``at`` is before the violation.
    """
    ledger = list(ledger)
    record = next((e for e in ledger if isinstance(e, ViolationRecord) and e.id == violation_id), None)
    if record is None:
        raise StrikeNotFoundError(f"strike {violation_id} not found")
    earlier = next((e for e in ledger if isinstance(e, AppealFiled) and e.violation_id == violation_id), None)
    if earlier is not None:
        raise AppealAlreadyFiledError(
            f"strike {violation_id} was already appealed (appeal {earlier.id}, filed "
            f"{earlier.occurred_at.isoformat()}); an account can appeal a strike once"
        )
    require_aware(at, "filed_at")
    if at < record.occurred_at:
        raise InvalidEventError(
            f"an appeal filed at {at.isoformat()} predates strike {violation_id} "
            f"({record.occurred_at.isoformat()})"
        )
    return record


def check_decidable(ledger: Iterable[LedgerEntry], appeal_id: int, at: datetime) -> AppealFiled:
    """Return appeal ``appeal_id`` if a moderator can decide it at ``at``.

    Raises:
        AppealNotFoundError: No such appeal in this ledger.
        AppealAlreadyDecidedError: It already has a decision (decisions are final).
        InvalidEventError: ``at`` is before the appeal was filed.
    """
    ledger = list(ledger)
    appeal = next((e for e in ledger if isinstance(e, AppealFiled) and e.id == appeal_id), None)
    if appeal is None:
        raise AppealNotFoundError(f"appeal {appeal_id} not found")
    earlier = next((e for e in ledger if isinstance(e, AppealDecided) and e.appeal_id == appeal_id), None)
    if earlier is not None:
        raise AppealAlreadyDecidedError(
            f"appeal {appeal_id} was already decided ({earlier.outcome.value} by {earlier.moderator} at "
            f"{earlier.occurred_at.isoformat()}); decisions are final"
        )
    require_aware(at, "decided_at")
    if at < appeal.occurred_at:
        raise InvalidEventError(
            f"a decision at {at.isoformat()} predates appeal {appeal_id} ({appeal.occurred_at.isoformat()})"
        )
    return appeal


def resolve_appeal(
    ledger: Sequence[LedgerEntry],
    decided: AppealDecided,
    policy: StrikePolicy,
    *,
    as_of: datetime | None = None,
) -> AppealResolution:
    """Work out what a moderator's appeal decision does.

    Args:
        ledger: The account's entries before ``decided``; it must hold the appeal.
        decided: The decision entry.
        policy: The strike policy to apply.
        as_of: "Now", for the returned state; defaults to the latest instant in the ledger.

    Returns:
        The decided appeal, the penalties an overturn lifted (every restriction or ban that depended
        on the strike) and the notifications to send.
    """
    horizon = _horizon([*ledger, decided], as_of)
    after = evaluate([*ledger, decided], policy, horizon)
    appeal = next(a for a in after.appeals if a.id == decided.appeal_id)
    lifted = tuple(p for p in after.penalties if p.lifted_by_appeal == decided.appeal_id)
    account = after.account_id
    notes: list[Notification] = []
    if decided.outcome is AppealOutcome.UPHOLD:
        message = f"Your appeal of strike {appeal.violation_id} was reviewed: the strike stands."
        notes.append(Notification(NotificationKind.APPEAL_UPHELD, account, message, appeal.violation_id))
    else:
        message = f"Your appeal of strike {appeal.violation_id} succeeded: the strike no longer counts."
        notes.append(Notification(NotificationKind.STRIKE_OVERTURNED, account, message, appeal.violation_id))
        for penalty in lifted:
            if penalty.status_at(decided.occurred_at) is not PenaltyStatus.LIFTED:
                continue  # it had already ended: nothing to tell
            if penalty.kind is PenaltyKind.PERMANENT_BAN:
                kind, message = NotificationKind.BAN_LIFTED, "Your account's ban is lifted."
            else:
                feature = penalty.feature.value if isinstance(penalty.feature, Feature) else "?"
                kind, message = NotificationKind.RESTRICTION_LIFTED, f"Your {feature} restriction is lifted."
            notes.append(Notification(kind, account, message, penalty.triggered_by))
    return AppealResolution(appeal, lifted, tuple(notes), after)
