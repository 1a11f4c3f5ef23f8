"""Request and response models of the strike API (also the CLI's JSON output). No FastAPI here.

In the API a "strike id" is the id of a violation record, whether the replay made it a warning, a
strike or a same-content record; ``kind`` says which.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from strikes.domain import (
    MAX_ACCOUNT_ID,
    MAX_CONTENT_ID,
    AccountState,
    ActionKind,
    ActionResult,
    AppealOutcome,
    AppealResolution,
    AppealStatus,
    AppealView,
    Decision,
    DecisionKind,
    EventSource,
    Feature,
    LiftCause,
    Notification,
    NotificationKind,
    Penalty,
    PenaltyKind,
    PenaltyStatus,
    Policy,
    RecordKind,
    Rule,
    RuleHit,
    StrikeStatus,
    StrikeView,
    ThresholdScope,
    text_problem,
)
from strikes.service import MAX_REASON, ReportView

#: History entries per page of the status view (``history_after`` pages on).
DEFAULT_PAGE = 100
MAX_PAGE = 500


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _in_range(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC; send a real date") from None
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number (not NaN or Infinity)")
    return value


#: Text that the database can store on both backends: no NUL bytes, valid Unicode.
Text = Annotated[str, AfterValidator(_storable)]
#: A timezone-aware instant that stays representable in UTC (0001-01-01T00:00+14:00 does not).
Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
Score = Annotated[float, AfterValidator(_finite)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ViolationIn(_Request):
    """A moderator's decision that content broke a policy (the moderator is named by the API key)."""

    account_id: Text = Field(min_length=1, max_length=MAX_ACCOUNT_ID, description="The offending account.")
    policy: Policy = Field(description="The policy broken, including moderator-only critical ones.")
    feature: Feature = Field(description="Where it happened: comment or live.")
    content_id: Text = Field(min_length=1, max_length=MAX_CONTENT_ID, description="The offending content.")
    occurred_at: Instant | None = Field(
        default=None,
        description="When the content was posted (with a timezone); defaults to when it is recorded. "
        "At most max_event_age_days (default 365) back.",
    )
    evidence: dict[Text, Score] = Field(default_factory=dict, description="Scores or ratings kept for audit.")


class AppealIn(_Request):
    """The account's appeal of one strike."""

    reason: Text = Field(min_length=1, max_length=MAX_REASON, description="Why the account disagrees.")


class AppealDecisionIn(_Request):
    """A moderator's final decision on an appeal (the moderator is named by the API key)."""

    outcome: AppealOutcome = Field(description="uphold (the strike stands) or overturn (it stops counting).")
    note: Text | None = Field(
        default=None,
        max_length=MAX_REASON,
        description="Internal reasoning, for the audit log; never shown to the account.",
    )


class PenaltyActionIn(_Request):
    """A moderator's action on one of the account's penalties."""

    action: ActionKind = Field(
        description="reverse_penalty (lift it; needs a reason), confirm_ban or reject_ban (a review hold)."
    )
    reason: Text | None = Field(
        default=None, max_length=MAX_REASON, description="Why; shown to the account. Required to reverse."
    )


class ReportIn(_Request):
    """An account reports another account, or its content, for breaking a policy."""

    target_account_id: Text = Field(
        min_length=1, max_length=MAX_ACCOUNT_ID, description="The reported account."
    )
    content_id: Text | None = Field(
        default=None, min_length=1, max_length=MAX_CONTENT_ID, description="The reported content, if any."
    )
    policy: Policy = Field(description="The policy the reporter thinks was broken.")
    feature: Feature = Field(description="Where: comment or live.")
    details: Text | None = Field(default=None, max_length=MAX_REASON, description="What happened.")


class ReportResolutionIn(_Request):
    """A moderator resolves a report: actioned (a moderator violation is recorded) or dismissed."""

    outcome: str = Field(pattern="^(actioned|dismissed)$", description="actioned or dismissed.")
    note: Text | None = Field(default=None, max_length=MAX_REASON, description="Internal note.")


class RuleOut(BaseModel):
    rule: Rule
    policy: Policy | None
    feature: Feature | None
    count: int | None = Field(description="Active strikes counted when the rule fired.")
    threshold: int | None
    step: int | None = Field(description="Restriction ladder rung (1-based).")
    message: str

    @classmethod
    def of(cls, hit: RuleHit) -> RuleOut:
        return cls(
            rule=hit.rule,
            policy=hit.policy,
            feature=hit.feature,
            count=hit.count,
            threshold=hit.threshold,
            step=hit.step,
            message=hit.describe(),
        )


class AppealOut(BaseModel):
    """An appeal as the account sees it (no moderator notes)."""

    id: int
    strike_id: int
    filed_at: datetime
    reason: str
    status: AppealStatus
    decided_at: datetime | None

    @classmethod
    def of(cls, appeal: AppealView) -> AppealOut:
        return cls(
            id=appeal.id,
            strike_id=appeal.violation_id,
            filed_at=appeal.filed_at,
            reason=appeal.reason,
            status=appeal.status,
            decided_at=appeal.decided_at,
        )


class ModeratorAppealOut(AppealOut):
    """An appeal with the deciding moderator and their internal note (moderator views only)."""

    moderator: str | None
    note: str | None

    @classmethod
    def of(cls, appeal: AppealView) -> ModeratorAppealOut:
        base = AppealOut.of(appeal).model_dump()
        return cls(**base, moderator=appeal.moderator, note=appeal.note)


class StrikeOut(BaseModel):
    id: int
    policy: Policy
    feature: Feature
    content_id: str
    source: EventSource = Field(description="classifier (automated means) or moderator.")
    occurred_at: datetime
    recorded_at: datetime | None = Field(description="When Tegur recorded it (and told the account).")
    expires_at: datetime
    kind: RecordKind = Field(description="warning, strike, or same_content (the content was already struck).")
    status: StrikeStatus
    counts: bool = Field(description="Whether it counts toward ban thresholds now.")
    rule: RuleOut
    policy_version: str | None = Field(description="The strike policy version that decided it.")
    appeal: AppealOut | None
    overturned_at: datetime | None

    @classmethod
    def of(cls, view: StrikeView, *, internal: bool = False) -> StrikeOut:
        appeal: AppealOut | None = None
        if view.appeal is not None:
            appeal = ModeratorAppealOut.of(view.appeal) if internal else AppealOut.of(view.appeal)
        return cls(
            id=view.violation_id,
            policy=view.policy,
            feature=view.feature,
            content_id=view.content_id,
            source=view.source,
            occurred_at=view.occurred_at,
            recorded_at=view.recorded_at,
            expires_at=view.expires_at,
            kind=view.kind,
            status=view.status,
            counts=view.counts,
            rule=RuleOut.of(view.rule),
            policy_version=view.policy_version,
            appeal=appeal,
            overturned_at=view.overturned_at,
        )


class PenaltyOut(BaseModel):
    no: int = Field(description="The account's penalty number (moderator actions name it).")
    kind: PenaltyKind
    feature: Feature | None = Field(description="The restricted feature; null for a ban or review hold.")
    starts_at: datetime
    ends_at: datetime | None = Field(description="When a restriction ends; null for a ban or hold.")
    step: int | None
    status: PenaltyStatus
    rule: RuleOut
    triggered_by_strike: int
    automated: bool = Field(description="True when no human was involved: only classifier strikes.")
    statement: str = Field(description="Whether automated means were used (DSA Art. 17).")
    reviewed_by_moderator: bool = Field(description="A moderator confirmed it (automated bans on review).")
    policy_version: str = Field(description="The strike policy version that issued it.")
    lifted_at: datetime | None
    lift_cause: LiftCause | None = Field(description="The recorded reversal that lifted it.")
    lifted_by_appeal: int | None

    @classmethod
    def of(cls, penalty: Penalty, as_of: datetime) -> PenaltyOut:
        return cls(
            no=penalty.no,
            kind=penalty.kind,
            feature=penalty.feature,
            starts_at=penalty.starts_at,
            ends_at=penalty.ends_at,
            step=penalty.step,
            status=penalty.status_at(as_of),
            rule=RuleOut.of(penalty.rule),
            triggered_by_strike=penalty.triggered_by,
            automated=penalty.automated,
            statement=(
                "Decided by automated means (the classifier); no person reviewed it."
                if penalty.automated
                else "Decided with a human moderator's review."
            ),
            reviewed_by_moderator=penalty.reviewed_by is not None,
            policy_version=penalty.policy_version,
            lifted_at=penalty.lifted_at,
            lift_cause=penalty.lift_cause,
            lifted_by_appeal=penalty.lifted_by_appeal,
        )


class ThresholdOut(BaseModel):
    scope: ThresholdScope
    name: str
    active: int
    threshold: int
    remaining: int = Field(description="Strikes still allowed before this threshold bans.")


class ReportOut(BaseModel):
    """A report an account made, and its outcome."""

    id: int
    target_account_id: str
    content_id: str | None
    policy: Policy
    feature: Feature
    created_at: datetime
    status: str = Field(description="open, actioned (a violation was recorded) or dismissed.")
    resolved_at: datetime | None

    @classmethod
    def of(cls, report: ReportView) -> ReportOut:
        return cls(
            id=report.id,
            target_account_id=report.target_account_id,
            content_id=report.content_id,
            policy=report.policy,
            feature=report.feature,
            created_at=report.created_at,
            status=report.status,
            resolved_at=report.resolved_at,
        )


class ModeratorReportOut(ReportOut):
    reporter_id: str
    details: str | None
    moderator: str | None
    resolution_note: str | None
    strike_id: int | None

    @classmethod
    def of(cls, report: ReportView) -> ModeratorReportOut:
        return cls(
            **ReportOut.of(report).model_dump(),
            reporter_id=report.reporter_id,
            details=report.details,
            moderator=report.moderator,
            resolution_note=report.resolution_note,
            strike_id=report.violation_id,
        )


class AccountSummaryOut(BaseModel):
    """An account's standing right after a write (from its snapshot; the history is in the status view)."""

    account_id: str
    as_of: datetime
    banned: bool
    ban: PenaltyOut | None
    review_hold: PenaltyOut | None = Field(
        description="An automated ban waiting for a moderator: every feature is restricted meanwhile."
    )
    restrictions: list[PenaltyOut] = Field(description="Restrictions in force.")
    restricted_until: dict[Feature, datetime] = Field(description="Per restricted feature, when it reopens.")
    active_by_policy: dict[Policy, int]
    active_by_feature: dict[Feature, int]
    thresholds: list[ThresholdOut] = Field(
        description="Distance to each ban threshold (empty while a ban or review hold is in force)."
    )

    @classmethod
    def fields_of(cls, state: AccountState) -> dict:
        restricted = {f: until for f in Feature if (until := state.restricted_until(f)) is not None}
        by_policy = {
            Policy(d.name): d.active for d in state.distances if d.scope is ThresholdScope.POLICY and d.active
        }
        by_feature = {
            Feature(d.name): d.active
            for d in state.distances
            if d.scope is ThresholdScope.FEATURE and d.active
        }
        hold = state.review_hold
        return {
            "account_id": state.account_id,
            "as_of": state.as_of,
            "banned": state.banned,
            "ban": PenaltyOut.of(state.ban, state.as_of) if state.ban else None,
            "review_hold": PenaltyOut.of(hold, state.as_of) if hold else None,
            "restrictions": [PenaltyOut.of(p, state.as_of) for p in state.active_restrictions],
            "restricted_until": restricted,
            "active_by_policy": by_policy,
            "active_by_feature": by_feature,
            "thresholds": [
                ThresholdOut(
                    scope=d.scope, name=d.name, active=d.active, threshold=d.threshold, remaining=d.remaining
                )
                for d in state.distances
            ],
        }

    @classmethod
    def of(cls, state: AccountState) -> AccountSummaryOut:
        return cls(**cls.fields_of(state))


class AccountStatusOut(AccountSummaryOut):
    """Everything about an account's standing at ``as_of`` (as known at ``known_at``)."""

    known_at: datetime | None = Field(description="Only what was recorded by then; null: everything.")
    active_strikes: list[StrikeOut] = Field(
        description="Strikes counting toward thresholds, with expiry dates."
    )
    history: list[StrikeOut] = Field(
        description="Warnings and strikes, including expired and overturned: oldest first, one page."
    )
    history_total: int = Field(description="Records in the whole history.")
    next_history_after: int | None = Field(
        description="Pass as history_after for the next page; null on the last page."
    )
    penalty_history: list[PenaltyOut] = Field(
        description="Every restriction, ban and review hold, including ended and lifted."
    )
    appeals: list[AppealOut]
    reports: list[ReportOut] = Field(description="Reports this account made, with their outcomes.")

    @classmethod
    def of(
        cls,
        state: AccountState,
        *,
        internal: bool = False,
        history_after: int | None = None,
        limit: int = DEFAULT_PAGE,
        reports: list[ReportView] | None = None,
    ) -> AccountStatusOut:
        records = sorted(state.records, key=lambda r: r.violation_id)
        if history_after is not None:
            records = [r for r in records if r.violation_id > history_after]
        page = records[:limit]
        more = len(records) > limit
        active = state.active_strikes
        fields = cls.fields_of(state)
        fields["active_by_policy"] = {p: n for p in Policy if (n := sum(s.policy is p for s in active))}
        fields["active_by_feature"] = {f: n for f in Feature if (n := sum(s.feature is f for s in active))}
        appeal_out = ModeratorAppealOut if internal else AppealOut
        if internal and cls is AccountStatusOut:
            cls = ModeratorAccountStatusOut  # type: ignore[assignment]
        return cls(
            **fields,
            known_at=state.known_at,
            active_strikes=[StrikeOut.of(s, internal=internal) for s in active],
            history=[StrikeOut.of(s, internal=internal) for s in page],
            history_total=len(state.records),
            next_history_after=page[-1].violation_id if more and page else None,
            penalty_history=[PenaltyOut.of(p, state.as_of) for p in state.penalties],
            appeals=[appeal_out.of(a) for a in state.appeals],
            reports=[ReportOut.of(r) for r in reports or []],
        )


class ModeratorAccountStatusOut(AccountStatusOut):
    """The status view for moderators: appeals with the deciding moderator and internal notes."""

    appeals: list[ModeratorAppealOut]  # type: ignore[assignment]


class NotificationOut(BaseModel):
    id: int | None = Field(description="The outbox id (the cursor of the notifications route).")
    kind: NotificationKind
    account_id: str
    message: str
    strike_id: int | None
    penalty_no: int | None
    created_at: datetime | None

    @classmethod
    def of(cls, note: Notification, note_id: int | None = None) -> NotificationOut:
        return cls(
            id=note_id,
            kind=note.kind,
            account_id=note.account_id,
            message=note.message,
            strike_id=note.violation_id,
            penalty_no=note.penalty_no,
            created_at=note.at,
        )


class NotificationsPage(BaseModel):
    """One page of an account's notifications, oldest first."""

    items: list[NotificationOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null when none is left.")


class DecisionOut(BaseModel):
    """What recording a violation did."""

    decision: DecisionKind
    original_decision: DecisionKind | None = Field(
        default=None, description="For a duplicate: what the original recording decided."
    )
    rule: RuleOut
    strike_id: int = Field(description="The violation record (the original one for a duplicate).")
    duplicate: bool
    new_penalties: list[PenaltyOut]
    notifications: list[NotificationOut] = Field(
        description="Messages for the platform to deliver (for a duplicate: the original ones, again)."
    )
    account: AccountSummaryOut

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        as_of = decision.state.as_of
        return cls(
            decision=decision.kind,
            original_decision=decision.original,
            rule=RuleOut.of(decision.rule),
            strike_id=decision.violation_id,
            duplicate=decision.duplicate,
            new_penalties=[PenaltyOut.of(p, as_of) for p in decision.new_penalties],
            notifications=[NotificationOut.of(n) for n in decision.notifications],
            account=AccountSummaryOut.of(decision.state),
        )


class AppealDecisionOut(BaseModel):
    """What a moderator's appeal decision did."""

    appeal: ModeratorAppealOut
    lifted_penalties: list[PenaltyOut]
    kept_penalties: list[PenaltyOut] = Field(description="Penalties the remaining strikes still justify.")
    notifications: list[NotificationOut]
    account: AccountSummaryOut

    @classmethod
    def of(cls, resolution: AppealResolution) -> AppealDecisionOut:
        as_of = resolution.state.as_of
        return cls(
            appeal=ModeratorAppealOut.of(resolution.appeal),
            lifted_penalties=[PenaltyOut.of(p, as_of) for p in resolution.lifted_penalties],
            kept_penalties=[PenaltyOut.of(p, as_of) for p in resolution.kept_penalties],
            notifications=[NotificationOut.of(n) for n in resolution.notifications],
            account=AccountSummaryOut.of(resolution.state),
        )


class ActionOut(BaseModel):
    """What a moderator's action on a penalty did."""

    action: ActionKind
    penalty_no: int
    moderator: str
    lifted_penalties: list[PenaltyOut]
    new_penalties: list[PenaltyOut]
    notifications: list[NotificationOut]
    account: AccountSummaryOut

    @classmethod
    def of(cls, result: ActionResult) -> ActionOut:
        as_of = result.state.as_of
        return cls(
            action=result.action.kind,
            penalty_no=result.action.penalty_no,
            moderator=result.action.moderator,
            lifted_penalties=[PenaltyOut.of(p, as_of) for p in result.lifted_penalties],
            new_penalties=[PenaltyOut.of(p, as_of) for p in result.new_penalties],
            notifications=[NotificationOut.of(n) for n in result.notifications],
            account=AccountSummaryOut.of(result.state),
        )


class ReviewOut(BaseModel):
    """An automated ban waiting for a moderator to confirm or reject it."""

    account_id: str
    hold: PenaltyOut


class ResolutionOut(BaseModel):
    report: ModeratorReportOut
    enforcement: DecisionOut | None
