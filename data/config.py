"""Typed config of the data pipeline (the ``data:`` section of a config file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DataConfig(BaseModel):
    """Which sources go into the dataset and how it is split. Filled in by the data pipeline."""

    model_config = ConfigDict(extra="forbid")
