"""The strike service: the engine's decisions applied to the stored ledger, one transaction each.

This is the entry point for everything that writes strikes: the HTTP API (moderator decisions,
appeals) and the classifier's enforcement path (``POST /v1/moderate`` calls
:meth:`StrikeService.record_violation` with a classifier-sourced event, see
:func:`classifier_violation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from data.taxonomy import Label, Surface
from strikes.domain import (
    MAX_ACCOUNT_ID,
    MAX_ACTOR,
    AccountState,
    AppealOutcome,
    AppealResolution,
    AppealView,
    Decision,
    EventSource,
    ViolationEvent,
    ViolationRecord,
    feature_for_surface,
    policy_for_label,
    require_text,
)
from strikes.engine import check_appealable, check_decidable, decide, evaluate, find_duplicate, resolve_appeal
from strikes.errors import AppealNotFoundError, InvalidEventError, StrikeNotFoundError
from strikes.policy import StrikePolicy, load_strike_policy
from strikes.settings import StrikeSettings
from strikes.storage import StrikeStore

logger = logging.getLogger(__name__)

#: How far in the future an ``occurred_at`` may lie before it is refused (clock skew between hosts).
CLOCK_SKEW = timedelta(minutes=5)
MAX_REASON = 2000


def utc_now() -> datetime:
    return datetime.now(UTC)


def classifier_violation(
    *,
    account_id: str,
    content_id: str,
    surface: Surface | str,
    labels: list[Label] | list[str],
    scores: Mapping[str, float],
    occurred_at: datetime,
    policy: StrikePolicy,
    model: str | None = None,
) -> ViolationEvent:
    """Build the event for content the classifier decided to remove.

    A content id strikes once, so a message flagged with several labels is recorded under the most
    severe of them; all scores are kept as evidence.

    Args:
        account_id: The author.
        content_id: The message id.
        surface: Where it was posted (``comment`` or ``live_chat``).
        labels: The labels that crossed their removal thresholds (at least one).
        scores: Every label's score, kept as evidence.
        occurred_at: When the message was posted (timezone-aware).
        policy: The strike policy (it ranks the labels' severities).
        model: The model name or version, recorded as the actor.
    """
    if not labels:
        raise InvalidEventError(f"content {content_id!r}: a classifier violation needs at least one label")
    policies = [policy_for_label(label) for label in labels]
    return ViolationEvent(
        account_id=account_id,
        policy=policy.most_severe(policies),
        feature=feature_for_surface(surface),
        content_id=content_id,
        occurred_at=occurred_at,
        source=EventSource.CLASSIFIER,
        evidence=dict(scores),
        actor=model,
    )


class StrikeService:
    """Records violations and appeals in the ledger and reports what they did.

    Args:
        store: Where the ledger lives (its schema must be current).
        policy: The strike policy.
        clock: "Now"; tests pass a fake one to move through time without sleeping.
    """

    def __init__(
        self, store: StrikeStore, policy: StrikePolicy, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: StrikeSettings) -> StrikeService:
        """Open the service the settings describe: load the policy, connect, check or upgrade the schema.

        Raises:
            ConfigError: The policy file or the database URL is invalid.
            StorageError: The database is unreachable, or behind and ``auto_migrate`` is off.
        """
        policy = load_strike_policy(settings.policy_path)
        store = StrikeStore(settings.database_url)
        try:
            store.ensure_schema(migrate=settings.auto_migrate)
        except BaseException:
            store.close()
            raise
        logger.info("strike service: policy %s, database %s", policy.name, store.display_url)
        return cls(store, policy)

    def close(self) -> None:
        self.store.close()

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise InvalidEventError(f"the service clock returned a naive datetime {now!r}")
        return now

    def record_violation(self, event: ViolationEvent) -> Decision:
        """Record one violation (from a moderator or the classifier) and enforce the policy.

        Idempotent: posting the same (account, content id, policy) again records nothing and returns
        a ``duplicate`` decision naming the original record.

        Returns:
            The decision: warning, strike, restriction or permanent ban, the rule behind it, the
            notifications for the account and its state afterwards.

        Raises:
            InvalidEventError: ``occurred_at`` lies in the future.
            StorageError: The database is unreachable.
        """
        now = self._now()
        if event.occurred_at > now + CLOCK_SKEW:
            raise InvalidEventError(
                f"occurred_at {event.occurred_at.isoformat()} is in the future (now is {now.isoformat()}); "
                "send the time the content was posted"
            )
        as_of = max(now, event.occurred_at)
        with self.store.lock_account(event.account_id) as ledger:
            # The id and seq are placeholders for the duplicate check; the real ones come from the insert.
            probe = ViolationRecord(id=0, seq=0, event=event, recorded_at=now)
            if find_duplicate(ledger.entries, probe) is None:
                previous = list(ledger.entries)
                record = ledger.append_violation(event, now)
                if record is not None:
                    decision = decide(previous, record, self.policy, as_of=as_of)
                    # Ids only: account ids can be handles, and the ledger maps ids to accounts.
                    logger.info(
                        "violation %d: %s (%s)",
                        decision.violation_id,
                        decision.kind.value,
                        decision.rule.rule.value,
                    )
                    return decision
                # The unique constraint saw a row the locked ledger did not: read it again.
                ledger.reload()
            return decide(ledger.entries, probe, self.policy, as_of=as_of)

    def account_status(self, account_id: str, as_of: datetime | None = None) -> AccountState:
        """The account's state at ``as_of`` (default: now), recomputed from its ledger.

        An account with no ledger entries is simply in good standing.
        """
        require_text(account_id, "account_id", MAX_ACCOUNT_ID)
        when = self._now() if as_of is None else as_of
        return evaluate(self.store.read_ledger(account_id), self.policy, when, account_id=account_id)

    def file_appeal(self, violation_id: int, reason: str) -> AppealView:
        """File the account's appeal of one strike (or warning); each can be appealed once.

        Raises:
            StrikeNotFoundError: No such strike.
            AppealAlreadyFiledError: The strike was already appealed.
        """
        require_text(reason, "reason", MAX_REASON)
        account_id = self.store.account_of_violation(violation_id)
        if account_id is None:
            raise StrikeNotFoundError(f"strike {violation_id} not found")
        now = self._now()
        with self.store.lock_account(account_id) as ledger:
            check_appealable(ledger.entries, violation_id, now)
            filed = ledger.append_appeal(violation_id, now, reason)
            state = evaluate(ledger.entries, self.policy, now)
        logger.info("appeal %d filed against violation %d", filed.id, violation_id)
        return next(a for a in state.appeals if a.id == filed.id)

    def decide_appeal(
        self, appeal_id: int, outcome: AppealOutcome, *, moderator: str, note: str | None = None
    ) -> AppealResolution:
        """Record a moderator's final decision on an appeal.

        Overturning makes the strike stop counting and lifts every restriction or ban that depended
        on it; upholding changes nothing.

        Raises:
            AppealNotFoundError: No such appeal.
            AppealAlreadyDecidedError: It was already decided.
        """
        require_text(moderator, "moderator", MAX_ACTOR)
        if note is not None:
            require_text(note, "note", MAX_REASON)
        outcome = AppealOutcome(outcome)
        account_id = self.store.account_of_appeal(appeal_id)
        if account_id is None:
            raise AppealNotFoundError(f"appeal {appeal_id} not found")
        now = self._now()
        with self.store.lock_account(account_id) as ledger:
            check_decidable(ledger.entries, appeal_id, now)
            previous = list(ledger.entries)
            decided = ledger.append_appeal_decision(appeal_id, outcome, now, moderator, note)
            resolution = resolve_appeal(previous, decided, self.policy, as_of=now)
        logger.info(
            "appeal %d %s; %d penalties lifted",
            appeal_id,
            resolution.appeal.status.value,
            len(resolution.lifted_penalties),
        )
        return resolution
