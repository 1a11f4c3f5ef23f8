"""The strike service: the engine's decisions applied to the stored ledger, one transaction each.

This is the entry point for everything that writes strikes: the HTTP API (moderator decisions,
appeals) and the classifier's enforcement path (``POST /v1/moderate`` calls
:meth:`StrikeService.record_violation` with a classifier-sourced event, see
:func:`classifier_violation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from data.taxonomy import Label, Surface
from strikes.domain import (
    MAX_ACCOUNT_ID,
    MAX_ACTOR,
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
    Notification,
    NotificationKind,
    Penalty,
    Policy,
    RecordKind,
    Rule,
    RuleHit,
    ViolationEvent,
    ViolationRecord,
    feature_for_surface,
    policy_for_label,
    require_aware,
    require_text,
)
from strikes.engine import (
    Effects,
    Snapshot,
    apply,
    check_window,
    decision_of,
    penalty_json,
    refuse_classifier_critical,
    replay,
    rule_json,
    summary,
    view,
)
from strikes.errors import (
    AppealAlreadyDecidedError,
    AppealAlreadyFiledError,
    AppealNotFoundError,
    ConflictError,
    InvalidEventError,
    ReportNotFoundError,
    StrikeNotFoundError,
)
from strikes.policy import StrikePolicy, load_strike_policy
from strikes.settings import StrikeSettings
from strikes.storage import AccountLedger, StrikeStore

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
    occurred_at: datetime | None,
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
        occurred_at: When the message was posted (timezone-aware); None: when it is recorded.
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


@dataclass(frozen=True, slots=True)
class ReportView:
    """An account's report of content or of another account, and what became of it."""

    id: int
    reporter_id: str
    target_account_id: str
    content_id: str | None
    policy: Policy
    feature: Feature
    details: str | None
    created_at: datetime
    status: str  # open, actioned, dismissed
    resolved_at: datetime | None
    violation_id: int | None
    moderator: str | None = None
    resolution_note: str | None = None


def _report_view(row: object) -> ReportView:
    return ReportView(
        id=row.id,  # type: ignore[attr-defined]
        reporter_id=row.reporter_id,  # type: ignore[attr-defined]
        target_account_id=row.target_account_id,  # type: ignore[attr-defined]
        content_id=row.content_id,  # type: ignore[attr-defined]
        policy=Policy(row.policy),  # type: ignore[attr-defined]
        feature=Feature(row.feature),  # type: ignore[attr-defined]
        details=row.details,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        status=row.status,  # type: ignore[attr-defined]
        resolved_at=row.resolved_at,  # type: ignore[attr-defined]
        violation_id=row.violation_id,  # type: ignore[attr-defined]
        moderator=row.moderator,  # type: ignore[attr-defined]
        resolution_note=row.resolution_note,  # type: ignore[attr-defined]
    )


class StrikeService:
    """Records violations, appeals and moderator actions in the ledger and reports what they did.

    Every write is one transaction under the account's lock: append the entry, apply it to the
    account's snapshot (:func:`strikes.engine.apply`), store the decision, its penalties, lifts and
    notifications (the outbox) and the new snapshot. Reads replay the ledger (the same fold), so
    any instant can be shown as it was (``as_of``) and as it was known (``known_at``).

    Args:
        store: Where the ledger lives (its schema must be current).
        policy: The strike policy in force: it decides every new entry.
        clock: "Now"; tests pass a fake one to move through time without sleeping.
    """

    def __init__(
        self, store: StrikeStore, policy: StrikePolicy, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self._policy_saved = False

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
        logger.info(
            "strike service: policy %s (%s), database %s", policy.name, policy.version, store.display_url
        )
        return cls(store, policy)

    def close(self) -> None:
        self.store.close()

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise InvalidEventError(f"the service clock returned a naive datetime {now!r}")
        return now

    def _save_policy(self) -> None:
        # Every decision names its policy version; the rules behind it are kept for replays.
        if not self._policy_saved:
            self.store.save_policy(self.policy)
            self._policy_saved = True

    def _snapshot(self, ledger: AccountLedger) -> Snapshot:
        """The account's snapshot; ledgers written before snapshots existed are folded once."""
        if ledger.snapshot_json is not None:
            return Snapshot.from_json(ledger.snapshot_json)
        if ledger.last_seq == 0:
            return Snapshot(ledger.account_id)
        folded = replay(ledger.entries, self.policy, account_id=ledger.account_id)
        for entry in ledger.entries:
            ledger.write_effects(entry, folded.effects[entry.seq])
        logger.info("derived the decisions of a ledger written before schema revision 0002")
        return folded.snapshot

    @staticmethod
    def _write_time(now: datetime, snap: Snapshot) -> datetime:
        # Recording times never go back within an account, so "known at" is a prefix of the ledger.
        return now if snap.clock is None or now >= snap.clock else snap.clock

    def check_event(self, event: ViolationEvent, now: datetime | None = None) -> None:
        """Refuse an event the service would not record, before anything is written.

        Raises:
            InvalidEventError: ``occurred_at`` lies in the future or before ``max_event_age_days``,
                or a classifier event names a critical policy.
        """
        now = now or self._now()
        refuse_classifier_critical(event.policy, event.source, self.policy)
        if event.occurred_at is None:
            return
        if event.occurred_at > now + CLOCK_SKEW:
            raise InvalidEventError(
                f"occurred_at {event.occurred_at.isoformat()} is in the future (now is {now.isoformat()}); "
                "send the time the content was posted"
            )
        oldest = now - self.policy.max_event_age
        if event.occurred_at < oldest:
            raise InvalidEventError(
                f"occurred_at {event.occurred_at.isoformat()} is more than {self.policy.max_event_age_days} "
                f"days ago (the oldest accepted is {oldest.isoformat()}); send the time the content was "
                "posted"
            )

    def record_violation(self, event: ViolationEvent) -> Decision:
        """Record one violation (from a moderator or the classifier) and enforce the policy.

        Idempotent: posting the same (account, content id, policy) again records nothing and returns
        a ``duplicate`` decision naming the original record, with the original's notifications.

        Returns:
            The decision: warning, strike, restriction, review hold or permanent ban, the rule behind
            it, the notifications for the account and a summary of its state afterwards.

        Raises:
            InvalidEventError: ``occurred_at`` lies in the future or too far back, or a classifier
                event names a critical policy.
            StorageError: The database is unreachable.
        """
        return self.record_violations([event])[0]

    def record_violations(self, events: Sequence[ViolationEvent]) -> list[Decision]:
        """Record a batch of violations in one transaction: all of them, or (on any error) none.

        Every event is checked before anything is written. A retried batch returns the stored
        decisions and notifications of the first attempt (as duplicates).
        """
        now = self._now()
        for event in events:
            self.check_event(event, now)
        if not events:
            return []
        self._save_policy()
        decisions = []
        with self.store.lock_accounts([e.account_id for e in events]) as tx:
            for event in events:
                decisions.append(self._record(tx.ledger(event.account_id), event))
        for decision in decisions:
            # Ids only: account ids can be handles, and the ledger maps ids to accounts.
            logger.info(
                "violation %d: %s (%s)", decision.violation_id, decision.kind.value, decision.rule.rule.value
            )
        return decisions

    def _record(self, ledger: AccountLedger, event: ViolationEvent) -> Decision:
        snap = self._snapshot(ledger)
        # "Now" is read under the account's lock: concurrent writers cannot record out of order.
        now = self._write_time(self._now(), snap)
        if event.occurred_at is None:
            event = replace(event, occurred_at=now)
        # The unique (account, content id, policy) constraint tells a repeat: no look-up first.
        record = ledger.append_violation(event, now, self.policy.version)
        if record is not None:
            effects = apply(snap, record, self.policy, ledger)
            ledger.write_effects(record, effects)
            return decision_of(record.id, effects, summary(effects.snapshot, now, self.policy))
        existing = ledger.find_violation(event.content_id, event.policy)
        if existing is None:  # pragma: no cover - the conflict names a row
            raise ConflictError(f"content {event.content_id!r} conflicted with a row that cannot be read")
        return self._stored_decision(ledger, existing, snap, now)

    def _stored_decision(
        self, ledger: AccountLedger, existing: ViolationRecord, snap: Snapshot, now: datetime
    ) -> Decision:
        penalties, notes = ledger.stored_effects(existing.seq)
        found = ledger.strike(existing.id)
        kind = found[1] if found is not None else RecordKind.SAME_CONTENT
        original = Effects(
            snapshot=snap,
            kind=kind,
            rule=RuleHit(Rule.STRIKE, existing.event.policy, existing.event.feature),
            issued=tuple(penalties),
            notifications=tuple(notes),
        )
        first = decision_of(existing.id, original, summary(snap, now, self.policy))
        hit = RuleHit(Rule.DUPLICATE_EVENT, existing.event.policy, existing.event.feature)
        return Decision(DecisionKind.DUPLICATE, hit, existing.id, (), tuple(notes), first.state, first.kind)

    def account_status(
        self, account_id: str, as_of: datetime | None = None, *, known_at: datetime | None = None
    ) -> AccountState:
        """The account's state at ``as_of`` (default: now), as known at ``known_at`` (default: now).

        An account with no ledger entries is simply in good standing.
        """
        require_text(account_id, "account_id", MAX_ACCOUNT_ID)
        now = self._now()
        when = now if as_of is None else as_of
        require_aware(when, "as_of")
        if known_at is not None:
            require_aware(known_at, "known_at")
        folded = replay(
            self.store.read_ledger(account_id),
            self.policy,
            account_id=account_id,
            known_at=known_at,
            policies=self.store.load_policies(),
        )
        return view(folded, when, self.policy, known_at=known_at)

    def file_appeal(self, violation_id: int, reason: str, *, account_id: str | None = None) -> AppealView:
        """File the account's appeal of one strike (or warning); each can be appealed once.

        Args:
            violation_id: The strike.
            reason: Why the account disagrees.
            account_id: The authenticated account; a strike of another account is "not found".

        Raises:
            StrikeNotFoundError: No such strike (of this account).
            AppealAlreadyFiledError: The strike was already appealed.
            AppealWindowClosedError: The policy's appeal window has passed.
        """
        require_text(reason, "reason", MAX_REASON)
        owner = self.store.account_of_violation(violation_id)
        if owner is None or (account_id is not None and owner != account_id):
            raise StrikeNotFoundError(f"strike {violation_id} not found")
        self._save_policy()
        with self.store.lock_account(owner) as ledger:
            snap = self._snapshot(ledger)
            now = self._write_time(self._now(), snap)
            record = ledger.violation(violation_id)
            if record is None:  # pragma: no cover - found above
                raise StrikeNotFoundError(f"strike {violation_id} not found")
            earlier = ledger.appeal_of(violation_id)
            if earlier is not None:
                raise AppealAlreadyFiledError(
                    f"strike {violation_id} was already appealed (appeal {earlier.id}, filed "
                    f"{earlier.occurred_at.isoformat()}); an account can appeal a strike once"
                )
            check_window(record, now, self.policy.appeal_window)
            filed = ledger.append_appeal(violation_id, now, reason)
            ledger.write_effects(filed, apply(snap, filed, self.policy, ledger))
        logger.info("appeal %d filed against violation %d", filed.id, violation_id)
        return AppealView(filed.id, violation_id, filed.occurred_at, reason, AppealStatus.PENDING)

    def decide_appeal(
        self, appeal_id: int, outcome: AppealOutcome, *, moderator: str, note: str | None = None
    ) -> AppealResolution:
        """Record a human moderator's final decision on an appeal.

        Overturning makes the strike stop counting; every penalty that rested on it is re-checked and
        kept (if the remaining strikes justify it) or lifted, each with a notice. Upholding changes
        nothing but tells the account.

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
        self._save_policy()
        with self.store.lock_account(account_id) as ledger:
            snap = self._snapshot(ledger)
            now = self._write_time(self._now(), snap)
            found = ledger.appeal(appeal_id)
            if found is None:  # pragma: no cover - found above
                raise AppealNotFoundError(f"appeal {appeal_id} not found")
            filed, earlier = found
            if earlier is not None:
                raise AppealAlreadyDecidedError(
                    f"appeal {appeal_id} was already decided ({earlier.outcome.value} by {earlier.moderator} "
                    f"at {earlier.occurred_at.isoformat()}); decisions are final"
                )
            decided = ledger.append_appeal_decision(
                appeal_id, outcome, now, moderator, note, self.policy.version
            )
            effects = apply(snap, decided, self.policy, ledger)
            ledger.write_effects(decided, effects)
        status = AppealStatus.OVERTURNED if outcome is AppealOutcome.OVERTURN else AppealStatus.UPHELD
        appeal = AppealView(
            appeal_id, filed.violation_id, filed.occurred_at, filed.reason, status, now, moderator, note
        )
        logger.info("appeal %d %s; %d penalties lifted", appeal_id, status.value, len(effects.lifted))
        return AppealResolution(
            appeal,
            effects.lifted,
            effects.notifications,
            summary(effects.snapshot, now, self.policy),
            effects.kept,
        )

    def act_on_penalty(
        self, account_id: str, penalty_no: int, kind: ActionKind, *, moderator: str, reason: str | None = None
    ) -> ActionResult:
        """A moderator reverses a penalty (with a reason), or confirms or rejects a review hold.

        Raises:
            PenaltyNotFoundError: The account has no such penalty in force.
            ConflictError: Confirming or rejecting something that is not a review hold.
            InvalidEventError: A reversal without a reason.
        """
        require_text(account_id, "account_id", MAX_ACCOUNT_ID)
        require_text(moderator, "moderator", MAX_ACTOR)
        kind = ActionKind(kind)
        if reason is not None or kind is ActionKind.REVERSE_PENALTY:
            require_text(reason, "reason", MAX_REASON)
        self._save_policy()
        with self.store.lock_account(account_id) as ledger:
            snap = self._snapshot(ledger)
            now = self._write_time(self._now(), snap)
            action = ledger.append_action(kind, penalty_no, now, moderator, reason, self.policy.version)
            effects = apply(snap, action, self.policy, ledger)  # raises before commit if not in force
            ledger.write_effects(action, effects)
        logger.info("penalty %d of an account: %s", penalty_no, kind.value)
        return ActionResult(
            action,
            effects.lifted,
            effects.issued,
            effects.notifications,
            summary(effects.snapshot, now, self.policy),
        )

    def review_queue(self, limit: int = 100) -> list[tuple[str, Penalty]]:
        """Automated bans waiting for a moderator: (account id, review hold), oldest first."""
        return self.store.pending_reviews(limit)

    def notifications(
        self, account_id: str, *, after: int = 0, limit: int = 50
    ) -> list[tuple[int, Notification]]:
        """The account's stored notifications after the cursor ``after`` (a notification id)."""
        require_text(account_id, "account_id", MAX_ACCOUNT_ID)
        return self.store.notifications(account_id, after=after, limit=limit)

    # Reports ---------------------------------------------------------------------------------------

    def file_report(
        self,
        reporter_id: str,
        *,
        target_account_id: str,
        policy: Policy,
        feature: Feature,
        content_id: str | None = None,
        details: str | None = None,
    ) -> ReportView:
        """An account reports another account (or its content) for breaking ``policy``."""
        require_text(reporter_id, "reporter_id", MAX_ACCOUNT_ID)
        require_text(target_account_id, "target_account_id", MAX_ACCOUNT_ID)
        if content_id is not None:
            require_text(content_id, "content_id", MAX_CONTENT_ID)
        if details is not None:
            require_text(details, "details", MAX_REASON)
        if reporter_id == target_account_id:
            raise InvalidEventError("an account cannot report itself")
        values = {
            "reporter_id": reporter_id,
            "target_account_id": target_account_id,
            "content_id": content_id,
            "policy": Policy(policy).value,
            "feature": Feature(feature).value,
            "details": details,
            "created_at": self._now(),
            "status": "open",
        }
        report_id = self.store.add_report(values)
        return _report_view(self.store.report(report_id))

    def reports_by(self, reporter_id: str) -> list[ReportView]:
        """The reports an account made, with their outcomes."""
        return [_report_view(row) for row in self.store.reports(reporter_id=reporter_id)]

    def open_reports(self, limit: int = 100) -> list[ReportView]:
        """Reports no moderator has resolved yet, oldest first."""
        return [_report_view(row) for row in self.store.reports(status="open", limit=limit)]

    def resolve_report(
        self, report_id: int, *, actioned: bool, moderator: str, note: str | None = None
    ) -> tuple[ReportView, Decision | None]:
        """A moderator resolves a report: ``actioned`` records a moderator violation against the target.

        The report's outcome and (for an actioned report) the strike decision are written in one
        transaction, and the reporter is told the outcome (not the target's penalty).

        Raises:
            ReportNotFoundError: No such report.
            ConflictError: It was already resolved.
        """
        require_text(moderator, "moderator", MAX_ACTOR)
        if note is not None:
            require_text(note, "note", MAX_REASON)
        row = self.store.report(report_id)
        if row is None:
            raise ReportNotFoundError(f"report {report_id} not found")
        if row.status != "open":
            raise ConflictError(
                f"report {report_id} was already resolved ({row.status}); resolutions are final"
            )
        now = self._now()
        decision = None
        self._save_policy()
        with self.store.lock_accounts([row.target_account_id]) as tx:
            if actioned:
                event = ViolationEvent(
                    account_id=row.target_account_id,
                    policy=Policy(row.policy),
                    feature=Feature(row.feature),
                    content_id=row.content_id or f"report-{report_id}",
                    occurred_at=None,  # type: ignore[arg-type]
                    source=EventSource.MODERATOR,
                    actor=moderator,
                )
                self.check_event(event, now)
                decision = self._record(tx.ledger(row.target_account_id), event)
            status = "actioned" if actioned else "dismissed"
            values = {
                "status": status,
                "resolved_at": now,
                "moderator": moderator,
                "resolution_note": note,
                "violation_id": decision.violation_id if decision else None,
            }
            if not self.store.resolve_report(tx.connection, report_id, values):
                raise ConflictError(f"report {report_id} was already resolved; resolutions are final")
            outcome = "action was taken" if actioned else "no violation was found"
            message = f"Your report {report_id} was reviewed by a moderator: {outcome}."
            note_out = Notification(
                NotificationKind.REPORT_RESOLVED, row.reporter_id, message, None, None, now, None
            )
            self.store.add_notifications(tx.connection, [note_out])
        return _report_view(self.store.report(report_id)), decision

    # Verification ----------------------------------------------------------------------------------

    def verify_account(self, account_id: str) -> list[str]:
        """Replay the account's whole ledger and compare with what was stored; return the differences."""
        entries = self.store.read_ledger(account_id)
        stored = self.store.read_snapshot(account_id)
        if stored is None:
            return []
        folded = replay(entries, self.policy, account_id=account_id, policies=self.store.load_policies())
        problems = []
        last_seq, snapshot = stored
        if snapshot is None:
            if last_seq:
                problems.append(
                    f"{account_id}: no snapshot for {last_seq} ledger entries (write once to derive it)"
                )
            return problems
        if snapshot != folded.snapshot.to_json():
            problems.append(f"{account_id}: snapshot differs from the full replay")
        kinds = self.store.read_kinds(account_id)
        for vid, recorded in folded.records.items():
            want = (recorded.kind.value, rule_json(recorded.rule))
            if kinds.get(vid) != want:
                problems.append(
                    f"{account_id}: violation {vid} stored as {kinds.get(vid)}, replay says {want}"
                )
        stored_penalties = {p.no: p for p in self.store.read_penalties(account_id)}
        for no, penalty in folded.penalties.items():
            have = stored_penalties.get(no)
            if have is None or penalty_json(have) != penalty_json(replace(penalty, basis=have.basis)):
                problems.append(f"{account_id}: penalty {no} differs from the replay")
            elif (have.lifted_at, have.lift_cause, have.lifted_by) != (
                penalty.lifted_at,
                penalty.lift_cause,
                penalty.lifted_by,
            ):
                problems.append(f"{account_id}: penalty {no}'s lift differs from the replay")
        if set(stored_penalties) - set(folded.penalties):
            problems.append(
                f"{account_id}: penalties {sorted(set(stored_penalties) - set(folded.penalties))} "
                "not in the replay"
            )
        notes = [n for _, n in self.store.notifications(account_id, limit=10**9) if n.seq is not None]
        if [_note_key(n) for n in notes] != [_note_key(n) for n in folded.notifications]:
            problems.append(f"{account_id}: stored notifications differ from the replay")
        return problems

    def verify(self, batch: int = 500) -> tuple[int, list[str]]:
        """Verify every account; return (accounts checked, differences)."""
        checked, problems, after = 0, [], ""
        while ids := self.store.account_ids(after=after, limit=batch):
            for account_id in ids:
                problems += self.verify_account(account_id)
                checked += 1
            after = ids[-1]
        return checked, problems


def _note_key(n: Notification) -> tuple:
    return (n.kind, n.account_id, n.message, n.violation_id, n.penalty_no, n.seq, n.at)
