"""The root config: one YAML file with a section per concern, every section rejecting unknown keys.

A config file looks like::

    data:      {...}   # data.config.DataConfig: sources, caps, licence filter, splits
    model:     {...}   # training.config.ModelConfig: base model, head
    training:  {...}   # training.config.TrainingConfig: optimisation, early stopping, thresholds

The config's name is the file's stem (``configs/default.yaml`` -> ``default``); it names output folders.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.config import DataConfig
from tegur.errors import ConfigError
from training.config import ModelConfig, TrainingConfig


class TegurConfig(BaseModel):
    """The whole config file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Config name; defaults to the file stem. Names output folders.")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)


def format_validation_error(exc: ValidationError, source: str) -> str:
    """Render a pydantic error as lines that quote the key path, the bad value and the fix."""
    lines = [f"{source}: invalid config"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key (value {err.get('input')!r}); remove or respell it")
        else:
            lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def load_config(path: str | Path) -> TegurConfig:
    """Load and validate a config file; raise :class:`ConfigError` naming every bad key and value."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with data/model/training sections")
    raw.setdefault("name", path.stem)
    try:
        return TegurConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
