"""Tiny models, synthetic prepared data and configs for tests (builders; each test module wraps them in
fixtures of the scope it needs).

Every text here is synthetic, generated from templates written for the tests (no dataset rows).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

from data.taxonomy import LABEL_NAMES, Label

# Template fragments per label; a generated message mixes one with filler so that texts differ.
_TEMPLATES: dict[str, list[str]] = {
    Label.BULLYING.value: ["dasar jelek lu", "muka kayak sendal", "goblok banget sih", "gendut gak tau diri"],
    Label.SEXUAL_SOLICITATION.value: [
        "open bo kak",
        "vcs berbayar dm",
        "mau temenin malam ini",
        "sange cari teman",
    ],
    Label.PITY_BAIT.value: [
        "ibu aku lagi sakit tolong gift",
        "belum makan dari kemarin kak",
        "bantu donasi buat berobat",
    ],
    Label.OFF_PLATFORM_REDIRECTION.value: [
        "cek bio ya",
        "gabung grup wa",
        "link di profil",
        "slot gacor daftar sekarang",
    ],
}
_CLEAN = [
    "makasih kak",
    "semangat live nya",
    "lagu nya enak",
    "salam dari bandung",
    "mantap kak",
    "hadir kak",
]
_FILLER = ["ya", "kak", "guys", "deh", "dong", "wkwk", "nih", "banget", "sekarang", "juga"]


def synthetic_examples(n: int, seed: int, *, split: str) -> list[dict[str, Any]]:
    """``n`` rows covering every label (some with two labels, some clean, some partially annotated)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        kind = i % 6
        if kind < 4:
            labels = [LABEL_NAMES[kind]]
            if rng.random() < 0.15:  # a few multi-label rows
                labels.append(LABEL_NAMES[(kind + 1) % 4])
        else:
            labels = []
        parts = [rng.choice(_TEMPLATES[name]) for name in labels] or [rng.choice(_CLEAN)]
        text = " ".join([*parts, *rng.sample(_FILLER, 2)])
        row: dict[str, Any] = {
            "id": f"{split}-{i}",
            "text": text,
            "labels": sorted(set(labels), key=LABEL_NAMES.index),
            "source": "synthetic_nc" if i % 3 == 0 else "synthetic_mit",
            "license": "CC BY-NC-SA 4.0" if i % 3 == 0 else "MIT",
            "surface": "live_chat" if i % 2 else "comment",
        }
        if (
            row["labels"] == [Label.OFF_PLATFORM_REDIRECTION.value] and i % 4 == 1
        ):  # a redirection-only corpus: says nothing about the other labels
            row["annotated"] = [Label.OFF_PLATFORM_REDIRECTION.value]
        rows.append(row)
    return rows


def write_prepared(directory: Path, sizes: tuple[int, int, int] = (240, 60, 60), seed: int = 0) -> Path:
    """Write ``train/validation/test.jsonl`` (+ a stats.json) of synthetic rows into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for offset, (split, n) in enumerate(zip(("train", "validation", "test"), sizes, strict=True)):
        with open(directory / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for row in synthetic_examples(n, seed + offset, split=split):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(directory / "stats.json", "w", encoding="utf-8") as fh:
        json.dump({"generator": "tests.fixtures_models"}, fh)
    return directory


TINY_MODEL: dict[str, Any] = {
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "vocab_size": 300,
    },
    "max_length": 32,
}
TINY_TRAINING: dict[str, Any] = {
    "seed": 7,
    "epochs": 1,
    "max_steps": 12,
    "batch_size": 16,
    "learning_rate": 0.002,
    "eval_steps": 6,
    "eval_max_examples": 40,
    "logging_steps": 3,
    "early_stopping_patience": 0,
}


def write_config(
    path: Path, *, data_dir: Path, model: dict[str, Any] | None = None, training: dict[str, Any] | None = None
) -> Path:
    """A tiny-model config file whose data section points at ``data_dir``."""
    config = {
        "data": {"output_dir": str(data_dir)},
        "model": {**TINY_MODEL, **(model or {})},
        "training": {**TINY_TRAINING, **(training or {})},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    return path


def build_untrained_artifact(directory: Path, *, thresholds: dict[str, float] | None = None) -> Path:
    """An artifact with a randomly initialised tiny model (no training): fast, for loader tests."""
    import torch
    from transformers import set_seed

    from data.normalize import NORMALIZER_VERSION, Normalizer
    from inference.artifact import ArtifactMetadata, library_versions, save_artifact
    from inference.modeling import TegurForMultiLabel
    from training.config import TinyModelConfig
    from training.train import build_tiny_tokenizer, tiny_bert_config

    texts = [row["text"] for row in synthetic_examples(120, 1, split="train")]
    tokenizer = build_tiny_tokenizer(texts, vocab_size=300, max_length=32)
    set_seed(3)
    model = TegurForMultiLabel(
        tiny_bert_config(
            TinyModelConfig(), vocab_size=len(tokenizer), max_length=32, pad_token_id=tokenizer.pad_token_id
        )
    )
    with torch.no_grad():  # make the untrained head's scores spread out, so thresholds matter
        model.classifier.weight.mul_(20)
    metadata = ArtifactMetadata(
        name="untrained",
        labels=list(LABEL_NAMES),
        thresholds=thresholds or dict.fromkeys(LABEL_NAMES, 0.5),
        max_length=32,
        base_model="tiny",
        normalizer_version=NORMALIZER_VERSION,
        config={},
        versions=library_versions(),
    )
    save_artifact(directory, model=model, tokenizer=tokenizer, normalizer=Normalizer(), metadata=metadata)
    return directory


#: Scores of one model may differ by float rounding between batch shapes, padding and thread counts, and
#: the size of that difference depends on the CPU (AVX2 vs AVX-512 kernels). Compare with this tolerance.
SCORE_ATOL = 1e-5


def assert_same_prediction(
    ours: Any, theirs: Any, thresholds: dict[str, float], atol: float = SCORE_ATOL
) -> None:
    """Scores equal within ``atol``; flagged labels equal where no score is within ``atol`` of a threshold."""
    assert list(ours.scores) == list(theirs.scores)
    for name, score in ours.scores.items():
        assert abs(score - theirs.scores[name]) <= atol, (name, score, theirs.scores[name])
        if abs(score - thresholds[name]) > atol:
            assert (name in ours.labels) == (name in theirs.labels), name
