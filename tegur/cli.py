"""The ``tegur`` command line. Each package registers its own commands; heavy imports stay inside them."""

from __future__ import annotations

import logging
import sys

import typer

from tegur import __version__
from tegur.errors import TegurError

app = typer.Typer(
    name="tegur",
    help="Tegur: moderation for Indonesian comments and LIVE chat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tegur {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the Tegur version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the Tegur version."""
    typer.echo(__version__)


def _register_all() -> None:
    # Imported here, not at module top, so that `import tegur.cli` stays cheap and cycle-free.
    import data.cli
    import inference.cli
    import strikes.cli
    import training.cli

    for module in (data.cli, training.cli, inference.cli, strikes.cli):
        module.register(app)


_register_all()


def main() -> None:
    """Entry point: run the app, turning domain errors into a one-line message and exit code 2.

    Usage errors (a missing option, a bad value) are printed by click itself in standalone mode.
    """
    try:
        app()
    except TegurError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
