"""Commands of the ``training`` package: ``tegur train``, ``distill``, ``baseline``, ``model``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``tegur`` app."""
    from training import base_model, evaluate

    app.command(name="train")(train_command)
    app.command(name="distill")(distill_command)
    app.command(name="baseline")(baseline_command)
    app.command(name="loso")(loso_command)
    app.command(name="functional")(functional_command)
    base_model.register(app)
    evaluate.register(app)


def train_command(
    config: Path = typer.Option(..., "--config", "-c", help="Config file, e.g. configs/default.yaml."),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Artifact folder (default: artifacts/<config name>)."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Prepared-data folder (default: the config's data output folder)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue from the last checkpoint of an interrupted run."
    ),
) -> None:
    """Fine-tune the classifier and write the artifact (weights, tokenizer, thresholds, metrics, card).

    Checkpoints go to <output-dir>.checkpoints and are removed after a successful run.
    """
    from tegur.config import load_config
    from training.train import train

    train(load_config(config), output_dir=output_dir, data_dir=data_dir, resume=resume)


def distill_command(
    teacher: Path = typer.Option(..., "--teacher", help="Trained teacher artifact, e.g. artifacts/default."),
    config: Path = typer.Option(..., "--config", "-c", help="Student config, e.g. configs/student.yaml."),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Student artifact folder (default: artifacts/<config name>)."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Prepared-data folder (default: the one the teacher was trained on)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue from the last checkpoint of an interrupted run."
    ),
) -> None:
    """Distil the teacher into a smaller student (fewer layers copied from it, trimmed vocabulary).

    The student learns the teacher's soft labels on the train split and any unlabelled text, and the
    gold labels; then gets thresholds, metrics and a model card naming its teacher, like `tegur train`.
    Export it for speed with `tegur export onnx --model <student>`.
    """
    from tegur.config import load_config
    from training.distill import distill

    distill(load_config(config), teacher_dir=teacher, output_dir=output_dir, data_dir=data_dir, resume=resume)


def baseline_command(
    config: Path = typer.Option(..., "--config", "-c", help="Config file, e.g. configs/default.yaml."),
    output_dir: Path | None = typer.Option(
        None,
        "--output-dir",
        "-o",
        help="Where baseline_metrics.json goes (default: artifacts/<name>-baseline).",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Prepared-data folder (default: the config's data output folder)."
    ),
) -> None:
    """Train the TF-IDF + logistic-regression baseline on the same split and report its metrics."""
    from tegur.config import load_config
    from training.baseline import run_baseline

    run_baseline(load_config(config), output_dir=output_dir, data_dir=data_dir)


def loso_command(
    config: Path = typer.Option(
        ..., "--config", "-c", help="Config trained per fold (a cheaper one is fine: configs/loso.yaml)."
    ),
    out: Path = typer.Option(Path("reports/loso"), "--out", help="Output folder (loso.json, loso.md)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Prepared-data folder (default: the config's data output folder)."
    ),
    hold_out: list[str] | None = typer.Option(
        None,
        "--hold-out",
        metavar="SOURCE[+SOURCE]",
        help="A group to hold out (repeatable); default every public source, overlapping ones together.",
    ),
    max_eval_rows: int = typer.Option(
        4000,
        "--max-eval-rows",
        min=1,
        help="Held-out rows scored per fold (a stable sample that keeps the prevalence).",
    ),
    baseline_only: bool = typer.Option(False, "--baseline-only", help="Only the TF-IDF baseline (quick)."),
    keep_models: bool = typer.Option(False, "--keep-models", help="Keep each fold's trained artifact."),
) -> None:
    """Leave-one-source-out: per public source, train without it (model and baseline) and test on it."""
    from training.loso import loso_command as run

    run(config, out, data_dir, hold_out, max_eval_rows, baseline_only, keep_models)


def functional_command(
    model: Path = typer.Option(..., "--model", help="Trained artifact folder."),
    suite: Path = typer.Option(Path("data/functional"), "--suite", help="Functional suite folder."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Output folder (functional.json, .md); default reports/<model>/functional.",
    ),
) -> None:
    """Run the Indonesian functional test suite: pass rate per functionality against its target."""
    from training.functional import functional_command as run

    run(model, suite, out)
