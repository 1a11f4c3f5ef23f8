"""Command-line commands of the ``strikes`` package: ``tegur strikes migrate|status|verify|check-policy``."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from strikes.settings import DEFAULT_POLICY_PATH

if TYPE_CHECKING:
    from strikes.schemas import AccountStatusOut

strikes_app = typer.Typer(
    name="strikes",
    help="The strike engine: database migrations, account status, ledger verification, policy checks.",
    no_args_is_help=True,
)

_DB_HELP = "Database URL (sqlite:///strikes.db or postgresql+psycopg://...); default: TEGUR_DATABASE_URL."
_POLICY_HELP = "Strike policy YAML; default: TEGUR_POLICY_PATH, else the policy shipped with Tegur."


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``tegur`` app."""
    app.add_typer(strikes_app)


def _parse_as_of(value: str | None) -> datetime | None:
    from strikes.errors import InvalidEventError

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEventError(
            f"--as-of {value!r} is not an ISO 8601 date-time; e.g. 2024-05-01T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidEventError(
            f"--as-of {value!r} has no timezone; add one, e.g. 2024-05-01T00:00:00Z or "
            "2024-05-01T07:00:00+07:00"
        )
    return parsed


def _quiet_alembic() -> None:
    # Alembic logs its set-up at INFO; these commands print their own one-line summary.
    logging.getLogger("alembic").setLevel(logging.WARNING)


@strikes_app.command()
def migrate(db: str | None = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """Create or upgrade the strike tables to the newest schema."""
    from strikes.settings import load_strike_settings
    from strikes.storage import StrikeStore

    _quiet_alembic()
    store = StrikeStore(db or load_strike_settings().database_url)
    try:
        before = store.current_revision()
        head = store.migrate()
    finally:
        store.close()
    if before == head:
        typer.echo(f"{store.display_url}: already at schema revision {head}")
    else:
        typer.echo(f"{store.display_url}: upgraded from {before or 'empty'} to schema revision {head}")


@strikes_app.command()
def status(
    account: str = typer.Argument(..., help="The account id."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    policy: Path | None = typer.Option(None, "--policy", help=_POLICY_HELP),
    as_of: str | None = typer.Option(None, "--as-of", help="Recompute the state at this ISO 8601 instant."),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON status view instead of tables."),
) -> None:
    """Show an account's strikes, restrictions, ban state and distance to each threshold."""
    from strikes.policy import load_strike_policy
    from strikes.schemas import AccountStatusOut
    from strikes.service import StrikeService
    from strikes.settings import load_strike_settings
    from strikes.storage import StrikeStore

    _quiet_alembic()
    when = _parse_as_of(as_of)
    settings = load_strike_settings()
    strike_policy = load_strike_policy(policy or settings.policy_path)
    store = StrikeStore(db or settings.database_url)
    try:
        store.ensure_schema(migrate=False)
        view = AccountStatusOut.of(StrikeService(store, strike_policy).account_status(account, when))
    finally:
        store.close()
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
    else:
        _print_status(view)


def _print_status(view: AccountStatusOut) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    when = view.as_of.isoformat(timespec="seconds")
    if view.ban is not None:
        console.print(
            f"[bold red]{view.account_id}: permanently banned[/] as of {when} ({view.ban.rule.message})"
        )
    else:
        console.print(f"[bold]{view.account_id}[/] as of {when}: not banned")
    for feature, until in view.restricted_until.items():
        console.print(f"  [yellow]{feature.value} restricted until {until.isoformat(timespec='minutes')}[/]")

    thresholds = Table(title="Distance to ban thresholds")
    for column in ("scope", "name", "active", "threshold", "remaining"):
        thresholds.add_column(column)
    for t in view.thresholds:
        style = "red" if t.remaining <= 1 else None
        thresholds.add_row(
            t.scope.value, t.name, str(t.active), str(t.threshold), str(t.remaining), style=style
        )
    console.print(thresholds)

    history = Table(title="History (warnings and strikes, newest last)")
    for column in ("id", "occurred", "policy", "feature", "kind", "status", "expires", "appeal"):
        history.add_column(column)
    for s in view.history:
        history.add_row(
            str(s.id),
            s.occurred_at.isoformat(timespec="minutes"),
            s.policy.value,
            s.feature.value,
            s.kind.value,
            s.status.value,
            s.expires_at.date().isoformat(),
            s.appeal.status.value if s.appeal else "",
        )
    console.print(history)

    if view.penalty_history:
        penalties = Table(title="Restrictions and bans")
        for column in ("kind", "feature", "starts", "ends", "status", "strike", "rule"):
            penalties.add_column(column)
        for p in view.penalty_history:
            penalties.add_row(
                p.kind.value,
                p.feature.value if p.feature else "",
                p.starts_at.isoformat(timespec="minutes"),
                p.ends_at.isoformat(timespec="minutes") if p.ends_at else "",
                p.status.value,
                str(p.triggered_by_strike),
                p.rule.message,
            )
        console.print(penalties)


@strikes_app.command()
def verify(
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    policy: Path | None = typer.Option(None, "--policy", help=_POLICY_HELP),
) -> None:
    """Replay every account's ledger and compare with its stored snapshot, decisions and notices."""
    from strikes.policy import load_strike_policy
    from strikes.service import StrikeService
    from strikes.settings import load_strike_settings
    from strikes.storage import StrikeStore

    _quiet_alembic()
    settings = load_strike_settings()
    store = StrikeStore(db or settings.database_url)
    try:
        store.ensure_schema(migrate=False)
        checked, problems = StrikeService(store, load_strike_policy(policy or settings.policy_path)).verify()
    finally:
        store.close()
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        typer.echo(f"{len(problems)} differences in {checked} accounts", err=True)
        raise typer.Exit(1)
    typer.echo(f"{store.display_url}: {checked} accounts verified; every snapshot matches its full replay")


@strikes_app.command("check-policy")
def check_policy(
    path: Path = typer.Argument(
        DEFAULT_POLICY_PATH, help="The policy YAML to check (default: the shipped one)."
    ),
) -> None:
    """Validate a strike policy file and summarise its thresholds."""
    from strikes.policy import load_strike_policy

    policy = load_strike_policy(path)
    typer.echo(
        f"{path}: valid. Strikes expire after {policy.strike_ttl_days} days; cumulative ban at "
        f"{policy.cumulative_threshold}; first violation is "
        f"{'a warning' if policy.first_violation_warning else 'a strike'}."
    )
    for name, rule in sorted(policy.policies.items(), key=lambda item: -item[1].severity.rank):
        ban = "bans at once" if rule.threshold is None else f"ban at {rule.threshold} strikes"
        typer.echo(f"  policy  {name.value:<26} {rule.severity.value:<8} {ban}")
    for name, rule in policy.features.items():
        ladder = ", ".join(f"{s.after_strikes} -> {s.duration_hours}h" for s in rule.restrictions) or "none"
        typer.echo(f"  feature {name.value:<26} ban at {rule.threshold} strikes; restrictions: {ladder}")
