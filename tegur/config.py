"""The root config: one YAML file with a section per concern, every section rejecting unknown keys.

A config file looks like::

    data:      {...}   # data.config.DataConfig: sources, caps, licence filter, splits
    model:     {...}   # training.config.ModelConfig: base model, head
    training:  {...}   # training.config.TrainingConfig: optimisation, early stopping, thresholds
    distill:   {...}   # training.config.DistillConfig: a student's depth and loss (tegur distill only)

The config's name is the file's stem (``configs/default.yaml`` -> ``default``); it names output folders.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.config import DataConfig
from tegur.errors import ConfigError
from tegur.yaml_config import format_validation_error, read_yaml_mapping
from training.config import DistillConfig, ModelConfig, TrainingConfig


class TegurConfig(BaseModel):
    """The whole config file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Config name; defaults to the file stem. Names output folders.")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    distill: DistillConfig | None = Field(
        None, description="Student settings for `tegur distill` (ignored by `tegur train`)."
    )


def load_config(path: str | Path) -> TegurConfig:
    """Load and validate a config file; raise :class:`ConfigError` naming every bad key and value."""
    path = Path(path)
    raw = read_yaml_mapping(path, what="config file", allow_empty=True)
    raw.setdefault("name", path.stem)
    try:
        config = TegurConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
    _check_source_weights(config, path)
    return config


def _check_source_weights(config: TegurConfig, path: Path) -> None:
    """``training.source_weights`` may only name sources that the data section uses (or 'curated')."""
    from data.loaders import CURATED_SOURCE

    if config.data.sources is None:  # every manifest source: nothing to check a typo against here
        return
    known = [CURATED_SOURCE, *config.data.sources]
    unknown = [name for name in config.training.source_weights if name not in known]
    if unknown:
        raise ConfigError(
            f"{path}: invalid config\n  training.source_weights: {', '.join(map(repr, unknown))} is not a "
            f"source of data.sources; expected one of {', '.join(known)}"
        )
