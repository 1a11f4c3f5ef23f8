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

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
    VIOLENT_THREAT = "violent_threat"


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


class PenaltyStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # a restriction that ran its course
    LIFTED = "lifted"  # a strike it depended on was overturned


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


def require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEventError(
            f"{name} must be a timezone-aware datetime, got {value!r}; e.g. 2024-05-01T12:00:00+00:00"
        )


def require_text(value: object, name: str, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise InvalidEventError(f"{name} is {len(value)} characters long; the limit is {max_length}")


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
        source: ``classifier`` or ``moderator``.
        evidence: Classifier scores by label name (or a moderator's own), kept for audit.
        actor: The moderator id or the model name that reported it.
    """

    account_id: str
    policy: Policy
    feature: Feature
    content_id: str
    occurred_at: datetime
    source: EventSource
    evidence: Mapping[str, float] = field(default_factory=dict)
    actor: str | None = None

    def __post_init__(self) -> None:
        require_text(self.account_id, "account_id", MAX_ACCOUNT_ID)
        require_text(self.content_id, "content_id", MAX_CONTENT_ID)
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


@dataclass(frozen=True, slots=True)
class ViolationRecord:
    """Ledger entry: a violation was recorded with id ``id`` at ledger position ``seq``."""

    id: int
    seq: int
    event: ViolationEvent
    recorded_at: datetime

    @property
    def account_id(self) -> str:
        return self.event.account_id

    @property
    def occurred_at(self) -> datetime:
        return self.event.occurred_at


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


LedgerEntry = ViolationRecord | AppealFiled | AppealDecided


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

    @property
    def counts(self) -> bool:
        """True when this record counts toward thresholds at ``as_of``."""
        return self.kind is RecordKind.STRIKE and self.status is StrikeStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class Penalty:
    """A restriction (with an end) or a permanent ban (without one), and what triggered it."""

    kind: PenaltyKind
    starts_at: datetime
    rule: RuleHit
    triggered_by: int  # the violation id whose strike crossed the line
    feature: Feature | None = None  # restrictions only
    ends_at: datetime | None = None  # restrictions only
    step: int | None = None  # restrictions only: 1-based rung of the feature's ladder
    lifted_at: datetime | None = None
    lifted_by_appeal: int | None = None

    @property
    def key(self) -> tuple[PenaltyKind, Feature | None, int, int | None]:
        """Identity across replays: what was imposed, where, by which violation."""
        return (self.kind, self.feature, self.triggered_by, self.step)

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

    @property
    def active_strikes(self) -> tuple[StrikeView, ...]:
        return tuple(r for r in self.records if r.counts)

    @property
    def ban(self) -> Penalty | None:
        """The permanent ban in force at ``as_of``, if any."""
        for penalty in self.penalties:
            if (
                penalty.kind is PenaltyKind.PERMANENT_BAN
                and penalty.status_at(self.as_of) is PenaltyStatus.ACTIVE
            ):
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
        notifications: Messages for the account holder.
        state: The account's state after the violation.
    """

    kind: DecisionKind
    rule: RuleHit
    violation_id: int
    new_penalties: tuple[Penalty, ...]
    notifications: tuple[Notification, ...]
    state: AccountState

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
