"""Inputs shared by fine-tuning, the baseline and evaluation: prepared splits, normaliser, label arrays.

Kept free of torch so that the TF-IDF baseline starts fast.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from data.dataset import SPLITS, Example, read_split
from data.taxonomy import LABELS
from tegur.errors import DataError

if TYPE_CHECKING:
    from data.normalize import Normalizer
    from tegur.config import TegurConfig
    from training.config import ModelConfig

logger = logging.getLogger(__name__)


def prepared_data_dir(config: TegurConfig, override: str | Path | None = None) -> Path:
    """The prepared-data folder: ``override`` or the data section's output folder."""
    return Path(override) if override is not None else config.data.resolved_output_dir(config.name)


def load_splits(data_dir: Path) -> dict[str, list[Example]]:
    """train, validation and test of a prepared folder; fail early if one is missing."""
    if not data_dir.is_dir():
        raise DataError(f"{data_dir} not found: run `tegur data prepare --config <config>` first")
    return {split: read_split(data_dir, split) for split in SPLITS}


def weight_by_source(examples: Sequence[Example], weights: dict[str, float], seed: int) -> list[Example]:
    """Repeat or subsample examples per source: weight ``w`` keeps ``floor(w)`` copies of each row plus one
    more with probability ``w - floor(w)`` (seeded, so a run is reproducible). Sources not in ``weights``
    keep one copy. Only for the train split: held-out splits must stay what they are.
    """
    if not weights:
        return list(examples)
    rng = np.random.default_rng(seed)
    out: list[Example] = []
    for ex in examples:
        weight = weights.get(ex.source, 1.0)
        copies = int(weight) + int(rng.random() < weight - int(weight))
        out.extend([ex] * copies)
    before, after = Counter(ex.source for ex in examples), Counter(ex.source for ex in out)
    for source, weight in sorted(weights.items()):
        if not before[source]:
            # A typo, or a source the licence filter left out: the weight would silently do nothing.
            logger.warning(
                "source weight %s x%g: no training rows come from %r (sources here: %s); it has no effect",
                source,
                weight,
                source,
                ", ".join(sorted(before)),
            )
            continue
        logger.info(
            "source weight %s x%g: %d -> %d training rows", source, weight, before[source], after[source]
        )
    return out


def build_normalizer(config: ModelConfig) -> Normalizer:
    """The normaliser: the built-in slang map, extended by the slang files the config names.

    The built-in entries win over the files' (they are curated for chat). Files that do not exist are
    skipped with a warning, so a config works before ``tegur data fetch`` has run.
    """
    from data.normalize import BUILTIN_SLANG, Normalizer, load_slang_map

    present = [Path(p) for p in config.slang_maps if Path(p).is_file()]
    for path in config.slang_maps:
        if not Path(path).is_file():
            logger.warning("slang map %s not found (run `tegur data fetch`); training without it", path)
    if not present:
        return Normalizer()
    return Normalizer(slang={**load_slang_map(present), **BUILTIN_SLANG})


def label_arrays(examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot labels ``(N, L)`` and the annotation mask (1 where the row's annotation covers the label)."""
    y = np.zeros((len(examples), len(LABELS)), dtype=np.float32)
    mask = np.ones_like(y)
    for i, ex in enumerate(examples):
        y[i] = ex.label_vector()
        if ex.annotated is not None:
            mask[i] = [1.0 if label in ex.annotated else 0.0 for label in LABELS]
    return y, mask
