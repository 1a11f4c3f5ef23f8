"""Command-line commands of the ``inference`` package: ``tegur serve``."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import typer

from inference.settings import ENV_PREFIX, Precision, default_threads


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``tegur`` app."""
    app.command(name="serve")(serve)


def serve(
    model: Path = typer.Option(..., "--model", help="Trained artifact folder (written by `tegur train`)."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, help="Server processes; each loads the model and gets its share of the CPUs."
    ),
    precision: Precision = typer.Option(Precision.FP32, help="Model precision."),
    threads: int | None = typer.Option(
        None, min=1, help="Torch threads per worker; default: its share of the CPUs minus one (for HTTP)."
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
    settings = load_settings(model_dir=model, precision=precision, num_threads=num_threads)
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
    os.environ[f"{ENV_PREFIX}NUM_THREADS"] = str(num_threads)
    uvicorn.run("inference.api:create_app", factory=True, workers=workers, **uvicorn_options)


def _log_config(level: str) -> dict[str, Any]:
    # uvicorn's logging config, plus the service's loggers, so that worker processes log them too.
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for name in ("inference", "tegur"):
        config["loggers"][name] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config
