"""Distil a trained teacher into a smaller, faster student (``tegur distill``).

The student is the teacher cut down: ``distill.num_layers`` of its encoder layers (copied, evenly
spaced, ending with the last), its head, and, with ``distill.trim_vocabulary``, only the embedding rows
of the tokens the normalised corpus uses (``training/vocab_trim.py``). It is fine-tuned on

* the teacher's soft labels for every train message and every unlabelled message (binary
  cross-entropy between the temperature-softened sigmoids, times T², the usual KD scaling), weight
  ``alpha``, and
* the gold labels where annotated (the teacher's masked, class-weighted loss), weight ``1 - alpha``.

Soft labels also cover the labels a partially annotated source says nothing about. Everything after
the loop (scoring validation and test through the predictor, threshold tuning, metrics, probes, the
artifact and its card) is ``training.train.finish_training``, as for ``tegur train``; the card and
``tegur.json`` name the teacher.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from data.dataset import Example
from inference.artifact import load_artifact
from inference.modeling import TegurForMultiLabel
from inference.predictor import Predictor, model_inputs
from inference.settings import Precision, available_cpus
from tegur.errors import ConfigError, DataError
from training.config import DistillConfig
from training.inputs import label_arrays, load_splits, weight_by_source
from training.train import (
    TrainResult,
    _prepare_checkpoint_dir,
    build_trainer,
    checkpoint_dir,
    default_output_dir,
    encode,
    eval_subset,
    finish_training,
    positive_weights,
    run_trainer,
)
from training.vocab_trim import trim_embeddings, trim_vocabulary, unk_report

if TYPE_CHECKING:
    from tegur.config import TegurConfig

logger = logging.getLogger(__name__)

UNLABELLED_FILE = "unlabelled.jsonl"


def student_layers(teacher_layers: int, cfg: DistillConfig) -> list[int]:
    """The teacher layers the student keeps: ``cfg.layers``, or ``num_layers`` evenly spaced ending last."""
    if cfg.layers is not None:
        bad = [i for i in cfg.layers if i >= teacher_layers]
        if bad:
            raise ConfigError(
                f"distill.layers {cfg.layers}: the teacher has layers 0-{teacher_layers - 1}, not {bad}"
            )
        return list(cfg.layers)
    if cfg.num_layers > teacher_layers:
        raise ConfigError(
            f"distill.num_layers is {cfg.num_layers}, but the teacher has {teacher_layers} layers; use fewer"
        )
    return [round((i + 1) * teacher_layers / cfg.num_layers) - 1 for i in range(cfg.num_layers)]


def build_student(teacher: TegurForMultiLabel, layers: Sequence[int]) -> TegurForMultiLabel:
    """A model with the teacher's embeddings, the chosen encoder layers (in order) and its head."""
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    config.num_hidden_layers = len(layers)
    student = TegurForMultiLabel(config)
    state = {}
    for name, value in teacher.state_dict().items():
        if name.startswith("bert.encoder.layer."):
            index, rest = name.removeprefix("bert.encoder.layer.").split(".", 1)
            if int(index) in layers:
                state[f"bert.encoder.layer.{list(layers).index(int(index))}.{rest}"] = value
        else:
            state[name] = value
    missing, unexpected = student.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"the student does not fit the teacher's weights: missing {missing}, extra {unexpected}"
        )
    return student


class DistillTrainer(Trainer):
    """``Trainer`` whose loss mixes the teacher's soft labels (KD) with the gold labels."""

    def __init__(self, *args: Any, temperature: float, alpha: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.temperature = temperature
        self.alpha = alpha

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        teacher_logits = inputs.pop("teacher_logits", None)
        outputs = model(**inputs)
        loss = outputs.loss  # the gold labels, masked and class-weighted (validation rows: this only)
        if teacher_logits is not None:
            t = self.temperature
            soft = torch.sigmoid(teacher_logits.float() / t)
            kd = torch.nn.functional.binary_cross_entropy_with_logits(outputs.logits.float() / t, soft)
            loss = self.alpha * kd * t * t + (1.0 - self.alpha) * loss
        return (loss, outputs) if return_outputs else loss


def read_unlabelled(paths: Sequence[Path], limit: int, seed: int) -> list[str]:
    """Messages from ``.txt`` (one per line) and ``.jsonl`` (a ``text`` field) files; a seeded sample."""
    texts: list[str] = []
    for path in paths:
        if not path.is_file():
            raise DataError(f"unlabelled text file {path} not found; fix distill.unlabelled")
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                if path.suffix == ".jsonl":
                    try:
                        text = json.loads(line).get("text")
                    except (json.JSONDecodeError, AttributeError):
                        raise DataError(f"{path}:{number}: not a JSON object with a 'text' field") from None
                    if isinstance(text, str) and text.strip():
                        texts.append(text)
                else:
                    texts.append(line)
    texts = list(dict.fromkeys(texts))
    if len(texts) > limit:
        keep = np.random.default_rng(seed).choice(len(texts), limit, replace=False)
        texts = [texts[i] for i in sorted(keep)]
    return texts


def _teacher_logits(teacher_dir: Path, texts: list[str], cfg: DistillConfig, threads: int) -> np.ndarray:
    """The teacher's raw logits in fp32, each distinct text scored once.

    fp32 runs on ONNX Runtime when the teacher has a validated fp32 export (the same scores within
    1e-5, about 3x faster on CPU), else on PyTorch.
    """
    predictor = Predictor.from_artifact(teacher_dir, precision=Precision.FP32, num_threads=threads)
    distinct = list(dict.fromkeys(texts))
    logger.info("teacher (%s fp32) scores %d distinct messages", predictor.runtime.value, len(distinct))
    scored = predictor.predict_logits(distinct, cfg.teacher_batch_size, progress=True)
    index = {text: i for i, text in enumerate(distinct)}
    return scored[[index[text] for text in texts]]


def distill(
    config: TegurConfig,
    *,
    teacher_dir: str | Path,
    output_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
) -> TrainResult:
    """Distil the artifact in ``teacher_dir`` into a student per ``config`` and write its artifact.

    The student reads text as the teacher does (its normaliser, prefix and maximum length); the data is
    the prepared folder the teacher was trained on unless ``data_dir`` says otherwise.

    Raises:
        ArtifactError: the teacher is not a complete artifact.
        ConfigError: the distill section does not fit the teacher.
        DataError: the prepared data or an unlabelled file is missing.
    """
    started = time.perf_counter()
    cfg = config.distill or DistillConfig()
    train_cfg = config.training
    teacher = load_artifact(teacher_dir)
    tmeta = teacher.metadata
    # The student sees exactly the teacher's inputs; the resolved config records that.
    config = config.model_copy(
        update={
            "model": config.model.model_copy(
                update={
                    "name_or_path": str(teacher_dir),
                    "tiny": None,
                    "text_prefix": tmeta.text_prefix,
                    "max_length": tmeta.max_length,
                }
            ),
            "distill": cfg,
        }
    )
    model_cfg = config.model
    if data_dir is None:
        data_dir = (
            Path(tmeta.data.dir) if tmeta.data is not None else config.data.resolved_output_dir(config.name)
        )
    data_dir = Path(data_dir)
    output_dir = Path(output_dir) if output_dir is not None else default_output_dir(config)
    ckpt_dir = checkpoint_dir(train_cfg, output_dir)
    threads = train_cfg.num_threads or available_cpus()
    torch.set_num_threads(threads)

    splits = load_splits(data_dir)
    normalizer = teacher.normalizer
    train_examples = weight_by_source(splits["train"], train_cfg.source_weights, train_cfg.seed)
    unlabelled_files = [Path(p) for p in cfg.unlabelled]
    if (data_dir / UNLABELLED_FILE).is_file():
        unlabelled_files.append(data_dir / UNLABELLED_FILE)
    unlabelled = read_unlabelled(unlabelled_files, cfg.max_unlabelled, train_cfg.seed)
    logger.info("%d train rows, %d unlabelled messages", len(train_examples), len(unlabelled))
    resume_from = _prepare_checkpoint_dir(ckpt_dir, resume, config)

    layers = student_layers(teacher.model.config.num_hidden_layers, cfg)
    student = build_student(teacher.model, layers)
    tokenizer = teacher.tokenizer
    train_inputs = model_inputs([ex.text for ex in train_examples], normalizer, model_cfg.text_prefix)
    unlabelled_inputs = model_inputs(unlabelled, normalizer, model_cfg.text_prefix)
    vocabulary = None
    if cfg.trim_vocabulary:
        trimmed = trim_vocabulary(tokenizer, [*train_inputs, *unlabelled_inputs], model_cfg.max_length)
        held_out = [ex.text for split in ("validation", "test") for ex in splits[split]]
        vocabulary = unk_report(
            tokenizer,
            trimmed,
            model_inputs(held_out, normalizer, model_cfg.text_prefix),
            model_cfg.max_length,
        )
        trim_embeddings(student, trimmed.old_ids)
        tokenizer = trimmed.tokenizer
        logger.info(
            "vocabulary %d -> %d tokens; held-out <unk> rate %.4f%% -> %.4f%%, %d decode differently",
            vocabulary["vocab_before"],
            vocabulary["vocab_after"],
            100 * vocabulary["unk_rate_before"],
            100 * vocabulary["unk_rate_after"],
            vocabulary["changed_text"],
        )
    y_train, mask_train = label_arrays(train_examples)
    student.config.pos_weight = (
        positive_weights(y_train, mask_train, train_cfg.max_pos_weight) if train_cfg.class_weighting else None
    )
    student.config.tegur_loss = train_cfg.loss.value
    student.config.focal_gamma = train_cfg.focal_gamma
    if model_cfg.freeze_layers or model_cfg.freeze_embeddings:
        student.freeze_lower_layers(min(model_cfg.freeze_layers, len(layers) - 1))

    soft = _teacher_logits(Path(teacher_dir), [ex.text for ex in train_examples] + unlabelled, cfg, threads)
    unlabelled_examples = [
        Example(id=f"unlabelled-{i}", text=text, source="unlabelled", annotated=())
        for i, text in enumerate(unlabelled)
    ]
    train_ds = encode(
        [*train_examples, *unlabelled_examples],
        tokenizer,
        normalizer,
        model_cfg,
        texts=[*train_inputs, *unlabelled_inputs],
    )
    for row, logits in zip(train_ds.rows, soft, strict=True):
        row["teacher_logits"] = logits.tolist()
    val_ds = encode(eval_subset(splits["validation"], train_cfg), tokenizer, normalizer, model_cfg)
    logger.info(
        "distilling %d of %d teacher layers %s into a %.1fM-parameter student on %d messages",
        len(layers),
        teacher.model.config.num_hidden_layers,
        layers,
        student.num_parameters() / 1e6,
        len(train_ds),
    )
    trainer = build_trainer(
        student,
        tokenizer,
        train_ds,
        val_ds,
        train_cfg,
        ckpt_dir,
        callbacks,
        trainer_class=DistillTrainer,
        temperature=cfg.temperature,
        alpha=cfg.alpha,
    )
    train_output = run_trainer(trainer, resume_from)
    distillation = {
        "teacher": {
            "name": tmeta.name,
            "model_version": tmeta.model_version,
            "dir": str(teacher_dir),
            "layers": teacher.model.config.num_hidden_layers,
            "parameters": teacher.model.num_parameters(),
            "metrics": {
                split: {"macro_f1": report["macro"]["f1"]} for split, report in tmeta.metrics.items()
            },
        },
        "teacher_layers": layers,
        "layers_kept": len(layers),
        "temperature": cfg.temperature,
        "alpha": cfg.alpha,
        "rows": len(train_ds),
        "unlabelled_rows": len(unlabelled),
        "vocabulary": vocabulary,
    }
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
        train_rows=len(train_ds),
        resume_from=resume_from,
        base_model=tmeta.base_model,
        distillation=distillation,
    )
