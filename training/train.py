"""Fine-tune the classifier from a config and write the self-describing artifact (``tegur train``).

The loop is ``transformers.Trainer``: dynamic padding, length-grouped batches, gradient accumulation,
bf16 autocast, early stopping on validation macro-F1, checkpoints and resume come with it. What is
Tegur's own: the text pipeline (normaliser + prefix), label masks for partially annotated sources,
class weighting, threshold tuning and the artifact.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import resource
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PreTrainedTokenizerFast,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging as hf_logging

from data.dataset import Example
from data.normalize import NORMALIZER_VERSION
from data.taxonomy import LABEL_NAMES, LABELS
from inference.artifact import (
    TRAINING_LOG_FILE,
    ArtifactMetadata,
    DataProvenance,
    ReferenceScore,
    SourceProvenance,
    library_versions,
    save_artifact,
)
from inference.hardware import cpu_info
from inference.modeling import TegurForMultiLabel, label_maps
from inference.predictor import Predictor, model_inputs, tokenize
from inference.settings import available_cpus
from tegur.errors import ConfigError
from training.config import DEFAULT_BASE_MODEL, ModelConfig, TinyModelConfig, TrainingConfig
from training.inputs import build_normalizer, label_arrays, load_splits, prepared_data_dir, weight_by_source
from training.metrics import multilabel_report, report_table, sigmoid, threshold_grid, tune_thresholds

if TYPE_CHECKING:
    from data.normalize import Normalizer
    from tegur.config import TegurConfig

logger = logging.getLogger(__name__)

#: Synthetic probe texts (written for this purpose, not from any dataset): the training process stores
#: their scores in tegur.json so that a reloaded artifact can be checked against them.
PROBE_TEXTS: tuple[str, ...] = (
    "makasih kak mawarnya, sehat selalu ya",
    "dasar jelek lu, mending gak usah live deh",
    "kak tolong bantu gift ya, ibu aku lagi dirawat di rumah sakit",
    "open bo kak, yang minat dm aja",
    "cek bio ya guys, link grup wa ada di sana",
)

CHECKPOINT_SUFFIX = ".checkpoints"
_TINY_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class TrainResult:
    """What ``tegur train`` produced."""

    output_dir: Path
    metadata: ArtifactMetadata


# ---------------------------------------------------------------------------------------------- paths


def default_output_dir(config: TegurConfig) -> Path:
    """``artifacts/<config name>``."""
    return Path("artifacts") / config.name


def checkpoint_dir(config: TrainingConfig, output_dir: Path) -> Path:
    """Checkpoints live beside the artifact (``<output-dir>.checkpoints``), never inside it."""
    if config.checkpoint_dir is not None:
        return Path(config.checkpoint_dir)
    return output_dir.with_name(output_dir.name + CHECKPOINT_SUFFIX)


# ----------------------------------------------------------------------------------------------- text


def positive_weights(y: np.ndarray, mask: np.ndarray, cap: float) -> list[float]:
    """Per label, negatives/positives among annotated rows, clipped to [1, cap] (1 without positives)."""
    weights = []
    for j in range(y.shape[1]):
        rows = mask[:, j] > 0
        pos = float(y[rows, j].sum())
        neg = float(rows.sum()) - pos
        weights.append(float(np.clip(neg / pos, 1.0, cap)) if pos > 0 else 1.0)
    return weights


# ---------------------------------------------------------------------------------------------- model


def build_tiny_tokenizer(texts: Sequence[str], vocab_size: int, max_length: int) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer whose vocabulary is computed from ``texts`` (no download).

    The vocabulary is chosen here rather than by ``tokenizers``' WordPiece trainer because that trainer
    breaks ties in hash-map order, which changes between processes: the same seed would give another
    vocabulary, another model and a resumed run that does not match. Here: the special tokens, every
    character (alone and as a ``##`` continuation), then the most frequent words, ties broken
    alphabetically. Words outside the vocabulary split into characters.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars: Counter[str] = Counter()
    for word, count in words.items():
        for char in word:
            chars[char] += count
    by_frequency = sorted(chars, key=lambda c: (-chars[c], c))
    vocab_list = [*_TINY_SPECIAL_TOKENS, *by_frequency, *(f"##{c}" for c in by_frequency)]
    for word in sorted(words, key=lambda w: (-words[w], w)):
        if len(vocab_list) >= vocab_size:
            break
        if len(word) > 1:
            vocab_list.append(word)
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab_list))}

    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
        model_input_names=["input_ids", "attention_mask"],
    )


def tiny_bert_config(
    tiny: TinyModelConfig, *, vocab_size: int, max_length: int, pad_token_id: int
) -> BertConfig:
    """A small BertConfig from the ``model.tiny`` section, with Tegur's labels."""
    id2label, label2id = label_maps()
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=tiny.hidden_size,
        num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads,
        intermediate_size=tiny.intermediate_size,
        max_position_embeddings=max(64, max_length),
        pad_token_id=pad_token_id,
        num_labels=len(LABELS),
        id2label=id2label,
        label2id=label2id,
        problem_type="multi_label_classification",
    )


def _looks_local(name: str) -> bool:
    """Whether ``name`` means a folder here rather than a Hub id (``owner/name``)."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith((".", "/", "~")) or len(parts) != 2 or parts[0] in {"models", "artifacts"}


def resolve_base(name_or_path: str) -> str:
    """A local folder if it exists, else a Hub id; fail with the fix when neither can work."""
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    if _looks_local(name_or_path):
        hint = (
            "run `tegur model build --offline` or set model.name_or_path to a Hub id"
            if name_or_path.rstrip("/") == DEFAULT_BASE_MODEL
            else "check model.name_or_path, or set it to a Hub id such as intfloat/multilingual-e5-small"
        )
        raise ConfigError(f"{name_or_path} not found: {hint}")
    return name_or_path


def load_base_model(config: ModelConfig) -> tuple[TegurForMultiLabel, Any]:
    """The encoder (local folder or Hub id) with a new head, and its tokenizer.

    Raises:
        ConfigError: the base model cannot be found or lacks encoder weights.
    """
    if config.name_or_path is None:
        raise ConfigError("model.name_or_path is not set; the tiny model is built by build_model")
    source = resolve_base(config.name_or_path)
    id2label, label2id = label_maps()
    try:
        base_config = AutoConfig.from_pretrained(
            source, num_labels=len(LABELS), id2label=id2label, label2id=label2id
        )
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise ConfigError(
            f"{config.name_or_path} not found: run `tegur model build --offline` or set model.name_or_path "
            f"to a Hub id reachable from here ({exc})"
        ) from None
    if base_config.model_type != "bert":
        raise ConfigError(
            f"{config.name_or_path}: model type {base_config.model_type!r}; Tegur fine-tunes "
            "BERT-architecture encoders such as multilingual-e5 (model type 'bert')"
        )
    base_config.problem_type = "multi_label_classification"
    # BERT configs default to pad id 0; e5's XLM-R tokenizer pads with 1. Align them here, once.
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        if getattr(tokenizer, name, None) is not None:
            setattr(base_config, name, getattr(tokenizer, name))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its load report flags the new head as missing: checked below instead
    try:
        model, info = TegurForMultiLabel.from_pretrained(source, config=base_config, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(k for k in info["missing_keys"] if not k.startswith("classifier."))
    if missing:
        raise ConfigError(
            f"{config.name_or_path}: {len(missing)} encoder weights missing from the checkpoint "
            f"(e.g. {missing[:3]}); is it a BERT encoder?"
        )
    return model, tokenizer


def build_model(
    config: TegurConfig, train_inputs: Sequence[str], pos_weight: list[float] | None
) -> tuple[TegurForMultiLabel, Any]:
    """The model to fine-tune and its tokenizer, with the loss settings in the model config."""
    model_cfg, train_cfg = config.model, config.training
    set_seed(train_cfg.seed)
    if model_cfg.tiny is not None:
        tokenizer = build_tiny_tokenizer(train_inputs, model_cfg.tiny.vocab_size, model_cfg.max_length)
        bert_config = tiny_bert_config(
            model_cfg.tiny,
            vocab_size=len(tokenizer),
            max_length=model_cfg.max_length,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = TegurForMultiLabel(bert_config)
    else:
        model, tokenizer = load_base_model(model_cfg)
    model.config.classifier_dropout = model_cfg.classifier_dropout
    model.dropout.p = model_cfg.classifier_dropout
    model.config.tegur_loss = train_cfg.loss.value
    model.config.focal_gamma = train_cfg.focal_gamma
    model.config.pos_weight = pos_weight
    if model_cfg.freeze_layers > model.config.num_hidden_layers:
        raise ConfigError(
            f"model.freeze_layers is {model_cfg.freeze_layers}, but {model_cfg.base_name} has "
            f"{model.config.num_hidden_layers} layers; freeze fewer"
        )
    if model_cfg.freeze_layers or model_cfg.freeze_embeddings:
        frozen = model.freeze_lower_layers(model_cfg.freeze_layers)
        logger.info(
            "froze the embeddings and %d layers (%.1fM parameters)", model_cfg.freeze_layers, frozen / 1e6
        )
    return model, tokenizer


# ----------------------------------------------------------------------------------------------- data


class EncodedDataset(Dataset):
    """Tokenised examples as dicts the padding collator understands."""

    def __init__(self, rows: list[dict[str, list[int] | list[float]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int] | list[float]]:
        return self.rows[index]


def eval_subset(examples: list[Example], cfg: TrainingConfig) -> list[Example]:
    """The validation messages evaluated during training: all, or a fixed seeded sample."""
    if cfg.eval_max_examples is None or cfg.eval_max_examples >= len(examples):
        return examples
    keep = np.random.default_rng(cfg.seed).choice(len(examples), cfg.eval_max_examples, replace=False)
    return [examples[i] for i in sorted(keep)]


def encode(
    examples: Sequence[Example],
    tokenizer: Any,
    normalizer: Normalizer,
    model_cfg: ModelConfig,
    texts: Sequence[str] | None = None,
) -> EncodedDataset:
    """Tokenised model inputs with labels and label masks; ``texts`` are the model inputs if already made."""
    if texts is None:
        texts = model_inputs([ex.text for ex in examples], normalizer, model_cfg.text_prefix)
    encoded = tokenize(tokenizer, texts, model_cfg.max_length)
    y, mask = label_arrays(examples)
    rows = [
        {
            "input_ids": encoded["input_ids"][i],
            "attention_mask": encoded["attention_mask"][i],
            "labels": y[i].tolist(),
            "label_mask": mask[i].tolist(),
        }
        for i in range(len(examples))
    ]
    return EncodedDataset(rows)


def data_provenance(data_dir: Path, splits: dict[str, list[Example]]) -> DataProvenance:
    """Sources, licenses and counts of the data actually trained and evaluated on."""
    sources: dict[str, SourceProvenance] = {}
    label_counts: dict[str, dict[str, int]] = {}
    for split, examples in splits.items():
        label_counts[split] = {name: 0 for name in LABEL_NAMES}
        for ex in examples:
            src = sources.setdefault(ex.source or "unknown", SourceProvenance(license=ex.license))
            if ex.license and ex.license not in src.license.split(" | "):
                src.license = " | ".join(filter(None, [src.license, ex.license]))
            src.rows[split] = src.rows.get(split, 0) + 1
            for label in ex.labels:
                label_counts[split][label.value] += 1
    stats = None
    stats_path = data_dir / "stats.json"
    if stats_path.is_file():
        with open(stats_path, encoding="utf-8") as fh:
            stats = json.load(fh)
    return DataProvenance(
        dir=str(data_dir),
        sources=dict(sorted(sources.items())),
        label_counts=label_counts,
        rows={split: len(examples) for split, examples in splits.items()},
        stats=stats,
    )


# ------------------------------------------------------------------------------------------ callbacks


class JsonlLogCallback(TrainerCallback):
    """Append every trainer log line (loss, learning rate, validation metrics) to a JSONL file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            row = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3), **logs}
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")


class TegurProgress(ProgressCallback):
    """The trainer's tqdm bars (with ETA), with log lines readable by a person instead of raw dicts."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        where = f"step {state.global_step}/{state.max_steps} epoch {state.epoch or 0:.2f}"
        if "eval_macro_f1" in logs:
            per_label = " ".join(f"{name} {logs.get(f'eval_f1_{name}', 0):.3f}" for name in LABEL_NAMES)
            line = (
                f"{where} | validation macro-F1 {logs['eval_macro_f1']:.4f} (at 0.5: "
                f"{logs.get('eval_macro_f1_at_0.5', 0):.4f}) micro-F1 {logs.get('eval_micro_f1', 0):.4f} "
                f"loss {logs.get('eval_loss', float('nan')):.4f} | {per_label}"
            )
        elif "loss" in logs:
            line = f"{where} | loss {logs['loss']:.4f} lr {logs.get('learning_rate', 0):.2e}"
        else:
            return
        self.training_bar.write(line)


def make_compute_metrics(train_cfg: TrainingConfig):
    """Validation metrics for the Trainer: macro-F1 at thresholds tuned on this very split (what the
    final model will use, so it is what early stopping should follow) and at a flat 0.5."""
    grid = threshold_grid(train_cfg.threshold_min, train_cfg.threshold_max, train_cfg.threshold_step)

    def compute_metrics(eval_pred) -> dict[str, float]:
        labels, mask = eval_pred.label_ids
        probs = sigmoid(eval_pred.predictions)
        tuned = tune_thresholds(labels, probs, mask=mask, grid=grid, default=train_cfg.default_threshold)
        report = multilabel_report(labels, probs, tuned, mask=mask)
        flat = multilabel_report(labels, probs, [0.5] * len(LABELS), mask=mask)
        metrics = {"macro_f1": report["macro"]["f1"], "micro_f1": report["micro"]["f1"]}
        metrics["macro_f1_at_0.5"] = flat["macro"]["f1"]
        for name, row in report["labels"].items():
            metrics[f"f1_{name}"] = row["f1"]
        return metrics

    return compute_metrics


# ------------------------------------------------------------------------------------------- training


def _optimizer(model: TegurForMultiLabel, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW without decay on biases and LayerNorms, and the head at its own learning rate."""
    head_lr = cfg.head_learning_rate or cfg.learning_rate
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = name.startswith("classifier.")
        no_decay = name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name
        groups.setdefault((is_head, no_decay), []).append(param)
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": head_lr if is_head else cfg.learning_rate,
                "weight_decay": 0.0 if no_decay else cfg.weight_decay,
            }
            for (is_head, no_decay), params in groups.items()
        ],
        lr=cfg.learning_rate,
    )


def _training_arguments(cfg: TrainingConfig, ckpt_dir: Path, has_eval: bool) -> TrainingArguments:
    strategy = "steps" if cfg.eval_steps is not None else "epoch"
    return TrainingArguments(
        output_dir=str(ckpt_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps is not None else -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,
        max_grad_norm=cfg.max_grad_norm,
        lr_scheduler_type="linear",
        bf16=cpu_info().native_bf16 if cfg.bf16 == "auto" else cfg.bf16,
        use_cpu=not torch.cuda.is_available(),
        seed=cfg.seed,
        train_sampling_strategy="group_by_length" if cfg.length_bucketing else "random",
        eval_strategy=strategy if has_eval else "no",
        eval_steps=cfg.eval_steps,
        save_strategy=strategy,
        save_steps=cfg.eval_steps,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=has_eval,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        label_names=["labels", "label_mask"],
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a resumed run restarts from (they will be redone)."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        kept = [line for line in fh if line.strip() and json.loads(line).get("step", 0) <= step]
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(kept)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _prepare_checkpoint_dir(ckpt_dir: Path, resume: bool, config: TegurConfig) -> str | None:
    """Check the checkpoint folder against ``--resume``; return the checkpoint to resume from."""
    existing = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    if resume:
        if existing is None:
            raise ConfigError(
                f"--resume: no checkpoint in {ckpt_dir}; train without --resume to start afresh"
            )
        saved = ckpt_dir / "tegur_config.json"
        if saved.is_file():
            with open(saved, encoding="utf-8") as fh:
                before = json.load(fh)
            now = config.model_dump(mode="json")
            changed = [s for s in ("model", "data") if before.get(s) != now.get(s)]
            if changed:
                raise ConfigError(
                    f"--resume: the {' and '.join(changed)} section(s) differ from the run in {ckpt_dir}; "
                    "resume with the same config, or delete the folder to start afresh"
                )
        logger.info("resuming from %s", existing)
        _trim_log(ckpt_dir / TRAINING_LOG_FILE, _checkpoint_step(existing) or 0)
        return existing
    if existing is not None:
        raise ConfigError(
            f"{ckpt_dir} holds checkpoints of an earlier run: pass --resume to continue it, or delete the "
            "folder to start afresh"
        )
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / TRAINING_LOG_FILE).unlink(missing_ok=True)
    with open(ckpt_dir / "tegur_config.json", "w", encoding="utf-8") as fh:
        json.dump(config.model_dump(mode="json"), fh, indent=2)
    return None


def train(
    config: TegurConfig,
    *,
    output_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
) -> TrainResult:
    """Fine-tune the model of ``config`` on its prepared data and write the artifact.

    Args:
        config: The loaded config (all three sections).
        output_dir: Artifact folder; default ``artifacts/<config name>``.
        data_dir: Prepared-data folder; default the data section's output folder.
        resume: Continue from the last checkpoint in the checkpoint folder.
        callbacks: Extra ``transformers.TrainerCallback`` objects (tests use one to interrupt a run).

    Raises:
        ConfigError: the base model or checkpoint folder is unusable.
        DataError: the prepared data is missing or invalid.
    """
    started = time.perf_counter()
    model_cfg, train_cfg = config.model, config.training
    output_dir = Path(output_dir) if output_dir is not None else default_output_dir(config)
    data_dir = prepared_data_dir(config, data_dir)
    ckpt_dir = checkpoint_dir(train_cfg, output_dir)
    torch.set_num_threads(train_cfg.num_threads or available_cpus())

    splits = load_splits(data_dir)
    normalizer = build_normalizer(model_cfg)
    train_examples = weight_by_source(splits["train"], train_cfg.source_weights, train_cfg.seed)
    logger.info("normalising %d training messages", len(train_examples))
    y_train, mask_train = label_arrays(train_examples)
    pos_weight = (
        positive_weights(y_train, mask_train, train_cfg.max_pos_weight) if train_cfg.class_weighting else None
    )
    train_inputs = model_inputs([ex.text for ex in train_examples], normalizer, model_cfg.text_prefix)
    resume_from = _prepare_checkpoint_dir(ckpt_dir, resume, config)
    model, tokenizer = build_model(config, train_inputs, pos_weight)
    logger.info(
        "training %s (%.2fM parameters, %.2fM trainable) on %d examples; class weights %s",
        model_cfg.base_name,
        model.num_parameters() / 1e6,
        model.num_parameters(only_trainable=True) / 1e6,
        len(train_examples),
        None if pos_weight is None else [round(w, 2) for w in pos_weight],
    )
    train_ds = encode(train_examples, tokenizer, normalizer, model_cfg, texts=train_inputs)
    val_ds = encode(eval_subset(splits["validation"], train_cfg), tokenizer, normalizer, model_cfg)

    trainer = build_trainer(model, tokenizer, train_ds, val_ds, train_cfg, ckpt_dir, callbacks)
    train_output = run_trainer(trainer, resume_from)
    return finish_training(
        trainer,
        train_output,
        config=config,
        tokenizer=tokenizer,
        normalizer=normalizer,
        splits=splits,
        data_dir=data_dir,
        output_dir=output_dir,
        ckpt_dir=ckpt_dir,
        started=started,
        train_rows=len(train_examples),
        resume_from=resume_from,
    )


def build_trainer(
    model: TegurForMultiLabel,
    tokenizer: Any,
    train_ds: Dataset,
    val_ds: Dataset,
    train_cfg: TrainingConfig,
    ckpt_dir: Path,
    callbacks: Sequence[TrainerCallback] = (),
    trainer_class: type[Trainer] = Trainer,
    **trainer_kwargs: Any,
) -> Trainer:
    """The configured ``Trainer`` (optimizer, metrics, progress, JSONL log, early stopping, callbacks);
    ``trainer_class`` and ``trainer_kwargs`` let distillation bring its own loss."""
    trainer = trainer_class(
        model=model,
        args=_training_arguments(train_cfg, ckpt_dir, has_eval=len(val_ds) > 0),
        data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        compute_metrics=make_compute_metrics(train_cfg),
        optimizers=(_optimizer(model, train_cfg), None),
        **trainer_kwargs,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(TegurProgress())
    trainer.add_callback(JsonlLogCallback(ckpt_dir / TRAINING_LOG_FILE))
    if train_cfg.early_stopping_patience > 0:
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=train_cfg.early_stopping_patience))
    for callback in callbacks:
        trainer.add_callback(callback)
    return trainer


def run_trainer(trainer: Trainer, resume_from: str | None) -> Any:
    """``trainer.train()`` without the per-checkpoint "Writing model shards" bars."""
    hf_logging.disable_progress_bar()
    try:
        return trainer.train(resume_from_checkpoint=resume_from)
    finally:
        hf_logging.enable_progress_bar()


def finish_training(
    trainer: Trainer,
    train_output: Any,
    *,
    config: TegurConfig,
    tokenizer: Any,
    normalizer: Normalizer,
    splits: dict[str, list[Example]],
    data_dir: Path,
    output_dir: Path,
    ckpt_dir: Path,
    started: float,
    train_rows: int,
    resume_from: str | None,
    base_model: str | None = None,
    distillation: dict[str, Any] | None = None,
) -> TrainResult:
    """Score validation and test through the predictor, tune thresholds, write the artifact.

    Shared by ``tegur train`` and ``tegur distill``: the same thresholds, metrics, probes and card.
    """
    model_cfg, train_cfg = config.model, config.training
    model = trainer.model
    train_seconds = time.perf_counter() - started
    log_path = ckpt_dir / TRAINING_LOG_FILE

    # Score validation and test through the predictor, i.e. the exact inference path of the artifact.
    id2label = [model.config.id2label[i] for i in range(model.config.num_labels)]
    draft = ArtifactMetadata(
        name=config.name,
        labels=id2label,
        thresholds=dict.fromkeys(id2label, train_cfg.default_threshold),
        text_prefix=model_cfg.text_prefix,
        max_length=model_cfg.max_length,
        base_model=base_model or model_cfg.name_or_path or "tiny",
        normalizer_version=NORMALIZER_VERSION,
        config=config.model_dump(mode="json"),
        versions=library_versions(),
        distillation=distillation,
    )
    predictor = Predictor(model, tokenizer, normalizer, draft)
    scored = {}
    for split in ("validation", "test"):
        logger.info("scoring the %s split (%d messages) with the final model", split, len(splits[split]))
        y, mask = label_arrays(splits[split])
        texts = [ex.text for ex in splits[split]]
        scored[split] = (y, mask, predictor.predict_proba(texts, train_cfg.eval_batch_size, progress=True))
    y_val, mask_val, p_val = scored["validation"]
    grid = threshold_grid(train_cfg.threshold_min, train_cfg.threshold_max, train_cfg.threshold_step)
    thresholds = tune_thresholds(y_val, p_val, mask=mask_val, grid=grid, default=train_cfg.default_threshold)
    metrics = {split: multilabel_report(y, p, thresholds, mask=m) for split, (y, m, p) in scored.items()}
    probes = predictor.predict_proba(list(PROBE_TEXTS))

    state = trainer.state
    metadata = draft.model_copy(
        update={
            "thresholds": dict(zip(id2label, thresholds, strict=True)),
            "metrics": metrics,
            "data": data_provenance(data_dir, splits),
            "training": {
                "steps": state.global_step,
                "epochs": round(float(state.epoch or 0.0), 3),
                "train_loss": float(train_output.training_loss),
                "best_checkpoint_step": _checkpoint_step(state.best_model_checkpoint),
                "best_validation_macro_f1": state.best_metric,
                "resumed_from_step": _checkpoint_step(resume_from),
                "train_rows": train_rows,
                "wall_time_s": round(time.perf_counter() - started, 1),
                "train_time_s": round(train_seconds, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "num_threads": torch.get_num_threads(),
                "trainable_parameters": model.num_parameters(only_trainable=True),
                "parameters": model.num_parameters(),
            },
            "reference_scores": [
                ReferenceScore(text=text, scores=dict(zip(id2label, map(float, row), strict=True)))
                for text, row in zip(PROBE_TEXTS, probes, strict=True)
            ],
        }
    )
    metadata = save_artifact(
        output_dir,
        model=model,
        tokenizer=tokenizer,
        normalizer=normalizer,
        metadata=metadata,
        training_log=log_path,
    )
    if not train_cfg.keep_checkpoints:
        remove_checkpoints(ckpt_dir)
    _print_summary(metadata, output_dir)
    return TrainResult(output_dir=output_dir, metadata=metadata)


def remove_checkpoints(ckpt_dir: Path) -> None:
    """Delete what training wrote in the checkpoint folder (not the folder's other contents)."""
    for path in ckpt_dir.glob("checkpoint-*"):
        if path.is_dir():
            shutil.rmtree(path)
    for name in (TRAINING_LOG_FILE, "tegur_config.json"):
        (ckpt_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        ckpt_dir.rmdir()  # only if now empty


def _checkpoint_step(path: str | None) -> int | None:
    match = re.search(r"checkpoint-(\d+)$", path or "")
    return int(match.group(1)) if match else None


def _print_summary(metadata: ArtifactMetadata, output_dir: Path) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    for split, report in metadata.metrics.items():
        console.print(report_table(report, f"{metadata.name}: {split} ({report['n']} messages)"))
    training = metadata.training
    console.print(
        f"wrote [bold]{output_dir}[/bold] (model {metadata.model_version}, {training['steps']} steps, "
        f"{training['train_time_s']:.0f}s, peak RSS {training['peak_rss_mb']:.0f} MB)"
    )
