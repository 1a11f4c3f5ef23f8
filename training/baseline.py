"""The TF-IDF + logistic-regression baseline (``tegur baseline``), trained on the same split as the model.

Word 1-2-grams and character 2-5-grams (within word boundaries, so leetspeak fragments and slang
spellings still share features) of the normalised text; one logistic regression per label, on the rows
whose annotation covers that label, with balanced class weights; thresholds tuned on validation exactly
as for the transformer. It retrains in seconds, so it is never persisted with pickle: ``tegur evaluate``
calls :func:`train_baseline` on the same split instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data.dataset import Example
from data.taxonomy import LABEL_NAMES
from tegur.io import atomic_path
from training.inputs import build_normalizer, label_arrays, load_splits, prepared_data_dir, weight_by_source
from training.metrics import multilabel_report, report_table, threshold_grid, tune_thresholds

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    from data.normalize import Normalizer
    from tegur.config import TegurConfig
    from training.config import TrainingConfig

logger = logging.getLogger(__name__)

METRICS_FILE = "baseline_metrics.json"


@dataclass
class BaselineModel:
    """A fitted baseline: features, one classifier per label, thresholds tuned on validation.

    ``classifiers[j]`` is ``None`` when train holds only one class for label ``j``; that label then
    scores ``constants[j]`` (0 or 1) for every text.
    """

    normalizer: Normalizer
    features: FeatureUnion
    classifiers: list[LogisticRegression | None]
    constants: list[float]
    thresholds: list[float]
    labels: tuple[str, ...] = LABEL_NAMES

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in [0, 1], shape ``(len(texts), len(labels))``."""
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not len(texts):
            return out
        x = self.features.transform([self.normalizer(t).text for t in texts])
        for j, clf in enumerate(self.classifiers):
            out[:, j] = self.constants[j] if clf is None else clf.predict_proba(x)[:, 1]
        return out


def _features() -> FeatureUnion:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
        ]
    )


def train_baseline(
    train: Sequence[Example],
    validation: Sequence[Example],
    *,
    normalizer: Normalizer | None = None,
    training: TrainingConfig | None = None,
) -> BaselineModel:
    """Fit the baseline on ``train`` and tune its thresholds on ``validation``.

    Args:
        train: Training examples.
        validation: Examples the thresholds are tuned on.
        normalizer: The text normaliser (default: the built-in one); use the model's for a fair match.
        training: Source weights, threshold grid and seed (default: :class:`TrainingConfig` defaults).
    """
    from sklearn.linear_model import LogisticRegression

    from data.normalize import Normalizer
    from training.config import TrainingConfig

    normalizer = normalizer or Normalizer()
    training = training or TrainingConfig()
    # The transformer's training rows: source weights repeat or subsample them alike.
    train = weight_by_source(train, training.source_weights, training.seed)
    features = _features()
    x = features.fit_transform([normalizer(ex.text).text for ex in train])
    y, mask = label_arrays(train)
    classifiers: list[LogisticRegression | None] = []
    constants: list[float] = []
    for j, name in enumerate(LABEL_NAMES):
        rows = np.flatnonzero(mask[:, j] > 0)
        classes = np.unique(y[rows, j])
        if len(classes) < 2:
            logger.warning("baseline: train has a single class for %s; it scores a constant", name)
            classifiers.append(None)
            constants.append(float(classes[0]) if len(classes) else 0.0)
            continue
        clf = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=training.seed)
        clf.fit(x[rows], y[rows, j])
        classifiers.append(clf)
        constants.append(0.0)
    model = BaselineModel(
        normalizer, features, classifiers, constants, [training.default_threshold] * len(LABEL_NAMES)
    )
    y_val, mask_val = label_arrays(validation)
    grid = threshold_grid(training.threshold_min, training.threshold_max, training.threshold_step)
    model.thresholds = tune_thresholds(
        y_val,
        model.predict_proba([ex.text for ex in validation]),
        mask=mask_val,
        grid=grid,
        default=training.default_threshold,
    )
    return model


def default_baseline_dir(config: TegurConfig) -> Path:
    """``artifacts/<config name>-baseline``."""
    return Path("artifacts") / f"{config.name}-baseline"


def run_baseline(
    config: TegurConfig, *, output_dir: str | Path | None = None, data_dir: str | Path | None = None
) -> dict[str, Any]:
    """Train the baseline on the config's prepared split, report validation and test, write the metrics.

    Returns the contents written to ``<output_dir>/baseline_metrics.json``.
    """
    import json
    import time

    from rich.console import Console

    from data.normalize import NORMALIZER_VERSION

    started = time.perf_counter()
    data_dir = prepared_data_dir(config, data_dir)
    output_dir = Path(output_dir) if output_dir is not None else default_baseline_dir(config)
    splits = load_splits(data_dir)
    model = train_baseline(
        splits["train"],
        splits["validation"],
        normalizer=build_normalizer(config.model),
        training=config.training,
    )
    metrics = {}
    for split in ("validation", "test"):
        y, mask = label_arrays(splits[split])
        probs = model.predict_proba([ex.text for ex in splits[split]])
        metrics[split] = multilabel_report(y, probs, model.thresholds, mask=mask)
    result = {
        "name": config.name,
        "model": "tfidf-word1-2+char_wb2-5-logreg-balanced",
        "data_dir": str(data_dir),
        "rows": {split: len(examples) for split, examples in splits.items()},
        "source_weights": config.training.source_weights,
        "normalizer_version": NORMALIZER_VERSION,
        "thresholds": dict(zip(LABEL_NAMES, model.thresholds, strict=True)),
        "metrics": metrics,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    with atomic_path(output_dir) as tmp:
        tmp.mkdir()
        with open(tmp / METRICS_FILE, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
    console = Console(stderr=True)
    for split, report in metrics.items():
        console.print(
            report_table(report, f"TF-IDF baseline ({config.name}): {split} ({report['n']} messages)")
        )
    console.print(f"wrote [bold]{output_dir / METRICS_FILE}[/bold] ({result['wall_time_s']:.0f}s)")
    return result
