"""Command-line commands of the ``inference`` package: ``tegur serve``, ``tegur export onnx``."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import typer

from inference.settings import ENV_PREFIX, Precision, Runtime, default_threads


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``tegur`` app."""
    app.command(name="serve")(serve)
    export_app = typer.Typer(help="Export an artifact for faster runtimes (validated against the original).")
    export_app.command(name="onnx")(export_onnx)
    app.add_typer(export_app, name="export")


def export_onnx(
    model: Path = typer.Option(..., "--model", help="Trained artifact folder (written by `tegur train`)."),
    precisions: str = typer.Option(
        "fp32,int8,bf16",
        "--precisions",
        help="Variants to try, comma-separated, of fp32, int8, bf16 (bf16 only on CPUs with native bf16).",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Prepared-data folder to validate on (default: the one it was trained on)."
    ),
    split: str = typer.Option("validation", help="Split to validate on."),
    max_rows: int | None = typer.Option(None, min=1, help="Validate on the first N messages only."),
    threads: int | None = typer.Option(None, min=1, help="Threads for scoring and timing (default: all)."),
    min_agreement: float = typer.Option(
        0.995, min=0.0, max=1.0, help="Least share of messages whose flag decisions must match the original."
    ),
    max_f1_delta: float = typer.Option(0.005, min=0.0, max=1.0, help="Largest allowed per-label F1 change."),
) -> None:
    """Write model.onnx and model.int8.onnx into the artifact, each kept only if it scores like the original.

    Each variant is checked against PyTorch fp32 on the validation split (flag decisions agree on at
    least 99.5% of messages, every label's F1 within 0.005) and timed; export.json records the recipe
    and the numbers, and `tegur serve` then runs the fastest variant that passed. Exit code 2 names
    what was refused and why.
    """
    from inference.export import export_artifact

    try:
        wanted = [Precision(p.strip()) for p in precisions.split(",") if p.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{precisions!r}: use fp32, int8 and/or bf16", param_hint="--precisions"
        ) from None
    manifest = export_artifact(
        model,
        precisions=wanted,
        data_dir=data_dir,
        split=split,
        max_rows=max_rows,
        num_threads=threads,
        min_agreement=min_agreement,
        max_f1_delta=max_f1_delta,
    )
    typer.echo(_export_summary(manifest))


def _export_summary(manifest: Any) -> str:
    lines = [f"reference torch fp32: {manifest.reference.messages_per_s:,.0f} messages/s"]
    for v in manifest.variants:
        verdict = "kept" if v.validated else f"refused: {v.reason}"
        lines.append(
            f"{v.runtime.value} {v.precision.value} ({v.recipe.get('name', '')}): "
            f"agreement {v.agreement:.2%}, {v.messages_per_s:,.0f} messages/s, {verdict}"
        )
    return "\n".join(lines)


def serve(
    model: Path = typer.Option(..., "--model", help="Trained artifact folder (written by `tegur train`)."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, help="Server processes; each loads the model and gets its share of the CPUs."
    ),
    precision: Precision = typer.Option(
        Precision.AUTO,
        help="Model precision; auto: the fastest variant `tegur export onnx` validated, else PyTorch fp32.",
    ),
    runtime: Runtime = typer.Option(
        Runtime.AUTO, help="torch (the reference path) or onnxruntime; auto: ONNX Runtime when exported."
    ),
    threads: int | None = typer.Option(
        None, min=1, help="Model threads per worker; default: its share of the CPUs."
    ),
    log_level: str = typer.Option("info", help="Log level of the server (debug, info, warning, error)."),
) -> None:
    """Serve the model over HTTP: POST /v1/classify, GET /healthz, /readyz, /metrics, /docs.

    Other settings (limits, score bands, micro-batching) come from TEGUR_* environment variables;
    see docs/API.md.
    """
    import uvicorn

    from inference.api import create_app
    from inference.artifact import load_metadata
    from inference.settings import load_settings

    load_metadata(model)  # fail fast, with the artifact's own error, before starting a server
    num_threads = threads or default_threads(workers)
    settings = load_settings(model_dir=model, precision=precision, runtime=runtime, num_threads=num_threads)
    uvicorn_options = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "log_config": _log_config(log_level),
        # Our own access line (request id, route, status, latency) replaces uvicorn's.
        "access_log": False,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **uvicorn_options)
        return
    # Worker processes build their own app from the environment: pass the resolved settings there.
    os.environ[f"{ENV_PREFIX}MODEL_DIR"] = str(model)
    os.environ[f"{ENV_PREFIX}PRECISION"] = precision.value
    os.environ[f"{ENV_PREFIX}RUNTIME"] = runtime.value
    os.environ[f"{ENV_PREFIX}NUM_THREADS"] = str(num_threads)
    uvicorn.run("inference.api:create_app", factory=True, workers=workers, **uvicorn_options)


def _log_config(level: str) -> dict[str, Any]:
    # uvicorn's logging config, plus the service's loggers, so that worker processes log them too.
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for name in ("inference", "tegur"):
        config["loggers"][name] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config
