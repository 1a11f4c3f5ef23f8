"""Typed configs of the model and of training (the ``model:`` and ``training:`` sections)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ModelConfig(BaseModel):
    """The base model and the classification head."""

    model_config = ConfigDict(extra="forbid")


class TrainingConfig(BaseModel):
    """Optimisation, early stopping and threshold tuning."""

    model_config = ConfigDict(extra="forbid")
