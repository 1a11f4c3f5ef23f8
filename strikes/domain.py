"""The strike engine's vocabulary: enums, ledger entries, account state and decisions.

Everything here is plain Python (frozen dataclasses and enums): no database, no FastAPI. The ledger
is append-only and holds three kinds of entries, each with a per-account sequence number ``seq``:

* :class:`ViolationRecord`: a violation was recorded (by the classifier or a moderator);
* :class:`AppealFiled`: the account appealed one violation record;
* :class:`AppealDecided`: a moderator upheld or overturned that appeal.

Account state (:class:`AccountState`) and decisions (:class:`Decision`) are derived from the ledger by
:mod:`strikes.engine`; they are never stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType

from data.taxonomy import Label, Surface
from strikes.errors import InvalidEventError


class Policy(StrEnum):
    """What a violation broke: the four classifier labels plus severe categories moderators raise."""

    BULLYING = Label.BULLYING.value
    SEXUAL_SOLICITATION = Label.SEXUAL_SOLICITATION.value
    PITY_BAIT = Label.PITY_BAIT.value
    OFF_PLATFORM_REDIRECTION = Label.OFF_PLATFORM_REDIRECTION.value
    CHILD_SEXUAL_EXPLOITATION = "child_sexual_exploitation"
    VIOLENT_THREAT = "violent_threat"  # violent threats and the promotion of violence
    REAL_WORLD_VIOLENCE = "real_world_violence"  # depictions of real-world violence or torture


class Feature(StrEnum):
    """The product feature a violation happened on; each has its own threshold and restrictions."""

    COMMENT = "comment"
    LIVE = "live"


#: Where the classifier saw a message -> the feature a strike lands on.
FEATURE_BY_SURFACE: Mapping[Surface, Feature] = MappingProxyType(
    {Surface.COMMENT: Feature.COMMENT, Surface.LIVE_CHAT: Feature.LIVE}
)


def policy_for_label(label: Label | str) -> Policy:
    """Return the policy enforcing a classifier label (same value, by construction)."""
    return Policy(Label(label).value)


def feature_for_surface(surface: Surface | str) -> Feature:
    """Return the feature a message on ``surface`` belongs to (``live_chat`` -> ``live``)."""
    return FEATURE_BY_SURFACE[Surface(surface)]


class Severity(StrEnum):
    """How harmful a policy is. ``critical`` policies ban on the first violation."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``low`` up to 3 for ``critical``."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


class EventSource(StrEnum):
    """Who found the violation."""

    CLASSIFIER = "classifier"
    MODERATOR = "moderator"


class DecisionKind(StrEnum):
    """What ingesting one violation did to the account, from least to most severe."""

    DUPLICATE = "duplicate"  # the same event was already recorded: nothing changed
    NONE = "none"  # recorded, but its content already holds a warning or strike: no new strike
    WARNING = "warning"  # the account's first violation: recorded, does not count
    STRIKE = "strike"
    RESTRICTION = "restriction"
    BAN_HELD_FOR_REVIEW = "ban_held_for_review"  # an automated ban waiting for a moderator
    PERMANENT_BAN = "permanent_ban"

    @property
    def rank(self) -> int:
        return _DECISION_ORDER.index(self)


_DECISION_ORDER = tuple(DecisionKind)


class RecordKind(StrEnum):
    """How the replay classified one violation record."""

    WARNING = "warning"
    STRIKE = "strike"
    SAME_CONTENT = "same_content"  # the content already holds a warning or strike; counts nothing


class StrikeStatus(StrEnum):
    """Where a violation record stands at ``as_of``."""

    ACTIVE = "active"  # within 90 days of the violation and not overturned
    EXPIRED = "expired"
    OVERTURNED = "overturned"


class Rule(StrEnum):
    """The rule behind a decision or a penalty."""

    DUPLICATE_EVENT = "duplicate_event"
    SAME_CONTENT = "same_content"
    FIRST_VIOLATION_WARNING = "first_violation_warning"
    STRIKE = "strike"
    ALREADY_BANNED = "already_banned"
    RESTRICTION_LADDER = "restriction_ladder"
    POLICY_THRESHOLD = "policy_threshold"
    FEATURE_THRESHOLD = "feature_threshold"
    CUMULATIVE_THRESHOLD = "cumulative_threshold"
    INSTANT_BAN = "instant_ban"


class PenaltyKind(StrEnum):
    RESTRICTION = "restriction"
    PERMANENT_BAN = "permanent_ban"
    #: A ban that only classifier strikes triggered, under ``automated_bans: hold_for_review``: every
    #: feature is restricted until a moderator confirms (a ban follows) or rejects it.
    REVIEW_HOLD = "review_hold"


class PenaltyStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # a restriction that ran its course
    LIFTED = "lifted"  # an explicit, recorded reversal ended it (see LiftCause)


class LiftCause(StrEnum):
    """Why a penalty was lifted. Every lift is a recorded, notified event; nothing else lifts."""

    APPEAL_OVERTURNED = "appeal_overturned"  # a strike it depended on was overturned on appeal
    MODERATOR_REVERSAL = "moderator_reversal"  # a moderator reversed it, with a reason
    REVIEW_CONFIRMED = "review_confirmed"  # a review hold that a moderator turned into a ban
    REVIEW_REJECTED = "review_rejected"  # a review hold that a moderator rejected


class ActionKind(StrEnum):
    """A moderator's action on a penalty (besides appeal decisions)."""

    REVERSE_PENALTY = "reverse_penalty"  # lift a restriction, ban or hold, with a reason
    CONFIRM_BAN = "confirm_ban"  # turn an automated ban's review hold into a permanent ban
    REJECT_BAN = "reject_ban"  # reject an automated ban: the hold is lifted


class AutomatedBans(StrEnum):
    """What happens when only classifier strikes (no human) would ban an account."""

    HOLD_FOR_REVIEW = "hold_for_review"
    ENFORCE = "enforce"


class AppealOutcome(StrEnum):
    """A moderator's verdict on an appeal."""

    UPHOLD = "uphold"
    OVERTURN = "overturn"


class AppealStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class ThresholdScope(StrEnum):
    POLICY = "policy"
    FEATURE = "feature"
    CUMULATIVE = "cumulative"


class NotificationKind(StrEnum):
    """Messages the platform should deliver to the account holder."""

    WARNING_ISSUED = "warning_issued"
    STRIKE_ISSUED = "strike_issued"
    RESTRICTION_APPLIED = "restriction_applied"
    ACCOUNT_BANNED = "account_banned"
    NEAR_BAN = "near_ban"
    APPEAL_UPHELD = "appeal_upheld"
    STRIKE_OVERTURNED = "strike_overturned"
    RESTRICTION_LIFTED = "restriction_lifted"
    BAN_LIFTED = "ban_lifted"
    BAN_HELD_FOR_REVIEW = "ban_held_for_review"
    PENALTY_KEPT = "penalty_kept"  # an overturn left enough strikes for the penalty to stand
    REPORT_RESOLVED = "report_resolved"


def require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEventError(
            f"{name} must be a timezone-aware datetime, got {value!r}; e.g. 2024-05-01T12:00:00+00:00"
        )
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise InvalidEventError(
            f"{name} {value.isoformat()} is out of range once converted to UTC; send a real date"
        ) from None


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (NUL bytes, lone surrogates), or None."""
    if "\x00" in value:
        return "contains a NUL byte (\\u0000), which the database cannot store; remove it"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate); send UTF-8 text"
    return None


def require_text(value: object, name: str, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise InvalidEventError(f"{name} is {len(value)} characters long; the limit is {max_length}")
    problem = text_problem(value)
    if problem is not None:
        raise InvalidEventError(f"{name} {problem}")


#: Column widths shared by the validation here and the database schema.
MAX_ACCOUNT_ID = 128
MAX_CONTENT_ID = 256
MAX_ACTOR = 128


@dataclass(frozen=True, slots=True)
class ViolationEvent:
    """One violation as reported, before it is recorded.

    Attributes:
        account_id: The offending account.
        policy: The policy broken.
        feature: Where it happened (``comment`` or ``live``).
        content_id: The offending content; one content id never strikes twice.
        occurred_at: When the violation happened (timezone-aware); strikes expire from this time.
            None: when it is recorded (the service fills it in under the account's lock).
        source: ``classifier`` or ``moderator``.
        evidence: Classifier scores by label name (or a moderator's own), kept for audit.
        actor: The moderator id or the model name that reported it.
    """

    account_id: str
    policy: Policy
    feature: Feature
    content_id: str
    occurred_at: datetime | None
    source: EventSource
    evidence: Mapping[str, float] = field(default_factory=dict)
    actor: str | None = None

    def __post_init__(self) -> None:
        require_text(self.account_id, "account_id", MAX_ACCOUNT_ID)
        require_text(self.content_id, "content_id", MAX_CONTENT_ID)
        if self.occurred_at is not None:
            require_aware(self.occurred_at, "occurred_at")
        if self.actor is not None:
            require_text(self.actor, "actor", MAX_ACTOR)
        # Coerce once so callers may pass plain strings from JSON.
        for name, enum in (("policy", Policy), ("feature", Feature), ("source", EventSource)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                allowed = ", ".join(m.value for m in enum)
                raise InvalidEventError(f"unknown {name} {value!r}; expected one of {allowed}") from None
        for key, score in self.evidence.items():
            if not isinstance(key, str) or isinstance(score, bool) or not isinstance(score, (int, float)):
                raise InvalidEventError(f"evidence must map names to numbers, got {key!r}: {score!r}")
            if not math.isfinite(score):
                raise InvalidEventError(f"evidence[{key!r}] is {score!r}; scores must be finite numbers")
            if (problem := text_problem(key)) is not None:
                raise InvalidEventError(f"evidence key {key!r} {problem}")


@dataclass(frozen=True, slots=True)
class ViolationRecord:
    """Ledger entry: a violation was recorded with id ``id`` at ledger position ``seq``.

    ``recorded_at`` is when the system learnt of it: penalties are decided then (never back-dated),
    while the strike's expiry runs from ``event.occurred_at``. ``policy_version`` names the policy
    that decided it (None: the policy the replay is given).
    """

    id: int
    seq: int
    event: ViolationEvent
    recorded_at: datetime
    policy_version: str | None = None

    @property
    def account_id(self) -> str:
        return self.event.account_id

    @property
    def occurred_at(self) -> datetime:
        return self.event.occurred_at  # type: ignore[return-value]  # recorded events have a time


@dataclass(frozen=True, slots=True)
class AppealFiled:
    """Ledger entry: the account appealed violation ``violation_id`` at ``occurred_at``."""

    id: int
    seq: int
    account_id: str
    violation_id: int
    occurred_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class AppealDecided:
    """Ledger entry: a moderator decided appeal ``appeal_id`` at ``occurred_at``."""

    appeal_id: int
    seq: int
    account_id: str
    outcome: AppealOutcome
    occurred_at: datetime
    moderator: str
    note: str | None = None
    policy_version: str | None = None


@dataclass(frozen=True, slots=True)
class ModeratorAction:
    """Ledger entry: a moderator acted on the account's penalty number ``penalty_no``.

    Reversals need a reason; confirming or rejecting an automated ban's review hold may carry one.
    """

    id: int
    seq: int
    account_id: str
    kind: ActionKind
    penalty_no: int
    occurred_at: datetime
    moderator: str
    reason: str | None = None
    policy_version: str | None = None


LedgerEntry = ViolationRecord | AppealFiled | AppealDecided | ModeratorAction


def entry_time(entry: LedgerEntry) -> datetime:
    """When the system recorded ``entry`` (for violations, not when the violation happened)."""
    return entry.recorded_at if isinstance(entry, ViolationRecord) else entry.occurred_at


@dataclass(frozen=True, slots=True)
class RuleHit:
    """The rule that produced an outcome, with the numbers that triggered it."""

    rule: Rule
    policy: Policy | None = None
    feature: Feature | None = None
    count: int | None = None
    threshold: int | None = None
    step: int | None = None

    def describe(self) -> str:
        """One English sentence for logs, API responses and notifications."""
        policy = self.policy.value if self.policy else "?"
        feature = self.feature.value if self.feature else "?"
        match self.rule:
            case Rule.DUPLICATE_EVENT:
                return "this event was already recorded; nothing changed"
            case Rule.SAME_CONTENT:
                return "this content already holds a warning or strike; it does not strike twice"
            case Rule.FIRST_VIOLATION_WARNING:
                return "first violation on this account: a warning that does not count toward bans"
            case Rule.STRIKE:
                return f"{policy} strike on {feature}"
            case Rule.ALREADY_BANNED:
                return f"{policy} strike on {feature} recorded; the account is already banned"
            case Rule.RESTRICTION_LADDER:
                return (
                    f"{self.count} active strikes on {feature} reached restriction step {self.step} "
                    f"(from {self.threshold} strikes)"
                )
            case Rule.POLICY_THRESHOLD:
                return (
                    f"{self.count} active {policy} strikes reached the {policy} ban threshold "
                    f"of {self.threshold}"
                )
            case Rule.FEATURE_THRESHOLD:
                return (
                    f"{self.count} active strikes on {feature} reached the {feature} ban threshold "
                    f"of {self.threshold}"
                )
            case Rule.CUMULATIVE_THRESHOLD:
                return (
                    f"{self.count} active strikes in all reached the cumulative ban threshold "
                    f"of {self.threshold}"
                )
            case Rule.INSTANT_BAN:
                return f"{policy} is a critical policy: one violation bans the account"
        return self.rule.value  # pragma: no cover - every rule is matched above


@dataclass(frozen=True, slots=True)
class AppealView:
    """An appeal as seen at ``as_of``."""

    id: int
    violation_id: int
    filed_at: datetime
    reason: str
    status: AppealStatus
    decided_at: datetime | None = None
    moderator: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StrikeView:
    """One violation record as seen at ``as_of``: warning, strike or same-content, and its status."""

    violation_id: int
    policy: Policy
    feature: Feature
    content_id: str
    source: EventSource
    occurred_at: datetime
    expires_at: datetime
    kind: RecordKind
    status: StrikeStatus
    rule: RuleHit
    appeal: AppealView | None = None
    overturned_at: datetime | None = None
    recorded_at: datetime | None = None
    policy_version: str | None = None

    @property
    def counts(self) -> bool:
        """True when this record counts toward thresholds at ``as_of``."""
        return self.kind is RecordKind.STRIKE and self.status is StrikeStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class Penalty:
    """An issued decision: a restriction (with an end), a permanent ban or a review hold.

    Once issued it is a fact: later events never remove or back-date it; only a recorded lift
    (``lifted_at``, ``lift_cause``) ends it early.

    Attributes:
        no: The account's penalty number, 1, 2, ... in issue order (its identity).
        basis: The violation ids whose strikes it rests on; an overturn of one of them re-checks it.
        automated: True when no human was involved: every strike in ``basis`` came from the classifier.
        policy_version: The version of the strike policy that issued it.
        lifted_by: The appeal id (appeal overturned) or moderator action id that lifted it.
    """

    kind: PenaltyKind
    starts_at: datetime
    rule: RuleHit
    triggered_by: int  # the violation id whose strike crossed the line
    feature: Feature | None = None  # restrictions only
    ends_at: datetime | None = None  # restrictions only
    step: int | None = None  # restrictions only: 1-based rung of the feature's ladder
    lifted_at: datetime | None = None
    lift_cause: LiftCause | None = None
    lifted_by: int | None = None
    no: int = 0
    basis: tuple[int, ...] = ()
    automated: bool = False
    policy_version: str = ""
    reviewed_by: str | None = None  # the moderator who confirmed an automated ban

    @property
    def lifted_by_appeal(self) -> int | None:
        return self.lifted_by if self.lift_cause is LiftCause.APPEAL_OVERTURNED else None

    def in_force_at(self, at: datetime) -> bool:
        return self.starts_at <= at and self.status_at(at) is PenaltyStatus.ACTIVE

    def status_at(self, as_of: datetime) -> PenaltyStatus:
        if self.lifted_at is not None and self.lifted_at <= as_of:
            if self.ends_at is not None and self.ends_at <= self.lifted_at:
                return PenaltyStatus.ENDED
            return PenaltyStatus.LIFTED
        if self.ends_at is not None and self.ends_at <= as_of:
            return PenaltyStatus.ENDED
        return PenaltyStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ThresholdDistance:
    """How far the account is from one ban threshold at ``as_of``."""

    scope: ThresholdScope
    name: str  # the policy or feature value, or "all" for the cumulative threshold
    active: int
    threshold: int

    @property
    def remaining(self) -> int:
        """Strikes still allowed before this threshold bans; 0 once reached."""
        return max(self.threshold - self.active, 0)


@dataclass(frozen=True, slots=True)
class Notification:
    """A message for the account holder; the platform delivers (and translates) it."""

    kind: NotificationKind
    account_id: str
    message: str
    violation_id: int | None = None
    penalty_no: int | None = None
    at: datetime | None = None  # when it was issued (the ledger entry's recording time)
    seq: int | None = None  # the ledger entry that caused it


@dataclass(frozen=True, slots=True)
class AccountState:
    """Everything the ledger says about one account at ``as_of``.

    Attributes:
        account_id: The account.
        as_of: The instant the state describes; entries after it are ignored.
        records: Every violation record up to ``as_of``, oldest first, with kind and status
            (the history, including expired and overturned strikes).
        penalties: Every restriction and ban up to ``as_of``, including ended and lifted ones.
        distances: Distance to each ban threshold (non-critical policies, features, cumulative).
        appeals: Every appeal up to ``as_of``.
    """

    account_id: str
    as_of: datetime
    records: tuple[StrikeView, ...]
    penalties: tuple[Penalty, ...]
    distances: tuple[ThresholdDistance, ...]
    appeals: tuple[AppealView, ...]
    known_at: datetime | None = None
    notifications: tuple[Notification, ...] = ()

    @property
    def review_hold(self) -> Penalty | None:
        """An automated ban's review hold in force at ``as_of`` (every feature restricted), if any."""
        return self._in_force(PenaltyKind.REVIEW_HOLD)

    @property
    def active_strikes(self) -> tuple[StrikeView, ...]:
        return tuple(r for r in self.records if r.counts)

    @property
    def ban(self) -> Penalty | None:
        """The permanent ban in force at ``as_of``, if any."""
        return self._in_force(PenaltyKind.PERMANENT_BAN)

    def _in_force(self, kind: PenaltyKind) -> Penalty | None:
        """The first penalty of ``kind`` active at ``as_of``, if any."""
        for penalty in self.penalties:
            if penalty.kind is kind and penalty.status_at(self.as_of) is PenaltyStatus.ACTIVE:
                return penalty
        return None

    @property
    def banned(self) -> bool:
        return self.ban is not None

    @property
    def active_restrictions(self) -> tuple[Penalty, ...]:
        return tuple(
            p
            for p in self.penalties
            if p.kind is PenaltyKind.RESTRICTION and p.status_at(self.as_of) is PenaltyStatus.ACTIVE
        )

    def restricted_until(self, feature: Feature) -> datetime | None:
        """When the latest active restriction on ``feature`` ends, or None if the feature is open."""
        ends = [p.ends_at for p in self.active_restrictions if p.feature is feature and p.ends_at]
        return max(ends) if ends else None

    def record(self, violation_id: int) -> StrikeView | None:
        return next((r for r in self.records if r.violation_id == violation_id), None)


@dataclass(frozen=True, slots=True)
class Decision:
    """What recording one violation did.

    Attributes:
        kind: The most severe outcome: duplicate < none < warning < strike < restriction < ban.
        rule: The rule behind ``kind``.
        violation_id: The record's id (the existing one for a duplicate).
        new_penalties: Restrictions or a ban that this violation imposed.
        notifications: Messages for the account holder (for a duplicate: those the original sent).
        state: The account's state after the violation.
        original: For a duplicate, the kind of the original decision.
    """

    kind: DecisionKind
    rule: RuleHit
    violation_id: int
    new_penalties: tuple[Penalty, ...]
    notifications: tuple[Notification, ...]
    state: AccountState
    original: DecisionKind | None = None

    @property
    def duplicate(self) -> bool:
        return self.kind is DecisionKind.DUPLICATE


@dataclass(frozen=True, slots=True)
class AppealResolution:
    """What a moderator's appeal decision did: for an overturn, the penalties it lifted."""

    appeal: AppealView
    lifted_penalties: tuple[Penalty, ...]
    notifications: tuple[Notification, ...]
    state: AccountState
    kept_penalties: tuple[Penalty, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a moderator's action on a penalty did."""

    action: ModeratorAction
    lifted_penalties: tuple[Penalty, ...]
    new_penalties: tuple[Penalty, ...]
    notifications: tuple[Notification, ...]
    state: AccountState
