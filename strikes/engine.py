"""The strike engine: a fold over an account's ledger, in the order the entries were recorded.

Decisions are facts. Each ledger entry is applied once, at the instant it was recorded, to a small
per-account :class:`Snapshot` (the active strikes, the penalties in force, the near-ban notices
already sent), by :func:`apply`. What it decides (the record's kind, new penalties, lifts,
notifications) is final: later entries never reclassify a record, remove a penalty or back-date one.

For a violation recorded at ``R`` (``recorded_at``):

1. A content id strikes once: a violation on content that already holds a warning or strike is
   recorded but counts nothing (``same_content``), unless its policy is critical.
2. A ban (or an automated ban's review hold) in force: a strike that changes nothing (``already_banned``).
3. A critical policy bans at once (``instant_ban``). The classifier may not raise critical policies.
4. With ``first_violation_warning``, the account's first violation is a warning that does not count.
5. Otherwise a strike, counting until ``occurred_at + strike_ttl_days`` (expiry runs from when the
   violation happened). Thresholds are checked on the strikes active at ``R``: a ban (or, when only
   classifier strikes triggered it and ``automated_bans: hold_for_review``, a review hold) from ``R``;
   else the feature's restriction ladder restricts it from ``R`` for the rung's duration.
   A late violation is therefore penalised when it is recorded, never in the past.

Reversals: an overturned appeal marks its strike overturned at the decision. Every penalty in force
that rested on it is re-checked against what remains (its other strikes, and every strike active
then): it stays if they still justify it (``penalty_kept``), else it is lifted (``ban_lifted`` /
``restriction_lifted``). A moderator may reverse a penalty with a reason, and confirm or reject an
automated ban's review hold. Nothing else lifts a penalty; expiry does not end a ban.

Near-ban notices: one per approach to a threshold. A notice is sent when a threshold comes within
``near_ban_notice`` strikes and was not within it at the previous entry.

:func:`replay` folds a whole ledger from an empty snapshot: the verifier of the stored snapshot and
the source of the bitemporal views of :func:`evaluate` (``as_of``: what was true then; ``known_at``:
only entries recorded by then).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from strikes.domain import (
    AccountState,
    ActionKind,
    ActionResult,
    AppealDecided,
    AppealFiled,
    AppealOutcome,
    AppealResolution,
    AppealStatus,
    AppealView,
    AutomatedBans,
    Decision,
    DecisionKind,
    EventSource,
    Feature,
    LedgerEntry,
    LiftCause,
    ModeratorAction,
    Notification,
    NotificationKind,
    Penalty,
    PenaltyKind,
    Policy,
    RecordKind,
    Rule,
    RuleHit,
    StrikeStatus,
    StrikeView,
    ThresholdDistance,
    ThresholdScope,
    ViolationRecord,
    entry_time,
    require_aware,
)
from strikes.errors import (
    AppealAlreadyDecidedError,
    AppealAlreadyFiledError,
    AppealNotFoundError,
    AppealWindowClosedError,
    ConflictError,
    InvalidEventError,
    PenaltyNotFoundError,
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
    PenaltyKind.REVIEW_HOLD: DecisionKind.BAN_HELD_FOR_REVIEW,
    PenaltyKind.PERMANENT_BAN: DecisionKind.PERMANENT_BAN,
}
_BANS = (PenaltyKind.PERMANENT_BAN, PenaltyKind.REVIEW_HOLD)


# --------------------------------------------------------------------------------------------------
# The snapshot


@dataclass(frozen=True, slots=True)
class StrikeRef:
    """What the engine needs to know about one strike to count it."""

    id: int
    policy: Policy
    feature: Feature
    source: EventSource
    occurred_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One account's enforcement state after its ledger entry ``seq``; O(1) in the account's history.

    Attributes:
        seq: The last ledger entry applied.
        clock: Its recording time; entries are applied no earlier (recording times never go back).
        warning_id: The account's standing first-violation warning, if any.
        active: Strikes active at ``clock`` (kept only while no ban or hold is in force: the
            thresholds bound them, so there are never more than the cumulative threshold).
        in_force: Penalties in force at ``clock`` (ended restrictions and lifted ones drop out).
        armed: Near-ban thresholds already announced in the current approach (``scope:name``).
        penalties_issued: Penalties issued so far (the next one is number ``penalties_issued + 1``).
    """

    account_id: str
    seq: int = 0
    clock: datetime | None = None
    warning_id: int | None = None
    active: tuple[StrikeRef, ...] = ()
    in_force: tuple[Penalty, ...] = ()
    armed: tuple[str, ...] = ()
    penalties_issued: int = 0

    @property
    def banned(self) -> bool:
        """A ban or a review hold is in force: strikes are recorded but not counted."""
        return any(p.kind in _BANS for p in self.in_force)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for the ``strike_accounts.snapshot`` column)."""
        return {
            "account_id": self.account_id,
            "seq": self.seq,
            "clock": _iso(self.clock),
            "warning_id": self.warning_id,
            "active": [_ref_json(r) for r in self.active],
            "in_force": [penalty_json(p) for p in self.in_force],
            "armed": list(self.armed),
            "penalties_issued": self.penalties_issued,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        return cls(
            account_id=data["account_id"],
            seq=data["seq"],
            clock=_dt(data["clock"]),
            warning_id=data["warning_id"],
            active=tuple(_ref_from(r) for r in data["active"]),
            in_force=tuple(penalty_from_json(p) for p in data["in_force"]),
            armed=tuple(data["armed"]),
            penalties_issued=data["penalties_issued"],
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _ref_json(ref: StrikeRef) -> list[Any]:
    return [
        ref.id,
        ref.policy.value,
        ref.feature.value,
        ref.source.value,
        _iso(ref.occurred_at),
        _iso(ref.expires_at),
    ]


def _ref_from(data: Sequence[Any]) -> StrikeRef:
    return StrikeRef(
        data[0],
        Policy(data[1]),
        Feature(data[2]),
        EventSource(data[3]),
        _dt(data[4]),
        _dt(data[5]),  # type: ignore[arg-type]
    )


def rule_json(hit: RuleHit) -> dict[str, Any]:
    return {
        "rule": hit.rule.value,
        "policy": hit.policy.value if hit.policy else None,
        "feature": hit.feature.value if hit.feature else None,
        "count": hit.count,
        "threshold": hit.threshold,
        "step": hit.step,
    }


def rule_from_json(data: Mapping[str, Any]) -> RuleHit:
    return RuleHit(
        Rule(data["rule"]),
        Policy(data["policy"]) if data["policy"] else None,
        Feature(data["feature"]) if data["feature"] else None,
        data["count"],
        data["threshold"],
        data["step"],
    )


def penalty_json(p: Penalty) -> dict[str, Any]:
    return {
        "no": p.no,
        "kind": p.kind.value,
        "starts_at": _iso(p.starts_at),
        "rule": rule_json(p.rule),
        "triggered_by": p.triggered_by,
        "feature": p.feature.value if p.feature else None,
        "ends_at": _iso(p.ends_at),
        "step": p.step,
        "basis": list(p.basis),
        "automated": p.automated,
        "policy_version": p.policy_version,
        "reviewed_by": p.reviewed_by,
    }


def penalty_from_json(data: Mapping[str, Any]) -> Penalty:
    return Penalty(
        kind=PenaltyKind(data["kind"]),
        starts_at=_dt(data["starts_at"]),  # type: ignore[arg-type]
        rule=rule_from_json(data["rule"]),
        triggered_by=data["triggered_by"],
        feature=Feature(data["feature"]) if data["feature"] else None,
        ends_at=_dt(data["ends_at"]),
        step=data["step"],
        no=data["no"],
        basis=tuple(data["basis"]),
        automated=data["automated"],
        policy_version=data["policy_version"],
        reviewed_by=data["reviewed_by"],
    )


class History(Protocol):
    """The account's recorded history, for the rare steps that need more than the snapshot.

    For a violation, ``apply`` consults it before the violation is part of it; for an appeal
    decision, after the decision is (so an overturned strike is already overturned).
    """

    def holds_content(self, content_id: str) -> bool:
        """Whether ``content_id`` already holds a standing (not overturned) warning or strike."""
        ...

    def active_strikes(self, at: datetime) -> list[StrikeRef]:
        """Standing strikes that have not expired at ``at``, oldest first."""
        ...

    def strike(self, violation_id: int) -> tuple[StrikeRef, RecordKind] | None:
        """A recorded violation as a strike reference, with the kind it was recorded as."""
        ...

    def is_overturned(self, violation_id: int) -> bool:
        """Whether the violation was overturned on appeal."""
        ...

    def appealed_violation(self, appeal_id: int) -> int | None:
        """The violation an appeal is about."""
        ...


@dataclass(frozen=True, slots=True)
class Effects:
    """What applying one ledger entry did.

    Attributes:
        kind, rule, expires_at: For a violation: what it was recorded as, why, and when it expires.
        issued: Penalties issued by this entry.
        lifted: Penalties lifted by it (with the lift filled in).
        kept: Penalties an overturn re-checked and kept (with their new basis).
        notifications: Messages for the account holder, in order.
        snapshot: The account's snapshot afterwards.
    """

    snapshot: Snapshot
    kind: RecordKind | None = None
    rule: RuleHit | None = None
    expires_at: datetime | None = None
    issued: tuple[Penalty, ...] = ()
    lifted: tuple[Penalty, ...] = ()
    kept: tuple[Penalty, ...] = ()
    notifications: tuple[Notification, ...] = ()


# --------------------------------------------------------------------------------------------------
# One step


def refuse_classifier_critical(record_policy: Policy, source: EventSource, policy: StrikePolicy) -> None:
    """Critical policies (instant bans) are raised by human moderators only.

    Raises:
        InvalidEventError: A classifier-sourced event names a critical policy.
    """
    if source is EventSource.CLASSIFIER and policy.is_critical(record_policy):
        raise InvalidEventError(
            f"{record_policy.value} is a critical policy, raised by moderators only; the classifier may "
            "not report it (send the content to human review instead)"
        )


def _prune(snap: Snapshot, at: datetime, policy: StrikePolicy) -> Snapshot:
    active = tuple(s for s in snap.active if s.expires_at > at)
    in_force = tuple(p for p in snap.in_force if p.ends_at is None or p.ends_at > at)
    # Thresholds that left the near-ban zone since the last entry (strikes expired) are re-armed.
    near = _near_keys(active, policy) if not snap.banned else set()
    armed = tuple(k for k in snap.armed if k in near)
    return replace(snap, active=active, in_force=in_force, armed=armed, clock=at)


def _counts(active: Iterable[StrikeRef]) -> tuple[Counter[Policy], Counter[Feature], int]:
    active = list(active)
    return Counter(s.policy for s in active), Counter(s.feature for s in active), len(active)


def _thresholds(policy: StrikePolicy) -> list[tuple[ThresholdScope, str, int]]:
    out = [
        (ThresholdScope.POLICY, p.value, rule.threshold)
        for p, rule in policy.policies.items()
        if rule.threshold is not None
    ]
    out += [(ThresholdScope.FEATURE, f.value, rule.threshold) for f, rule in policy.features.items()]
    out.append((ThresholdScope.CUMULATIVE, "all", policy.cumulative_threshold))
    return out


def _distances(active: Iterable[StrikeRef], policy: StrikePolicy) -> list[ThresholdDistance]:
    by_policy, by_feature, total = _counts(active)
    counted = {ThresholdScope.POLICY: by_policy, ThresholdScope.FEATURE: by_feature}
    out = []
    for scope, name, threshold in _thresholds(policy):
        if scope is ThresholdScope.CUMULATIVE:
            n = total
        else:
            n = sum(v for k, v in counted[scope].items() if k.value == name)
        out.append(ThresholdDistance(scope, name, n, threshold))
    return out


def _near_keys(active: Iterable[StrikeRef], policy: StrikePolicy) -> set[str]:
    return {
        f"{d.scope.value}:{d.name}"
        for d in _distances(active, policy)
        if 0 < d.remaining <= policy.near_ban_notice
    }


def _in_scope(ref: StrikeRef, hit: RuleHit) -> bool:
    match hit.rule:
        case Rule.POLICY_THRESHOLD:
            return ref.policy is hit.policy
        case Rule.FEATURE_THRESHOLD | Rule.RESTRICTION_LADDER:
            return ref.feature is hit.feature
    return True


def _threshold_hit(
    active: Sequence[StrikeRef], new: StrikeRef, policy: StrikePolicy
) -> tuple[RuleHit, tuple[StrikeRef, ...]] | None:
    """The ban rule the new strike's counts reach, with the strikes it counted, or None."""
    on_policy = [s for s in active if s.policy is new.policy]
    threshold = policy.policies[new.policy].threshold
    if threshold is not None and len(on_policy) >= threshold:
        hit = RuleHit(Rule.POLICY_THRESHOLD, new.policy, new.feature, len(on_policy), threshold)
        return hit, tuple(on_policy)
    on_feature = [s for s in active if s.feature is new.feature]
    threshold = policy.features[new.feature].threshold
    if len(on_feature) >= threshold:
        hit = RuleHit(Rule.FEATURE_THRESHOLD, new.policy, new.feature, len(on_feature), threshold)
        return hit, tuple(on_feature)
    if len(active) >= policy.cumulative_threshold:
        hit = RuleHit(
            Rule.CUMULATIVE_THRESHOLD, new.policy, new.feature, len(active), policy.cumulative_threshold
        )
        return hit, tuple(active)
    return None


def _any_threshold(
    strikes: Sequence[StrikeRef], policy: StrikePolicy
) -> tuple[RuleHit, tuple[StrikeRef, ...]] | None:
    """The first ban threshold that ``strikes`` reach (policies, then features, then cumulative)."""
    for p, rule in policy.policies.items():
        on = [s for s in strikes if s.policy is p]
        if rule.threshold is not None and len(on) >= rule.threshold:
            return RuleHit(Rule.POLICY_THRESHOLD, p, None, len(on), rule.threshold), tuple(on)
    for f, frule in policy.features.items():
        on = [s for s in strikes if s.feature is f]
        if len(on) >= frule.threshold:
            return RuleHit(Rule.FEATURE_THRESHOLD, None, f, len(on), frule.threshold), tuple(on)
    if len(strikes) >= policy.cumulative_threshold:
        hit = RuleHit(Rule.CUMULATIVE_THRESHOLD, None, None, len(strikes), policy.cumulative_threshold)
        return hit, tuple(strikes)
    return None


def _when(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _means(automated: bool) -> str:
    # DSA Art. 17(3)(c): the statement of reasons says whether automated means were used.
    if automated:
        return "Decided by automated means (the classifier); no person reviewed it."
    return "Decided with a human moderator's review."


class _Step:
    """Collects one entry's effects while it is applied."""

    def __init__(self, snap: Snapshot, at: datetime, seq: int, policy: StrikePolicy) -> None:
        self.snap = snap
        self.at = at
        self.seq = seq
        self.policy = policy
        self.issued: list[Penalty] = []
        self.lifted: list[Penalty] = []
        self.kept: list[Penalty] = []
        self.notes: list[Notification] = []

    def note(
        self,
        kind: NotificationKind,
        message: str,
        violation_id: int | None = None,
        penalty_no: int | None = None,
    ) -> None:
        self.notes.append(
            Notification(kind, self.snap.account_id, message, violation_id, penalty_no, self.at, self.seq)
        )

    def issue(
        self, kind: PenaltyKind, hit: RuleHit, triggered_by: int, basis: Sequence[StrikeRef], **extra: Any
    ) -> Penalty:
        automated = all(s.source is EventSource.CLASSIFIER for s in basis) and bool(basis)
        automated = extra.pop("automated", automated)
        no = self.snap.penalties_issued + 1
        penalty = Penalty(
            kind,
            self.at,
            hit,
            triggered_by,
            no=no,
            basis=tuple(s.id for s in basis),
            automated=automated,
            policy_version=self.policy.version,
            **extra,
        )
        self.snap = replace(self.snap, penalties_issued=no, in_force=(*self.snap.in_force, penalty))
        self.issued.append(penalty)
        self._announce(penalty)
        return penalty

    def _announce(self, p: Penalty) -> None:
        means = _means(p.automated)
        if p.kind is PenaltyKind.PERMANENT_BAN:
            reviewed = " Confirmed by moderator review." if p.reviewed_by else ""
            message = f"Account permanently banned: {p.rule.describe()}.{reviewed} {means}"
            self.note(NotificationKind.ACCOUNT_BANNED, message, p.triggered_by, p.no)
        elif p.kind is PenaltyKind.REVIEW_HOLD:
            message = (
                "Your account is restricted while a moderator reviews an automated ban: "
                f"{p.rule.describe()}. "
                f"{means} You will be told the outcome."
            )
            self.note(NotificationKind.BAN_HELD_FOR_REVIEW, message, p.triggered_by, p.no)
        else:
            feature = p.feature.value if p.feature else "?"
            ends = _when(p.ends_at) if p.ends_at else "further notice"
            message = f"{feature} restricted until {ends}: {p.rule.describe()}. {means}"
            self.note(NotificationKind.RESTRICTION_APPLIED, message, p.triggered_by, p.no)

    def lift(self, p: Penalty, cause: LiftCause, by: int, message: str) -> None:
        done = replace(p, lifted_at=self.at, lift_cause=cause, lifted_by=by)
        self.snap = replace(self.snap, in_force=tuple(q for q in self.snap.in_force if q.no != p.no))
        self.lifted.append(done)
        kind = (
            NotificationKind.RESTRICTION_LIFTED
            if p.kind is PenaltyKind.RESTRICTION
            else NotificationKind.BAN_LIFTED
        )
        self.note(kind, message, p.triggered_by, p.no)

    def near_ban(self, violation_id: int | None) -> None:
        """One notice per approach: only thresholds that were not already within reach."""
        if self.snap.banned:
            self.snap = replace(self.snap, armed=())
            return
        distances = [
            d
            for d in _distances(self.snap.active, self.policy)
            if 0 < d.remaining <= self.policy.near_ban_notice
        ]
        keys = {f"{d.scope.value}:{d.name}" for d in distances}
        fresh = keys - set(self.snap.armed)
        self.snap = replace(self.snap, armed=tuple(sorted(keys)))
        if not fresh:
            return
        closest = min(distances, key=lambda d: d.remaining)
        scope = "strikes in all" if closest.scope is ThresholdScope.CUMULATIVE else f"{closest.name} strikes"
        noun = "strike" if closest.remaining == 1 else "strikes"
        message = (
            f"This account is {closest.remaining} {noun} from a permanent ban "
            f"({closest.active} of {closest.threshold} {scope})."
        )
        self.note(NotificationKind.NEAR_BAN, message, violation_id)

    def leave_ban(self, history: History) -> None:
        """No ban or hold is in force any more: count the standing strikes again."""
        self.snap = replace(self.snap, active=tuple(history.active_strikes(self.at)), armed=())

    def effects(self, **extra: Any) -> Effects:
        return Effects(
            snapshot=replace(self.snap, seq=self.seq),
            issued=tuple(self.issued),
            lifted=tuple(self.lifted),
            kept=tuple(self.kept),
            notifications=tuple(self.notes),
            **extra,
        )


def effective_time(snap: Snapshot, entry: LedgerEntry) -> datetime:
    """When ``entry`` takes effect: its recording time, never before the previous entry's."""
    at = entry_time(entry)
    return at if snap.clock is None or at >= snap.clock else snap.clock


def apply(snap: Snapshot, entry: LedgerEntry, policy: StrikePolicy, history: History) -> Effects:
    """Apply one ledger entry to the account's snapshot and say what it did.

    Args:
        snap: The snapshot after the previous entry.
        entry: The new entry (its ``seq`` follows ``snap.seq``).
        policy: The policy in force when ``entry`` was recorded.
        history: The account's recorded history (see :class:`History`).
    """
    at = effective_time(snap, entry)
    step = _Step(_prune(snap, at, policy), at, entry.seq, policy)
    if isinstance(entry, ViolationRecord):
        return _apply_violation(step, entry, history)
    if isinstance(entry, AppealDecided):
        return _apply_appeal_decision(step, entry, history)
    if isinstance(entry, ModeratorAction):
        return _apply_action(step, entry, history)
    return step.effects()  # an appeal filed changes nothing until it is decided


def _apply_violation(step: _Step, record: ViolationRecord, history: History) -> Effects:
    event, policy = record.event, step.policy
    critical = policy.is_critical(event.policy)
    refuse_classifier_critical(event.policy, event.source, policy)
    expires_at = event.occurred_at + policy.strike_ttl
    ref = StrikeRef(record.id, event.policy, event.feature, event.source, event.occurred_at, expires_at)
    what = f"{event.policy.value} violation on {event.feature.value} (content {event.content_id})"
    means = _means(event.source is EventSource.CLASSIFIER)

    if not critical and history.holds_content(event.content_id):
        hit = RuleHit(Rule.SAME_CONTENT, event.policy, event.feature)
        return step.effects(kind=RecordKind.SAME_CONTENT, rule=hit, expires_at=expires_at)

    def strike_notice() -> None:
        counts = (
            f"It counts until {_when(expires_at)}." if expires_at > step.at else "It has already expired."
        )
        step.note(NotificationKind.STRIKE_ISSUED, f"Strike: {what}. {counts} {means}", record.id)

    banned = step.snap.banned
    if banned and not (critical and not any(p.kind is PenaltyKind.PERMANENT_BAN for p in step.snap.in_force)):
        hit = RuleHit(Rule.ALREADY_BANNED, event.policy, event.feature)
        strike_notice()
        return step.effects(kind=RecordKind.STRIKE, rule=hit, expires_at=expires_at)
    if critical:
        hit = RuleHit(Rule.INSTANT_BAN, event.policy, event.feature)
        strike_notice()
        for hold in [p for p in step.snap.in_force if p.kind is PenaltyKind.REVIEW_HOLD]:
            step.lift(
                hold,
                LiftCause.REVIEW_CONFIRMED,
                record.id,
                "The review hold on your account ends: it is banned instead.",
            )
        step.issue(PenaltyKind.PERMANENT_BAN, hit, record.id, (ref,), automated=False)
        step.snap = replace(step.snap, active=())
        step.near_ban(record.id)
        return step.effects(kind=RecordKind.STRIKE, rule=hit, expires_at=expires_at)
    if policy.first_violation_warning and step.snap.warning_id is None:
        hit = RuleHit(Rule.FIRST_VIOLATION_WARNING, event.policy, event.feature)
        step.snap = replace(step.snap, warning_id=record.id)
        step.note(
            NotificationKind.WARNING_ISSUED,
            f"Warning: {what}. This first violation does not count; further violations earn strikes. {means}",
            record.id,
        )
        return step.effects(kind=RecordKind.WARNING, rule=hit, expires_at=expires_at)

    hit = RuleHit(Rule.STRIKE, event.policy, event.feature)
    strike_notice()
    if expires_at <= step.at:  # recorded after it would have expired: on file, counts nothing
        return step.effects(kind=RecordKind.STRIKE, rule=hit, expires_at=expires_at)
    active = (*step.snap.active, ref)
    step.snap = replace(step.snap, active=active)
    ban = _threshold_hit(active, ref, policy)
    if ban is not None:
        ban_hit, basis = ban
        automated = all(s.source is EventSource.CLASSIFIER for s in basis)
        if automated and policy.automated_bans is AutomatedBans.HOLD_FOR_REVIEW:
            step.issue(PenaltyKind.REVIEW_HOLD, ban_hit, record.id, basis)
        else:
            step.issue(PenaltyKind.PERMANENT_BAN, ban_hit, record.id, basis)
        step.snap = replace(step.snap, active=())
        step.near_ban(record.id)
        return step.effects(kind=RecordKind.STRIKE, rule=hit, expires_at=expires_at)
    on_feature = [s for s in active if s.feature is event.feature]
    rung = policy.features[event.feature].step_for(len(on_feature))
    if rung is not None:
        step_no, rung_step = rung
        ladder = RuleHit(
            Rule.RESTRICTION_LADDER,
            event.policy,
            event.feature,
            count=len(on_feature),
            threshold=rung_step.after_strikes,
            step=step_no,
        )
        step.issue(
            PenaltyKind.RESTRICTION,
            ladder,
            record.id,
            on_feature,
            feature=event.feature,
            ends_at=step.at + rung_step.duration,
            step=step_no,
        )
    step.near_ban(record.id)
    return step.effects(kind=RecordKind.STRIKE, rule=hit, expires_at=expires_at)


def _apply_appeal_decision(step: _Step, decided: AppealDecided, history: History) -> Effects:
    violation_id = history.appealed_violation(decided.appeal_id)
    if decided.outcome is AppealOutcome.UPHOLD:
        step.note(
            NotificationKind.APPEAL_UPHELD,
            f"Your appeal of strike {violation_id} was reviewed by a moderator: the strike stands.",
            violation_id,
        )
        return step.effects()
    if violation_id is None:  # pragma: no cover - histories know their appeals
        raise InvalidEventError(f"appeal {decided.appeal_id} is not in this ledger")
    looked_up = history.strike(violation_id)
    if looked_up is None:
        raise InvalidEventError(
            f"appeal {decided.appeal_id} overturns violation {violation_id}, which is not in this ledger"
        )
    _, kind = looked_up
    noun = "warning" if kind is RecordKind.WARNING else "strike"
    step.note(
        NotificationKind.STRIKE_OVERTURNED,
        f"Your appeal of {noun} {violation_id} succeeded: the {noun} no longer counts.",
        violation_id,
    )
    if step.snap.warning_id == violation_id:
        step.snap = replace(step.snap, warning_id=None)
    step.snap = replace(step.snap, active=tuple(s for s in step.snap.active if s.id != violation_id))
    _recheck(step, violation_id, decided.appeal_id, history)
    return step.effects()


def _recheck(step: _Step, violation_id: int, appeal_id: int, history: History) -> None:
    """Re-check every penalty in force that rested on the overturned strike: keep it or lift it."""
    was_banned = step.snap.banned
    now_active = list(history.active_strikes(step.at)) if was_banned else list(step.snap.active)
    for penalty in list(step.snap.in_force):
        if violation_id not in penalty.basis:
            continue
        remaining = [r for vid in penalty.basis if vid != violation_id and (r := _standing(history, vid))]
        candidates = list({s.id: s for s in [*remaining, *now_active]}.values())
        basis = _justified(penalty, candidates, step.policy)
        if basis is not None:
            kept = replace(penalty, basis=tuple(s.id for s in basis))
            step.snap = replace(
                step.snap, in_force=tuple(kept if q.no == penalty.no else q for q in step.snap.in_force)
            )
            step.kept.append(kept)
            what = (
                "your account stays banned"
                if penalty.kind is PenaltyKind.PERMANENT_BAN
                else (
                    "your account stays restricted pending review"
                    if penalty.kind is PenaltyKind.REVIEW_HOLD
                    else f"your {penalty.feature.value if penalty.feature else '?'} restriction stays"
                )
            )
            step.note(
                NotificationKind.PENALTY_KEPT,
                f"Strike {violation_id} no longer counts, but {what}: the remaining strikes still justify it "
                f"({len(basis)} counted).",
                penalty.triggered_by,
                penalty.no,
            )
            continue
        if penalty.kind is PenaltyKind.RESTRICTION:
            message = f"Your {penalty.feature.value if penalty.feature else '?'} restriction is lifted."
        elif penalty.kind is PenaltyKind.REVIEW_HOLD:
            message = "The restriction of your account pending review is lifted."
        else:
            message = "Your account's ban is lifted."
        step.lift(penalty, LiftCause.APPEAL_OVERTURNED, appeal_id, message)
    if was_banned and not step.snap.banned:
        step.leave_ban(history)
    step.near_ban(None)


def _standing(history: History, violation_id: int) -> StrikeRef | None:
    found = history.strike(violation_id)
    if found is None or found[1] is not RecordKind.STRIKE or history.is_overturned(violation_id):
        return None
    return found[0]


def _justified(
    penalty: Penalty, candidates: list[StrikeRef], policy: StrikePolicy
) -> tuple[StrikeRef, ...] | None:
    if penalty.kind is PenaltyKind.RESTRICTION:
        on = tuple(s for s in candidates if s.feature is penalty.feature)
        needed = penalty.rule.threshold or 1
        return on if len(on) >= needed else None
    if penalty.rule.rule is Rule.INSTANT_BAN:
        critical = tuple(s for s in candidates if policy.policies[s.policy].threshold is None)
        return critical or None
    hit = _any_threshold(candidates, policy)
    return hit[1] if hit is not None else None


def _apply_action(step: _Step, action: ModeratorAction, history: History) -> Effects:
    target = next((p for p in step.snap.in_force if p.no == action.penalty_no), None)
    if target is None:
        raise PenaltyNotFoundError(
            f"account {action.account_id} has no penalty {action.penalty_no} in force; "
            "see its penalty_history"
        )
    was_banned = step.snap.banned
    reason = f" Reason: {action.reason}" if action.reason else ""
    if action.kind is ActionKind.REVERSE_PENALTY:
        step.lift(
            target,
            LiftCause.MODERATOR_REVERSAL,
            action.id,
            f"A moderator reversed your {target.kind.value.replace('_', ' ')}.{reason}",
        )
    else:
        if target.kind is not PenaltyKind.REVIEW_HOLD:
            raise ConflictError(
                f"penalty {action.penalty_no} is a {target.kind.value}, not a review hold; only automated "
                "bans held for review can be confirmed or rejected"
            )
        if action.kind is ActionKind.CONFIRM_BAN:
            step.snap = replace(step.snap, in_force=tuple(q for q in step.snap.in_force if q.no != target.no))
            step.lifted.append(
                replace(target, lifted_at=step.at, lift_cause=LiftCause.REVIEW_CONFIRMED, lifted_by=action.id)
            )
            refs = [r for vid in target.basis if (r := _standing(history, vid))]
            step.issue(
                PenaltyKind.PERMANENT_BAN,
                target.rule,
                target.triggered_by,
                refs,
                automated=False,
                reviewed_by=action.moderator,
            )
        else:
            step.lift(
                target,
                LiftCause.REVIEW_REJECTED,
                action.id,
                "A moderator reviewed the automated ban and rejected it: your account is no longer "
                f"restricted.{reason}",
            )
    if was_banned and not step.snap.banned:
        step.leave_ban(history)
    step.near_ban(None)
    return step.effects()


# --------------------------------------------------------------------------------------------------
# The full replay


@dataclass
class _Recorded:
    record: ViolationRecord
    kind: RecordKind
    rule: RuleHit
    expires_at: datetime
    ref: StrikeRef
    overturned_at: datetime | None = None


@dataclass
class Replay:
    """A whole ledger folded from an empty snapshot (also a :class:`History` while it runs)."""

    account_id: str
    snapshot: Snapshot
    records: dict[int, _Recorded] = field(default_factory=dict)
    penalties: dict[int, Penalty] = field(default_factory=dict)
    appeals: dict[int, AppealFiled] = field(default_factory=dict)
    decisions: dict[int, AppealDecided] = field(default_factory=dict)
    actions: list[ModeratorAction] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    effects: dict[int, Effects] = field(default_factory=dict)  # by seq

    # History
    def holds_content(self, content_id: str) -> bool:
        return any(
            r.record.event.content_id == content_id
            and r.kind in (RecordKind.WARNING, RecordKind.STRIKE)
            and r.overturned_at is None
            for r in self.records.values()
        )

    def active_strikes(self, at: datetime) -> list[StrikeRef]:
        return [
            r.ref
            for r in self.records.values()
            if r.kind is RecordKind.STRIKE and r.overturned_at is None and r.expires_at > at
        ]

    def strike(self, violation_id: int) -> tuple[StrikeRef, RecordKind] | None:
        found = self.records.get(violation_id)
        return (found.ref, found.kind) if found else None

    def is_overturned(self, violation_id: int) -> bool:
        found = self.records.get(violation_id)
        return found is not None and found.overturned_at is not None

    def appealed_violation(self, appeal_id: int) -> int | None:
        appeal = self.appeals.get(appeal_id)
        return appeal.violation_id if appeal else None


PolicySource = StrikePolicy | Mapping[str, StrikePolicy]


def policy_for(
    entry: LedgerEntry, policy: StrikePolicy, policies: Mapping[str, StrikePolicy] | None
) -> StrikePolicy:
    """The policy ``entry`` was decided under: its recorded version, else ``policy``."""
    version = entry.policy_version if not isinstance(entry, AppealFiled) else None
    if version and policies and version in policies:
        return policies[version]
    return policy


def replay(
    entries: Iterable[LedgerEntry],
    policy: StrikePolicy,
    *,
    account_id: str | None = None,
    known_at: datetime | None = None,
    policies: Mapping[str, StrikePolicy] | None = None,
) -> Replay:
    """Fold an account's ledger (in ``seq`` order) from an empty snapshot.

    Args:
        entries: The account's ledger entries, in any order.
        policy: The policy for entries that do not name a known version.
        account_id: The account, needed only when ``entries`` is empty.
        known_at: Fold only the entries recorded by then (what the system knew at that instant).
        policies: Earlier policy versions by ``version``, for entries decided under them.
    """
    entries = sorted(entries, key=lambda e: e.seq)
    account = _account_of(entries, account_id)
    if known_at is not None:
        require_aware(known_at, "known_at")
    state = Replay(account, Snapshot(account))
    for entry in entries:
        if known_at is not None and entry_time(entry) > known_at:
            break
        step_policy = policy_for(entry, policy, policies)
        at = effective_time(state.snapshot, entry)
        if isinstance(entry, AppealFiled):
            if entry.violation_id not in state.records:
                raise InvalidEventError(
                    f"ledger of {account}: appeal {entry.id} of unknown violation {entry.violation_id}"
                )
            state.appeals[entry.id] = entry
        elif isinstance(entry, AppealDecided):
            appeal = state.appeals.get(entry.appeal_id)
            if appeal is None:
                raise InvalidEventError(
                    f"ledger of {account}: decision for appeal {entry.appeal_id}, which was never filed"
                )
            state.decisions[entry.appeal_id] = entry
            if entry.outcome is AppealOutcome.OVERTURN:
                target = state.records[appeal.violation_id]
                if target.overturned_at is not None:  # pragma: no cover - one appeal per strike
                    raise InvalidEventError(
                        f"ledger of {account}: violation {appeal.violation_id} overturned twice"
                    )
                target.overturned_at = at
        elif isinstance(entry, ModeratorAction):
            state.actions.append(entry)
        effects = apply(state.snapshot, entry, step_policy, state)
        if isinstance(entry, ViolationRecord):
            assert effects.kind is not None and effects.rule is not None and effects.expires_at is not None
            event = entry.event
            ref = StrikeRef(
                entry.id, event.policy, event.feature, event.source, event.occurred_at, effects.expires_at
            )
            state.records[entry.id] = _Recorded(entry, effects.kind, effects.rule, effects.expires_at, ref)
        for penalty in (*effects.issued, *effects.lifted):
            state.penalties[penalty.no] = penalty
        state.notifications.extend(effects.notifications)
        state.snapshot = effects.snapshot
        state.effects[entry.seq] = effects
    return state


def _account_of(entries: Sequence[LedgerEntry], account_id: str | None) -> str:
    accounts = {e.account_id for e in entries}
    if account_id is not None:
        accounts.add(account_id)
    if len(accounts) > 1:
        raise InvalidEventError(f"a ledger holds one account's entries; got {sorted(accounts)}")
    if not accounts:
        raise InvalidEventError("account_id is required to evaluate an empty ledger")
    return accounts.pop()


# --------------------------------------------------------------------------------------------------
# Views


def view(
    folded: Replay, as_of: datetime, policy: StrikePolicy, *, known_at: datetime | None = None
) -> AccountState:
    """The account's state at ``as_of`` from a folded ledger.

    Records that occurred by ``as_of``, penalties issued by then (lifts and ends applied as of then),
    appeals filed and decided by then, and distances from the strikes active at ``as_of``.
    """
    require_aware(as_of, "as_of")
    appeal_views = {
        a.id: _appeal_view(a, d if (d := folded.decisions.get(a.id)) and d.occurred_at <= as_of else None)
        for a in folded.appeals.values()
        if a.occurred_at <= as_of
    }
    by_violation = {a.violation_id: a for a in appeal_views.values()}
    records = []
    for vid, rec in folded.records.items():
        event = rec.record.event
        if event.occurred_at > as_of:
            continue
        overturned = rec.overturned_at is not None and rec.overturned_at <= as_of
        if overturned:
            status = StrikeStatus.OVERTURNED
        else:
            status = StrikeStatus.ACTIVE if as_of < rec.expires_at else StrikeStatus.EXPIRED
        records.append(
            StrikeView(
                violation_id=vid,
                policy=event.policy,
                feature=event.feature,
                content_id=event.content_id,
                source=event.source,
                occurred_at=event.occurred_at,
                expires_at=rec.expires_at,
                kind=rec.kind,
                status=status,
                rule=rec.rule,
                appeal=by_violation.get(vid),
                overturned_at=rec.overturned_at if overturned else None,
                recorded_at=rec.record.recorded_at,
                policy_version=rec.record.policy_version or policy.version,
            )
        )
    penalties = []
    for p in folded.penalties.values():
        if p.starts_at > as_of:
            continue
        if p.lifted_at is not None and p.lifted_at > as_of:
            p = replace(p, lifted_at=None, lift_cause=None, lifted_by=None)
        penalties.append(p)
    penalties.sort(key=lambda p: (p.starts_at, p.no))
    active = [
        folded.records[r.violation_id].ref
        for r in records
        if r.kind is RecordKind.STRIKE and r.status is StrikeStatus.ACTIVE
    ]
    return AccountState(
        account_id=folded.account_id,
        as_of=as_of,
        records=tuple(records),
        penalties=tuple(penalties),
        distances=tuple(_distances(active, policy)),
        appeals=tuple(sorted(appeal_views.values(), key=lambda a: (a.filed_at, a.id))),
        known_at=known_at,
        notifications=tuple(n for n in folded.notifications if n.at is None or n.at <= as_of),
    )


def summary(snap: Snapshot, at: datetime, policy: StrikePolicy) -> AccountState:
    """The account's standing at ``at`` from its snapshot alone (O(1)): penalties in force and, unless
    a ban or hold is in force, the distance to each threshold. ``records`` and ``appeals`` are empty:
    the full history comes from :func:`evaluate`."""
    pruned = _prune(snap, at, policy) if snap.clock is None or at >= snap.clock else snap
    distances = () if pruned.banned else tuple(_distances(pruned.active, policy))
    return AccountState(
        account_id=snap.account_id,
        as_of=at,
        records=(),
        penalties=pruned.in_force,
        distances=distances,
        appeals=(),
    )


def evaluate(
    entries: Iterable[LedgerEntry],
    policy: StrikePolicy,
    as_of: datetime,
    *,
    account_id: str | None = None,
    known_at: datetime | None = None,
    policies: Mapping[str, StrikePolicy] | None = None,
) -> AccountState:
    """One account's state at ``as_of`` (what was true then) as known at ``known_at`` (default: all).

    Args:
        entries: The account's ledger entries, in any order.
        policy: The current strike policy (and the one for entries naming no known version).
        as_of: The instant to describe (timezone-aware).
        account_id: The account, needed only when ``entries`` is empty.
        known_at: Use only the entries recorded by then.
        policies: Earlier policy versions, by version.
    """
    require_aware(as_of, "as_of")
    folded = replay(entries, policy, account_id=account_id, known_at=known_at, policies=policies)
    return view(folded, as_of, policy, known_at=known_at)


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


# --------------------------------------------------------------------------------------------------
# Decisions over an in-memory ledger (the service does the same over the stored snapshot)


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


def decision_of(record_id: int, effects: Effects, state: AccountState) -> Decision:
    """The :class:`Decision` for a violation's effects: the most severe of its kind and penalties."""
    assert effects.kind is not None and effects.rule is not None
    kind, hit = _RECORD_DECISION[effects.kind], effects.rule
    for penalty in effects.issued:
        candidate = _PENALTY_DECISION[penalty.kind]
        if candidate.rank > kind.rank:
            kind, hit = candidate, penalty.rule
    return Decision(kind, hit, record_id, effects.issued, effects.notifications, state)


def _horizon(entries: Iterable[LedgerEntry], as_of: datetime | None) -> datetime:
    instants = [entry_time(e) for e in entries]
    instants += [e.occurred_at for e in entries if isinstance(e, ViolationRecord)]
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

    Returns:
        ``duplicate`` (with the original's notifications) if the ledger already holds this
        (content id, policy), else the most severe of the record's own outcome and the penalties it
        issues, with the rule behind it, the notifications and the state at ``as_of`` (default: the
        latest instant in the ledger).
    """
    horizon = _horizon([*ledger, record], as_of)
    existing = find_duplicate(ledger, record)
    if existing is not None:
        folded = replay(ledger, policy, account_id=record.account_id)
        hit = RuleHit(Rule.DUPLICATE_EVENT, record.event.policy, record.event.feature)
        original = folded.effects[existing.seq]
        first = decision_of(existing.id, original, view(folded, horizon, policy))
        return Decision(
            DecisionKind.DUPLICATE, hit, existing.id, (), original.notifications, first.state, first.kind
        )
    folded = replay([*ledger, record], policy)
    return decision_of(record.id, folded.effects[record.seq], view(folded, horizon, policy))


def check_appealable(
    ledger: Iterable[LedgerEntry], violation_id: int, at: datetime, *, window: Any = None
) -> ViolationRecord:
    """Return the violation ``violation_id`` if it can be appealed at ``at``.

    Raises:
        StrikeNotFoundError: No such violation in this ledger.
        AppealAlreadyFiledError: It was appealed before (an account can appeal a strike once).
        AppealWindowClosedError: ``window`` (a timedelta) has passed since it was recorded.
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
    check_window(record, at, window)
    if at < record.occurred_at:
        raise InvalidEventError(
            f"an appeal filed at {at.isoformat()} predates strike {violation_id} "
            f"({record.occurred_at.isoformat()})"
        )
    return record


def check_window(record: ViolationRecord, at: datetime, window: Any) -> None:
    """Refuse an appeal filed more than ``window`` after the strike was recorded (the account was told)."""
    if window is not None and at > record.recorded_at + window:
        raise AppealWindowClosedError(
            f"strike {record.id} was recorded {record.recorded_at.date().isoformat()}; appeals close "
            f"{window.days} days later ({(record.recorded_at + window).date().isoformat()})"
        )


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
    """Work out what a moderator's appeal decision does (over an in-memory ledger).

    Returns:
        The decided appeal, the penalties an overturn lifted and kept, and the notifications.
    """
    horizon = _horizon([*ledger, decided], as_of)
    folded = replay([*ledger, decided], policy)
    effects = folded.effects[decided.seq]
    state = view(folded, horizon, policy)
    appeal = next(a for a in state.appeals if a.id == decided.appeal_id)
    return AppealResolution(appeal, effects.lifted, effects.notifications, state, effects.kept)


def act(ledger: Sequence[LedgerEntry], action: ModeratorAction, policy: StrikePolicy) -> ActionResult:
    """Work out what a moderator's action on a penalty does (over an in-memory ledger)."""
    folded = replay([*ledger, action], policy)
    effects = folded.effects[action.seq]
    state = view(folded, _horizon([*ledger, action], None), policy)
    return ActionResult(action, effects.lifted, effects.issued, effects.notifications, state)
