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
