"""Request and response models of the strike API (also the CLI's JSON output). No FastAPI here.

In the API a "strike id" is the id of a violation record, whether the replay made it a warning, a
strike or a same-content record; ``kind`` says which.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from strikes.domain import (
    MAX_ACCOUNT_ID,
    MAX_ACTOR,
    MAX_CONTENT_ID,
    AccountState,
    AppealOutcome,
    AppealResolution,
    AppealStatus,
    AppealView,
    Decision,
    DecisionKind,
    EventSource,
    Feature,
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
)
from strikes.service import MAX_REASON


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ViolationIn(_Request):
    """A moderator's decision that content broke a policy."""

    account_id: str = Field(min_length=1, max_length=MAX_ACCOUNT_ID, description="The offending account.")
    policy: Policy = Field(description="The policy broken, including moderator-only critical ones.")
    feature: Feature = Field(description="Where it happened: comment or live.")
    content_id: str = Field(min_length=1, max_length=MAX_CONTENT_ID, description="The offending content.")
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When the content was posted (with a timezone); defaults to now."
    )
    moderator: str = Field(min_length=1, max_length=MAX_ACTOR, description="The deciding moderator's id.")
    evidence: dict[str, float] = Field(default_factory=dict, description="Scores or ratings kept for audit.")


class AppealIn(_Request):
    """The account's appeal of one strike."""

    reason: str = Field(min_length=1, max_length=MAX_REASON, description="Why the account disagrees.")


class AppealDecisionIn(_Request):
    """A moderator's final decision on an appeal."""

    outcome: AppealOutcome = Field(description="uphold (the strike stands) or overturn (it stops counting).")
    moderator: str = Field(min_length=1, max_length=MAX_ACTOR, description="The deciding moderator's id.")
    note: str | None = Field(default=None, max_length=MAX_REASON, description="Reasoning, for the audit log.")


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
    id: int
    strike_id: int
    filed_at: datetime
    reason: str
    status: AppealStatus
    decided_at: datetime | None
    moderator: str | None
    note: str | None

    @classmethod
    def of(cls, appeal: AppealView) -> AppealOut:
        return cls(
            id=appeal.id,
            strike_id=appeal.violation_id,
            filed_at=appeal.filed_at,
            reason=appeal.reason,
            status=appeal.status,
            decided_at=appeal.decided_at,
            moderator=appeal.moderator,
            note=appeal.note,
        )


class StrikeOut(BaseModel):
    id: int
    policy: Policy
    feature: Feature
    content_id: str
    source: EventSource
    occurred_at: datetime
    expires_at: datetime
    kind: RecordKind = Field(description="warning, strike, or same_content (the content was already struck).")
    status: StrikeStatus
    counts: bool = Field(description="Whether it counts toward ban thresholds now.")
    rule: RuleOut
    appeal: AppealOut | None
    overturned_at: datetime | None

    @classmethod
    def of(cls, view: StrikeView) -> StrikeOut:
        return cls(
            id=view.violation_id,
            policy=view.policy,
            feature=view.feature,
            content_id=view.content_id,
            source=view.source,
            occurred_at=view.occurred_at,
            expires_at=view.expires_at,
            kind=view.kind,
            status=view.status,
            counts=view.counts,
            rule=RuleOut.of(view.rule),
            appeal=AppealOut.of(view.appeal) if view.appeal else None,
            overturned_at=view.overturned_at,
        )


class PenaltyOut(BaseModel):
    kind: PenaltyKind
    feature: Feature | None = Field(description="The restricted feature; null for a ban.")
    starts_at: datetime
    ends_at: datetime | None = Field(description="When a restriction ends; null for a ban.")
    step: int | None
    status: PenaltyStatus
    rule: RuleOut
    triggered_by_strike: int
    lifted_at: datetime | None
    lifted_by_appeal: int | None

    @classmethod
    def of(cls, penalty: Penalty, as_of: datetime) -> PenaltyOut:
        return cls(
            kind=penalty.kind,
            feature=penalty.feature,
            starts_at=penalty.starts_at,
            ends_at=penalty.ends_at,
            step=penalty.step,
            status=penalty.status_at(as_of),
            rule=RuleOut.of(penalty.rule),
            triggered_by_strike=penalty.triggered_by,
            lifted_at=penalty.lifted_at,
            lifted_by_appeal=penalty.lifted_by_appeal,
        )


class ThresholdOut(BaseModel):
    scope: ThresholdScope
    name: str
    active: int
    threshold: int
    remaining: int = Field(description="Strikes still allowed before this threshold bans.")


class AccountStatusOut(BaseModel):
    """Everything about an account's standing at ``as_of``."""

    account_id: str
    as_of: datetime
    banned: bool
    ban: PenaltyOut | None
    restrictions: list[PenaltyOut] = Field(description="Restrictions in force.")
    restricted_until: dict[Feature, datetime] = Field(description="Per restricted feature, when it reopens.")
    active_strikes: list[StrikeOut] = Field(
        description="Strikes counting toward thresholds, with expiry dates."
    )
    active_by_policy: dict[Policy, int]
    active_by_feature: dict[Feature, int]
    thresholds: list[ThresholdOut] = Field(description="Distance to each ban threshold.")
    history: list[StrikeOut] = Field(
        description="Every warning and strike, including expired and overturned."
    )
    penalty_history: list[PenaltyOut] = Field(
        description="Every restriction and ban, including ended and lifted."
    )
    appeals: list[AppealOut]

    @classmethod
    def of(cls, state: AccountState) -> AccountStatusOut:
        active = state.active_strikes
        restricted = {f: until for f in Feature if (until := state.restricted_until(f)) is not None}
        return cls(
            account_id=state.account_id,
            as_of=state.as_of,
            banned=state.banned,
            ban=PenaltyOut.of(state.ban, state.as_of) if state.ban else None,
            restrictions=[PenaltyOut.of(p, state.as_of) for p in state.active_restrictions],
            restricted_until=restricted,
            active_strikes=[StrikeOut.of(s) for s in active],
            active_by_policy={p: n for p in Policy if (n := sum(s.policy is p for s in active))},
            active_by_feature={f: n for f in Feature if (n := sum(s.feature is f for s in active))},
            thresholds=[
                ThresholdOut(
                    scope=d.scope, name=d.name, active=d.active, threshold=d.threshold, remaining=d.remaining
                )
                for d in state.distances
            ],
            history=[StrikeOut.of(s) for s in state.records],
            penalty_history=[PenaltyOut.of(p, state.as_of) for p in state.penalties],
            appeals=[AppealOut.of(a) for a in state.appeals],
        )


class NotificationOut(BaseModel):
    kind: NotificationKind
    account_id: str
    message: str
    strike_id: int | None

    @classmethod
    def of(cls, note: Notification) -> NotificationOut:
        return cls(
            kind=note.kind, account_id=note.account_id, message=note.message, strike_id=note.violation_id
        )


class DecisionOut(BaseModel):
    """What recording a violation did."""

    decision: DecisionKind
    rule: RuleOut
    strike_id: int = Field(description="The violation record (the original one for a duplicate).")
    duplicate: bool
    new_penalties: list[PenaltyOut]
    notifications: list[NotificationOut] = Field(description="Messages for the platform to deliver.")
    account: AccountStatusOut

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        as_of = decision.state.as_of
        return cls(
            decision=decision.kind,
            rule=RuleOut.of(decision.rule),
            strike_id=decision.violation_id,
            duplicate=decision.duplicate,
            new_penalties=[PenaltyOut.of(p, as_of) for p in decision.new_penalties],
            notifications=[NotificationOut.of(n) for n in decision.notifications],
            account=AccountStatusOut.of(decision.state),
        )


class AppealDecisionOut(BaseModel):
    """What a moderator's appeal decision did."""

    appeal: AppealOut
    lifted_penalties: list[PenaltyOut]
    notifications: list[NotificationOut]
    account: AccountStatusOut

    @classmethod
    def of(cls, resolution: AppealResolution) -> AppealDecisionOut:
        as_of = resolution.state.as_of
        return cls(
            appeal=AppealOut.of(resolution.appeal),
            lifted_penalties=[PenaltyOut.of(p, as_of) for p in resolution.lifted_penalties],
            notifications=[NotificationOut.of(n) for n in resolution.notifications],
            account=AccountStatusOut.of(resolution.state),
        )
