"""Commands of the ``inference`` package: ``tegur serve``, ``tegur classify``, ``tegur export onnx``."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import typer

from inference.classify_file import FileFormat, TextEncoding
from inference.settings import ENV_PREFIX, PRECISION_HELP, Precision, Runtime, default_threads

_RUNTIME_HELP = "torch (the reference path) or onnxruntime; auto: ONNX Runtime when exported."


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``tegur`` app."""
    app.command(name="serve")(serve)
    app.command(name="classify")(classify)
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


def classify(
    file: str = typer.Argument(..., help="CSV, TSV or JSONL file of messages; - reads stdin."),
    model: Path = typer.Option(..., "--model", help="Trained artifact folder (written by `tegur train`)."),
    output: str = typer.Option(
        "-", "--output", "-o", help="Where to write the results; - (default) is stdout."
    ),
    text_col: str = typer.Option(
        "text", "--text-col", help="Column (CSV/TSV) or key (JSONL) holding the text."
    ),
    id_col: str = typer.Option(
        "id", "--id-col", help="Column or key holding the message id, if any; else the line number is the id."
    ),
    input_format: FileFormat = typer.Option(
        FileFormat.AUTO,
        "--format",
        help="Input layout; auto: from the file name (.csv, .tsv, .jsonl), else JSONL if it starts with {.",
    ),
    output_format: FileFormat = typer.Option(
        FileFormat.AUTO, "--output-format", help="Output layout; auto: from the -o name, else the input's."
    ),
    encoding: TextEncoding = typer.Option(
        TextEncoding.UTF8, "--encoding", help="Text encoding of a CSV/TSV."
    ),
    keep_text: bool = typer.Option(
        False, "--keep-text", help="Copy the text into the output (personal data)."
    ),
    chunk_size: int = typer.Option(
        512,
        "--chunk-size",
        min=1,
        max=100_000,
        help="Rows read, scored and written at a time (memory bound).",
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Texts per forward pass."),
    precision: Precision = typer.Option(Precision.AUTO, help=PRECISION_HELP),
    runtime: Runtime = typer.Option(Runtime.AUTO, help=_RUNTIME_HELP),
    threads: int | None = typer.Option(None, min=1, help="Model threads (default: all the CPUs it may use)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Score every message of a file: action, flagged labels and a score per label, one row per input row.

    The decisions are those of POST /v1/classify (the model's thresholds; score bands from
    TEGUR_REVIEW_BAND and TEGUR_REMOVE_BAND). The file is streamed in chunks, so memory stays flat on
    files of any size; an -o file is written only when every row was scored.
    """
    from inference.classify import ActionBands
    from inference.classify_file import classify_file
    from inference.predictor import Predictor
    from inference.settings import load_settings

    settings = load_settings(model_dir=model, precision=precision, runtime=runtime, num_threads=threads)
    predictor = Predictor.from_artifact(
        model, precision=precision, runtime=runtime, num_threads=settings.threads
    )
    summary = classify_file(
        file,
        output,
        predictor,
        ActionBands(review=settings.review_band, remove=settings.remove_band),
        progress=not quiet,
        fmt=input_format,
        out_format=output_format,
        text_col=text_col,
        id_col=id_col,
        encoding=encoding,
        chunk_size=chunk_size,
        batch_size=batch_size,
        keep_text=keep_text,
    )
    if not quiet:
        where = "" if output == "-" else f" -> {output}"
        typer.echo(summary.describe() + where, err=True)


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
    precision: Precision = typer.Option(Precision.AUTO, help=PRECISION_HELP),
    runtime: Runtime = typer.Option(Runtime.AUTO, help=_RUNTIME_HELP),
    threads: int | None = typer.Option(
        None, min=1, help="Model threads per worker; default: its share of the CPUs."
    ),
    policy: Path | None = typer.Option(
        None,
        "--policy",
        help="Strike policy YAML; default: TEGUR_POLICY_PATH, else the policy shipped with Tegur.",
    ),
    strikes: bool = typer.Option(
        True,
        "--strikes/--classify-only",
        help="Serve the strike engine too (needs its database, TEGUR_DATABASE_URL, default "
        "sqlite:///strikes.db here), or classify only: no strike routes, no database.",
    ),
    log_level: str = typer.Option("info", help="Log level of the server (debug, info, warning, error)."),
) -> None:
    """Serve the model over HTTP (docs/API.md describes every route; /docs is the live schema).

    \b
    POST /v1/classify                 score messages: scores, flagged labels, action, minor signal
    GET  /healthz, /readyz, /metrics  liveness, readiness, Prometheus metrics
    GET  /docs, /redoc, /openapi.json the OpenAPI schema
    With the strike engine (not with --classify-only):
    POST /v1/moderate                 classify, then strike the removals (classifier key)
    /v1/violations, /v1/appeals, /v1/reviews, /v1/moderation/..., /v1/accounts/.../penalties
                                      moderator routes (X-API-Key)
    /v1/accounts/..., /v1/strikes/.../appeal, /v1/reports
                                      account routes (account token)

    Other settings (limits, score bands, micro-batching, strike keys and database) come from TEGUR_*
    environment variables; see docs/API.md. A bad setting, artifact or precision stops it before it
    listens, with one line and exit code 2.
    """
    import uvicorn

    from inference.api import create_app
    from inference.settings import load_settings

    num_threads = threads or default_threads(workers)
    settings = load_settings(
        model_dir=model, precision=precision, runtime=runtime, num_threads=num_threads, strikes=strikes
    )
    check_model(model, precision, runtime)
    if strikes:
        check_strike_service(policy)
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
    os.environ[f"{ENV_PREFIX}STRIKES"] = str(strikes).lower()
    uvicorn.run("inference.api:create_app", factory=True, workers=workers, **uvicorn_options)


def check_model(model: Path, precision: Precision, runtime: Runtime) -> None:
    """Fail fast, before a server starts: the artifact loads and offers ``precision`` on ``runtime``.

    Raises:
        ArtifactError: ``model`` is not a Tegur artifact.
        ConfigError: the artifact has no validated variant of that precision/runtime (int8 needs one).
    """
    from inference.artifact import load_metadata
    from inference.backends import choose_backend, load_manifest

    metadata = load_metadata(model)
    choose_backend(load_manifest(model, metadata.model_version), model, precision=precision, runtime=runtime)


def check_strike_service(policy: Path | None) -> None:
    """Fail fast on the strike settings (keys, secret), the policy and the database; ``policy`` wins
    over ``TEGUR_POLICY_PATH`` (and is passed on to the app and its workers through it).

    Raises:
        ConfigError: a bad setting or policy file. StorageError: the database is unreachable.
    """
    from strikes.service import StrikeService
    from strikes.settings import get_strike_settings, load_strike_settings

    if policy is not None:
        os.environ[f"{ENV_PREFIX}POLICY_PATH"] = str(policy.resolve())
        get_strike_settings.cache_clear()
    StrikeService.from_settings(load_strike_settings()).close()


def _log_config(level: str) -> dict[str, Any]:
    # uvicorn's logging config, plus the service's loggers, so that worker processes log them too.
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for name in ("inference", "tegur"):
        config["loggers"][name] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config
