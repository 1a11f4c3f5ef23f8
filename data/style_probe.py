"""Style probe: can a classifier tell the project's hand-written lines from public text?

If it can, "looks hand-written" is a feature the model may use as a shortcut for "harmful" (most
hand-written lines are positives of the rare labels). The probe trains a character n-gram logistic
regression to separate curated from public train rows *after normalisation* (what the model sees), with
the four labels held fixed: it compares curated and public rows of the same label set, so topic does not
help it. ROC-AUC 0.5 is chance. Two probes: on the normalised text (style *and* topic: curated lines are
LIVE-chat talk, public ones tweets and comments, so words differ too) and on its shape (words and numbers
masked, punctuation, emoji and length kept: style alone).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from data.dataset import Example
from data.loaders import CURATED_SOURCE
from data.normalize import Normalizer


def _balanced_pairs(examples: Sequence[Example], seed: int, per_group: int) -> list[tuple[str, int]]:
    """Per label set, as many public rows as curated ones (at most ``per_group`` of each)."""
    rng = random.Random(seed)
    groups: dict[tuple[str, ...], dict[int, list[Example]]] = defaultdict(lambda: {0: [], 1: []})
    for ex in examples:
        key = tuple(sorted(label.value for label in ex.labels))
        groups[key][int(ex.source == CURATED_SOURCE)].append(ex)
    rows: list[tuple[str, int]] = []
    for by_kind in groups.values():
        n = min(len(by_kind[0]), len(by_kind[1]), per_group)
        for kind in (0, 1):
            rows += [(ex.text, kind) for ex in rng.sample(by_kind[kind], n)]
    return rows


def style_probe(
    examples: Sequence[Example], *, seed: int = 0, folds: int = 5, per_group: int = 600
) -> dict[str, Any]:
    """Cross-validated ROC-AUC of curated-vs-public on normalised text, label sets balanced.

    Augmented copies are left out (they restyle curated lines on purpose: that is what is measured).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    def usable(ex: Example) -> bool:
        return not ex.extra.get("augmented") or ex.extra.get("augmentation") == "style"

    rows = _balanced_pairs([ex for ex in examples if usable(ex)], seed, per_group)
    labels = [kind for _, kind in rows]
    if len(set(labels)) < 2 or min(labels.count(0), labels.count(1)) < folds:
        return {"rows": len(rows), "roc_auc": None, "note": "too few curated rows with public counterparts"}
    normalizer = Normalizer()
    texts = [normalizer(text).text for text, _ in rows]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)

    def auc(inputs: list[str]) -> float:
        model = make_pipeline(
            TfidfVectorizer(
                analyzer="char", ngram_range=(1, 4), min_df=2, sublinear_tf=True, lowercase=False
            ),
            LogisticRegression(max_iter=2000, C=1.0),
        )
        scores = cross_val_predict(model, inputs, labels, cv=cv, method="predict_proba")[:, 1]
        return round(float(roc_auc_score(labels, scores)), 4)

    return {
        "rows": len(rows),
        "curated_rows": labels.count(1),
        "roc_auc": auc(texts),
        "shape_roc_auc": auc([text_shape(t) for t in texts]),
    }


_LETTERS_RE = re.compile(r"[^\W\d_]+")
_DIGITS_RE = re.compile(r"\d+")


def text_shape(text: str) -> str:
    """The text with words as ``w`` and numbers as ``0``: punctuation, emoji, spacing and length stay.

    A probe on shapes sees style only (punctuation, emoji, sentence length), not words or topic.
    """
    return _DIGITS_RE.sub("0", _LETTERS_RE.sub("w", text))
