"""Command-line commands of the ``data`` package: ``tegur data fetch`` and ``tegur data prepare``."""

from __future__ import annotations

from pathlib import Path

import typer

# Kept as literals so that `tegur --help` does not import the data pipeline.
_DEFAULT_DEST = Path("data/raw")
_GITHUB_RAW = "https://raw.githubusercontent.com"

data_app = typer.Typer(
    name="data",
    help="Fetch the public sources and prepare the training dataset.",
    no_args_is_help=True,
)


@data_app.command("fetch")
def fetch_command(
    mirror: Path | None = typer.Option(
        None,
        "--mirror",
        help="Copy from this local folder (laid out like ../shared/data) instead of downloading.",
    ),
    dest: Path = typer.Option(_DEFAULT_DEST, "--dest", help="Where to put the files, one folder per source."),
    manifest: Path | None = typer.Option(
        None, "--manifest", help="Source manifest; default: the packaged data/sources.yaml."
    ),
    source: list[str] | None = typer.Option(
        None, "--source", "-s", help="Fetch only this source (repeatable); default: every source."
    ),
    base_url: str = typer.Option(
        _GITHUB_RAW, "--base-url", help="Server of raw GitHub files (a proxy of raw.githubusercontent.com)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download every manifest file at its pinned commit (or copy it from --mirror), checking its sha256.

    Files already present with the right hash are skipped; a file that fails the check is not written.
    """
    from rich.console import Console

    from data.sources import DEFAULT_MANIFEST, FetchAction, fetch, load_manifest

    loaded = load_manifest(manifest or DEFAULT_MANIFEST)
    results = fetch(
        loaded, dest, mirror=mirror, sources=source or None, base_url=base_url, show_progress=not quiet
    )
    counts = {action: sum(1 for r in results if r.action is action) for action in FetchAction}
    size = sum(r.bytes for r in results) / 1e6
    Console().print(
        f"[green]ok[/green] {len(results)} files in {dest}: {counts[FetchAction.DOWNLOADED]} downloaded, "
        f"{counts[FetchAction.COPIED]} copied, {counts[FetchAction.SKIPPED]} already there "
        f"({size:.1f} MB written); every sha256 matches the manifest"
    )


@data_app.command("prepare")
def prepare_command(
    config: Path = typer.Option(..., "--config", "-c", help="Config file, e.g. configs/default.yaml."),
) -> None:
    """Build train/validation/test JSONL from the fetched sources and the curated set.

    Output: the config's data.output_dir (default data/processed/<config name>/) with stats.json and
    stats.md; the folder is replaced only when everything succeeded.
    """
    from rich.console import Console

    from data.prepare import prepare, render_table
    from tegur.config import load_config

    loaded = load_config(config)
    console = Console()
    with console.status("preparing") as status:
        result = prepare(loaded, on_step=lambda msg: status.update(msg))
    console.print(render_table(result.stats))
    licenses = ", ".join(f"{name} ({n})" for name, n in sorted(result.stats["licenses"].items()))
    console.print(f"licenses included: {licenses}")
    console.print(
        f"[green]ok[/green] wrote {result.output_dir} in {result.stats['seconds']} s "
        f"(train {len(result.splits['train'])}, validation {len(result.splits['validation'])}, "
        f"test {len(result.splits['test'])})"
    )


@data_app.command("style-probe")
def style_probe_command(
    data_dir: Path = typer.Option(..., "--data-dir", help="Prepared-data folder (reads train.jsonl)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling and the folds."),
) -> None:
    """Can a classifier tell hand-written from public lines after normalisation? (ROC-AUC, 0.5 = chance)"""
    from data.dataset import read_split
    from data.style_probe import style_probe

    result = style_probe(read_split(data_dir, "train"), seed=seed)
    auc = result["roc_auc"]
    typer.echo(
        f"curated vs public, label sets balanced, {result['rows']} rows: "
        + (
            f"ROC-AUC {auc:.3f} on normalised text, {result['shape_roc_auc']:.3f} on its shape (style only)"
            if auc is not None
            else result["note"]
        )
    )


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``tegur`` app."""
    app.add_typer(data_app, name="data")
