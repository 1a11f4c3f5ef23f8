"""Settings of the inference service, read from ``TEGUR_*`` environment variables.

Every field below is one variable: ``model_dir`` is ``TEGUR_MODEL_DIR``, ``threshold_bounds`` is
``TEGUR_THRESHOLD_BOUNDS`` (JSON, e.g. ``[0.05, 0.95]``), and so on. They are validated once, at start-up;
an invalid value stops the service with a :class:`~tegur.errors.ConfigError` that names the variable.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from tegur.errors import ConfigError

ENV_PREFIX = "TEGUR_"


class Precision(StrEnum):
    """Numeric precision the predictor runs in.

    ``auto`` picks the fastest variant that ``tegur export onnx`` validated for this artifact and this
    CPU (PyTorch fp32 when there is none); ``int8`` exists only as a validated ONNX variant; ``bf16`` is
    PyTorch autocast, fast only on CPUs with AVX512-BF16/AMX and on GPUs.
    """

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    INT8 = "int8"


class TorchPrecision(StrEnum):
    """The precisions PyTorch runs an artifact in without an export: fp32 (the reference) and bf16."""

    FP32 = "fp32"
    BF16 = "bf16"


#: ``--precision`` help of commands that load through :meth:`Predictor.from_artifact`.
PRECISION_HELP = (
    "Model precision; auto: the fastest variant `tegur export onnx` validated, else PyTorch fp32. "
    "int8 only once `tegur export onnx` has validated an int8 variant of this artifact."
)


class Runtime(StrEnum):
    """What runs the model: ``torch`` (the reference path) or ``onnxruntime`` (an exported variant)."""

    AUTO = "auto"
    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"


class ServeSettings(BaseSettings):
    """Configuration of ``tegur serve``: model, request limits, score bands, micro-batching, logging."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    model_dir: Path | None = Field(
        default=None,
        description="Trained artifact folder to serve (written by `tegur train`). Required to serve.",
    )
    precision: Precision = Field(
        default=Precision.AUTO,
        description="Precision to run the model in; auto: the fastest variant the artifact validated.",
    )
    runtime: Runtime = Field(
        default=Runtime.AUTO,
        description="torch (the reference path) or onnxruntime; auto: ONNX Runtime when the artifact has "
        "a validated variant of the precision.",
    )
    num_threads: int | None = Field(
        default=None,
        ge=1,
        le=512,
        description="Intra-op threads of the model (ONNX Runtime or torch); default: the CPUs this "
        "process may run on, divided by the number of workers.",
    )
    model_batch_size: int = Field(
        default=64, ge=1, le=4096, description="Texts per forward pass inside one model call."
    )

    max_batch_items: int = Field(default=256, ge=1, le=10_000, description="Most items in one request.")
    max_text_chars: int = Field(default=2000, ge=1, le=100_000, description="Longest text, in characters.")
    max_id_chars: int = Field(
        default=128, ge=1, le=1024, description="Longest `id`, `author_id` or `stream_id`, in characters."
    )
    max_body_bytes: int = Field(
        default=4 * 1_048_576,
        ge=1024,
        le=256 * 1_048_576,
        description="Largest request body, in bytes (the default fits a full batch of the longest texts, "
        "even with every character \\u-escaped).",
    )

    batch_max_wait_ms: float = Field(
        default=5.0,
        ge=0.0,
        le=1000.0,
        description="Longest the micro-batcher waits for requests still being received before it calls the "
        "model (it never waits when none are; 0: never waits).",
    )
    batch_max_items: int = Field(
        default=256, ge=1, le=10_000, description="Most items the micro-batcher merges into one model call."
    )
    queue_limit: int = Field(
        default=4096,
        ge=1,
        le=1_000_000,
        description="Most items waiting for the model; beyond it requests get 503 with Retry-After.",
    )

    threshold_bounds: tuple[float, float] = Field(
        default=(0.05, 0.95),
        description="Lowest and highest per-label threshold a request may ask for.",
    )
    review_band: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Score from which an unflagged label still sends the message to `review`.",
    )
    remove_band: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description="Score from which a flagged label makes the action `remove`.",
    )

    strikes: bool = Field(
        default=True,
        description="Serve the strike engine too (POST /v1/moderate, moderator and account routes, a ledger "
        "database: see the TEGUR_DATABASE_URL family of settings); false: classify only, no database.",
    )

    log_texts: bool = Field(
        default=False,
        description="Log raw message texts (debug only: they carry personal data).",
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        low, high = self.threshold_bounds
        if not 0.0 < low <= high < 1.0:
            raise ValueError(
                f"TEGUR_THRESHOLD_BOUNDS must be [low, high] with 0 < low <= high < 1, got [{low}, {high}]"
            )
        if self.review_band > self.remove_band:
            raise ValueError(
                f"TEGUR_REVIEW_BAND ({self.review_band}) must not exceed "
                f"TEGUR_REMOVE_BAND ({self.remove_band})"
            )
        if self.batch_max_items > self.queue_limit:
            raise ValueError(
                f"TEGUR_BATCH_MAX_ITEMS ({self.batch_max_items}) must not exceed "
                f"TEGUR_QUEUE_LIMIT ({self.queue_limit})"
            )
        if self.max_batch_items > self.queue_limit:
            raise ValueError(
                f"TEGUR_MAX_BATCH_ITEMS ({self.max_batch_items}) must not exceed TEGUR_QUEUE_LIMIT "
                f"({self.queue_limit}): a request that large could never be queued"
            )
        return self

    @property
    def threads(self) -> int:
        """Intra-op threads to use: ``num_threads``, or :func:`default_threads`."""
        return self.num_threads or default_threads()


def default_threads(workers: int = 1) -> int:
    """Model threads per server process: its share of the CPUs.

    The model's threads do not spin while idle (ONNX Runtime runs with spinning off), so the event loop
    and the tokenizer get a core whenever they need one; before ONNX Runtime, serving left one core free
    and ran the model on a single thread of a 2-core machine.
    """
    return max(1, available_cpus() // max(1, workers))


def available_cpus() -> int:
    """CPUs this process may run on (respects CPU affinity, unlike ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def load_settings(**overrides: Any) -> ServeSettings:
    """Read :class:`ServeSettings` from the environment, with ``overrides`` taking precedence.

    Raises:
        ConfigError: a value is invalid; the message names the environment variable and the fix.
    """
    try:
        return ServeSettings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if error["loc"]:
                where = f"{ENV_PREFIX}{str(error['loc'][0]).upper()}"
                problems.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
            else:  # a cross-field check: its message names the variables
                problems.append(str(error["msg"]).removeprefix("Value error, "))
        # One line, as every start-up error: the CLI prints it after "error: " and exits with code 2.
        raise ConfigError("invalid serve settings: " + "; ".join(problems)) from None
    except SettingsError as exc:
        # pydantic-settings could not parse a complex value (a list given as non-JSON).
        field = _quoted_field(str(exc))
        where = f"{ENV_PREFIX}{field.upper()}" if field else "a TEGUR_ variable"
        raise ConfigError(f"{where}: {exc}; give lists as JSON, e.g. [0.05, 0.95]") from None


def _quoted_field(message: str) -> str:
    parts = message.split('"')
    return parts[1] if len(parts) >= 3 else ""


@lru_cache(maxsize=1)
def get_settings() -> ServeSettings:
    """The process's settings, read from the environment once (tests pass their own to ``create_app``)."""
    return load_settings()
