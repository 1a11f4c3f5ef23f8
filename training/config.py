"""Typed configs of the model and of training (the ``model:`` and ``training:`` sections).

Every field is documented and validated at load: a bad value fails with a message that quotes it and
says the fix; an unknown key fails naming the key (``extra="forbid"``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Where ``tegur model build --offline`` writes the base model; used when neither ``name_or_path`` nor
#: ``tiny`` is set.
DEFAULT_BASE_MODEL = "models/multilingual-e5-small"


class LossKind(StrEnum):
    """Training loss of the multi-label head (see ``inference.modeling.multilabel_loss``)."""

    BCE = "bce"
    FOCAL = "focal"


class TinyModelConfig(BaseModel):
    """A small randomly initialised BERT and a WordPiece tokenizer built from the train split.

    Nothing is downloaded: for tests and CI, where the point is the pipeline, not the scores.
    """

    model_config = ConfigDict(extra="forbid")

    hidden_size: int = Field(32, gt=0, description="Width of the encoder.")
    num_hidden_layers: int = Field(2, gt=0, le=24, description="Number of transformer layers.")
    num_attention_heads: int = Field(2, gt=0, description="Attention heads; must divide hidden_size.")
    intermediate_size: int = Field(64, gt=0, description="Width of the feed-forward layers.")
    vocab_size: int = Field(2000, ge=100, le=100_000, description="Most WordPiece tokens to keep.")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TinyModelConfig:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads "
                f"{self.num_attention_heads}; pick heads that divide the width"
            )
        return self


class ModelConfig(BaseModel):
    """The base model and the classification head."""

    model_config = ConfigDict(extra="forbid")

    name_or_path: str | None = Field(
        None,
        description=(
            "Base encoder: a local folder (default models/multilingual-e5-small, built by "
            "`tegur model build --offline`) or a Hugging Face Hub id such as intfloat/multilingual-e5-small "
            "(needs internet). Mutually exclusive with `tiny`."
        ),
    )
    tiny: TinyModelConfig | None = Field(
        None, description="Build a tiny model locally instead of loading a base model (tests, CI)."
    )
    text_prefix: str = Field(
        "", description="Prepended to every normalised text; e5 models expect 'query: '."
    )
    max_length: int = Field(
        128, ge=8, le=512, description="Tokens per text after truncation (LIVE chat lines are short)."
    )
    slang_maps: list[str] = Field(
        default_factory=list,
        description=(
            "CSV files mapping slang to standard Indonesian, merged into the normaliser and saved in the "
            "artifact. Files that do not exist are skipped with a warning (data not fetched)."
        ),
    )
    classifier_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout before the linear head.")
    freeze_embeddings: bool = Field(
        False, description="Do not train the embedding tables (no gradient for e5-small's 96M-row table)."
    )
    freeze_layers: int = Field(
        0,
        ge=0,
        le=48,
        description=(
            "Also freeze the lowest N encoder layers (implies freeze_embeddings): backpropagation stops "
            "above them, so steps get faster; the upper layers and the head still adapt."
        ),
    )

    @model_validator(mode="after")
    def _one_base(self) -> ModelConfig:
        if self.tiny is not None and self.name_or_path is not None:
            raise ValueError(
                f"name_or_path ({self.name_or_path!r}) and tiny are mutually exclusive; keep one of them"
            )
        if self.tiny is None and self.name_or_path is None:
            self.name_or_path = DEFAULT_BASE_MODEL
        if self.tiny is not None and self.freeze_layers >= self.tiny.num_hidden_layers:
            raise ValueError(
                f"freeze_layers {self.freeze_layers} would freeze all {self.tiny.num_hidden_layers} "
                "layers of the tiny model; freeze fewer"
            )
        return self

    @field_validator("name_or_path")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("name_or_path is empty; give a local folder or a Hub id, or remove the key")
        return value

    @property
    def base_name(self) -> str:
        """A short name of the base model for the model card and logs."""
        return "tiny" if self.tiny is not None else Path(str(self.name_or_path)).name


class TrainingConfig(BaseModel):
    """Optimisation, early stopping and threshold tuning."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(42, ge=0, description="Seed of weight init, data order and dropout.")
    epochs: float = Field(3.0, gt=0, le=100, description="Passes over the train split (fractions allowed).")
    max_steps: int | None = Field(
        None, gt=0, description="Stop after this many optimizer steps (overrides epochs when set)."
    )
    batch_size: int = Field(32, gt=0, le=4096, description="Examples per forward pass.")
    eval_batch_size: int = Field(64, gt=0, le=4096, description="Examples per forward pass when evaluating.")
    gradient_accumulation_steps: int = Field(
        1, gt=0, description="Forward passes per optimizer step (effective batch = batch_size x this)."
    )
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="Peak learning rate of the encoder.")
    head_learning_rate: float | None = Field(
        None, gt=0, lt=1, description="Peak learning rate of the new head (default: learning_rate)."
    )
    weight_decay: float = Field(0.01, ge=0, lt=1, description="AdamW decoupled weight decay.")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Fraction of steps of linear warm-up.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    loss: LossKind = Field(LossKind.BCE, description="bce (binary cross-entropy) or focal.")
    focal_gamma: float = Field(2.0, ge=0, le=10, description="Focusing parameter of the focal loss.")
    class_weighting: bool = Field(
        True, description="Weight each label's positives by its negative/positive ratio on train."
    )
    max_pos_weight: float = Field(
        20.0, ge=1, description="Cap of the class weight, so that a rare label does not dominate the loss."
    )
    bf16: bool | Literal["auto"] = Field(
        False,
        description="bfloat16 autocast: true, false, or auto (on when the CPU has native bf16, "
        "AVX512-BF16 or AMX: about 2x faster there, several times slower without it).",
    )
    num_threads: int | None = Field(None, gt=0, description="torch threads (default: all CPU cores).")
    source_weights: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Sampling weight of a source's rows in the train split (validation and test are never "
            "resampled): 3 repeats each row 3 times, 2.5 repeats it 2 or 3 times, 0.5 keeps a seeded half. "
            "Sources not named keep weight 1. Names are data sources or 'curated'. Used to show the "
            "small hand-written set (LIVE chat, pity bait) often enough in a run of a few thousand steps."
        ),
    )
    length_bucketing: bool = Field(
        True, description="Batch texts of similar length together so that padding stays small."
    )
    eval_steps: int | None = Field(
        None, gt=0, description="Evaluate (and checkpoint) every N steps; default once per epoch."
    )
    eval_max_examples: int | None = Field(
        None,
        gt=0,
        description=(
            "Evaluate during training (early stopping, best checkpoint) on a fixed random subset of this "
            "many validation messages, to save time; thresholds and reported metrics use the whole split."
        ),
    )
    early_stopping_patience: int = Field(
        2, ge=0, description="Stop after this many evaluations without a better validation macro-F1 (0: off)."
    )
    logging_steps: int = Field(50, gt=0, description="Log the training loss every N steps.")
    checkpoint_dir: str | None = Field(
        None,
        description="Where checkpoints go (default: <output-dir>.checkpoints); never inside the artifact.",
    )
    keep_checkpoints: bool = Field(
        False, description="Keep the checkpoints after a successful run (they are only needed to resume)."
    )
    save_total_limit: int = Field(
        2, ge=1, description="Checkpoints kept on disk (the best one is always kept)."
    )
    threshold_min: float = Field(0.05, gt=0, lt=1, description="Lowest decision threshold tried per label.")
    threshold_max: float = Field(0.95, gt=0, lt=1, description="Highest decision threshold tried per label.")
    threshold_step: float = Field(0.01, gt=0, lt=0.5, description="Grid step of threshold tuning.")
    default_threshold: float = Field(
        0.5, gt=0, lt=1, description="Threshold of a label that validation cannot tune (no positives)."
    )

    @field_validator("source_weights")
    @classmethod
    def _weights_range(cls, value: dict[str, float]) -> dict[str, float]:
        for source, weight in value.items():
            if not 0.0 < weight <= 20.0:
                raise ValueError(
                    f"source_weights[{source}] is {weight}; use a weight in (0, 20] "
                    "(1 keeps the source as is)"
                )
        return value

    @model_validator(mode="after")
    def _threshold_range(self) -> TrainingConfig:
        if self.threshold_min >= self.threshold_max:
            raise ValueError(
                f"threshold_min ({self.threshold_min}) must be below threshold_max ({self.threshold_max})"
            )
        return self

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.gradient_accumulation_steps


class DistillConfig(BaseModel):
    """A student distilled from a trained teacher (``tegur distill``): depth, vocabulary, loss."""

    model_config = ConfigDict(extra="forbid")

    num_layers: int = Field(
        4,
        gt=0,
        le=48,
        description="Encoder layers of the student, copied from the teacher's (evenly spaced).",
    )
    layers: list[int] | None = Field(
        None,
        description=(
            "Which teacher layers (0-based) to copy, in order; default: evenly spaced ending at the last "
            "(4 of 12: 2, 5, 8, 11). Overrides num_layers when set."
        ),
    )
    trim_vocabulary: bool = Field(
        True,
        description=(
            "Keep only the tokens the normalised train (and unlabelled) text uses, plus every non-CJK "
            "character: e5-small's table shrinks from 250k rows (96M parameters) to about 20k."
        ),
    )
    temperature: float = Field(
        2.0, gt=0, le=20, description="Softens teacher and student logits in the KD loss."
    )
    alpha: float = Field(
        0.7, ge=0, le=1, description="Weight of the soft-label (KD) loss; 1 - alpha goes to the gold labels."
    )
    unlabelled: list[str] = Field(
        default_factory=list,
        description=(
            "Extra unlabelled text (.txt: one message per line; .jsonl: a 'text' field), scored by the "
            "teacher and learnt from its soft labels only. The prepared folder's unlabelled.jsonl, when "
            "present, is always used. Files that do not exist are an error."
        ),
    )
    max_unlabelled: int = Field(50_000, ge=0, description="Most unlabelled messages to use (seeded sample).")
    teacher_batch_size: int = Field(64, gt=0, le=4096, description="Batch size when the teacher scores.")

    @field_validator("layers")
    @classmethod
    def _layers_distinct(cls, value: list[int] | None) -> list[int] | None:
        if value is not None:
            if not value or len(set(value)) != len(value) or min(value) < 0:
                raise ValueError(f"layers {value} must be distinct non-negative layer indices")
            if value != sorted(value):
                raise ValueError(
                    f"layers {value} must be in increasing order (the student keeps their order)"
                )
        return value
