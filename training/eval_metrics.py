"""Evaluation metrics beyond P/R/F1: PR-AUC, ROC-AUC, calibration error (ECE), bootstrap intervals, slices.

Arrays follow :mod:`training.metrics`: ``(N, L)`` with columns in label order, ``y_true`` multi-hot,
``probs`` in [0, 1] and an optional ``mask`` marking the cells whose label the row's annotation covers.
Every metric of a label uses only that label's annotated rows. A value that the data cannot define
(recall without positives, AUC with one class, anything on a slice with too few positives) is ``None``,
never a silent 0, so that metrics.json and the report show the gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from data.taxonomy import LABEL_NAMES
from training.metrics import binarize, multilabel_report, prf

#: Equal-width bins of the expected calibration error and the reliability diagram.
ECE_BINS = 15
#: Coverage of the bootstrap intervals.
CONFIDENCE = 0.95
#: A slice's label gets P/R/F1 and PR-AUC only with at least this many positives (and one negative for
#: ROC-AUC); below it the estimates swing by tens of points from one message to the next.
MIN_SLICE_POSITIVES = 5
#: Upper bound on the bytes one bootstrap chunk gathers (rows x resamples x counted cells).
_CHUNK_BYTES = 32_000_000


def _as_arrays(
    y_true: np.ndarray, probs: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).astype(bool)
    probs = np.asarray(probs, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != probs.shape:
        raise ValueError(f"y_true {y_true.shape} and scores {probs.shape} must be equal (N, L) arrays")
    mask = np.ones(y_true.shape, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    if mask.shape != y_true.shape:
        raise ValueError(f"mask {mask.shape} must have the shape of y_true {y_true.shape}")
    return y_true, probs, mask


def pr_auc(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """Average precision (area under the precision-recall step curve); ``None`` without positives."""
    from sklearn.metrics import average_precision_score

    y = np.asarray(y_true).astype(bool).ravel()
    if not y.any():
        return None
    return float(average_precision_score(y, np.asarray(scores, dtype=np.float64).ravel()))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve; ``None`` unless both classes are present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_true).astype(bool).ravel()
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, np.asarray(scores, dtype=np.float64).ravel()))


def reliability_bins(y_true: np.ndarray, scores: np.ndarray, n_bins: int = ECE_BINS) -> dict[str, list[Any]]:
    """Per equal-width score bin: edges, count, mean score and observed positive rate (``None`` if empty).

    Bin ``b`` holds scores in ``[b/n, (b+1)/n)``; a score of exactly 1.0 goes to the last bin.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    y = np.asarray(y_true).astype(np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true {y.shape} and scores {s.shape} differ in length")
    which = np.clip(np.floor(s * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    score_sum = np.bincount(which, weights=s, minlength=n_bins)
    pos_sum = np.bincount(which, weights=y, minlength=n_bins)
    filled = count > 0
    return {
        "edges": [float(e) for e in np.linspace(0.0, 1.0, n_bins + 1)],
        "count": [int(c) for c in count],
        "mean_score": [float(score_sum[b] / count[b]) if filled[b] else None for b in range(n_bins)],
        "positive_rate": [float(pos_sum[b] / count[b]) if filled[b] else None for b in range(n_bins)],
    }


def expected_calibration_error(
    y_true: np.ndarray, scores: np.ndarray, n_bins: int = ECE_BINS
) -> float | None:
    """``sum_b (n_b / N) * |mean score_b - positive rate_b|`` over equal-width bins; ``None`` for no rows."""
    bins = reliability_bins(y_true, scores, n_bins)
    total = sum(bins["count"])
    if total == 0:
        return None
    gap = sum(
        count * abs(mean - rate)
        for count, mean, rate in zip(bins["count"], bins["mean_score"], bins["positive_rate"], strict=True)
        if count
    )
    return float(gap / total)


def _interval(samples: np.ndarray, confidence: float) -> list[float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return [float(low), float(high)]


def bootstrap_prf(
    y_true: np.ndarray,
    pred: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    label_names: Sequence[str] = LABEL_NAMES,
) -> dict[str, Any]:
    """Percentile bootstrap intervals of per-label precision, recall, F1 and macro-F1.

    Rows (messages) are resampled with replacement, the same rows for every label, so the macro interval
    carries the labels' correlation. Macro-F1 averages the labels with a positive in the full data (as the
    point estimate does). A label without positives (or without predictions, for precision) has no
    interval: ``None``.

    Returns:
        ``{"n_resamples", "seed", "confidence", "labels": {name: {"precision": [lo, hi] | None, "recall",
        "f1"}}, "macro_f1": [lo, hi] | None}``.
    """
    pred = np.asarray(pred).astype(bool)
    y_true, _, mask = _as_arrays(y_true, pred.astype(np.float64), mask)
    n, width = y_true.shape
    if len(label_names) != width:
        raise ValueError(f"{len(label_names)} label names for {width} columns")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    # One uint8 row per message: tp, fp, fn cells side by side, so one gather counts all three.
    cells = np.concatenate([pred & y_true & mask, pred & ~y_true & mask, ~pred & y_true & mask], axis=1)
    cells = cells.astype(np.uint8)
    rng = np.random.default_rng(seed)
    counts = np.empty((n_resamples, 3 * width), dtype=np.int64)
    chunk = max(1, _CHUNK_BYTES // max(1, n * 3 * width))
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        rows = rng.integers(0, n, size=(size, n)) if n else np.zeros((size, 0), dtype=np.int64)
        counts[start : start + size] = cells[rows].sum(axis=1, dtype=np.int64)
    tp, fp, fn = counts[:, :width], counts[:, width : 2 * width], counts[:, 2 * width :]
    precision, recall, f1 = prf(tp, fp, fn)
    full_tp, full_fp, full_fn = (c.sum(axis=0) for c in np.split(cells.astype(np.int64), 3, axis=1))
    labels: dict[str, dict[str, list[float] | None]] = {}
    for j, name in enumerate(label_names):
        has_pos = full_tp[j] + full_fn[j] > 0
        has_pred = full_tp[j] + full_fp[j] > 0
        labels[name] = {
            "precision": _interval(precision[:, j], confidence) if has_pred else None,
            "recall": _interval(recall[:, j], confidence) if has_pos else None,
            "f1": _interval(f1[:, j], confidence) if has_pos else None,
        }
    averaged = [j for j in range(width) if full_tp[j] + full_fn[j] > 0]
    macro = _interval(f1[:, averaged].mean(axis=1), confidence) if averaged else None
    return {
        "n_resamples": int(n_resamples),
        "seed": int(seed),
        "confidence": float(confidence),
        "labels": labels,
        "macro_f1": macro,
    }


def label_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    thresholds: Sequence[float],
    *,
    mask: np.ndarray | None = None,
    label_names: Sequence[str] = LABEL_NAMES,
    n_resamples: int = 1000,
    seed: int = 0,
    n_bins: int = ECE_BINS,
) -> dict[str, Any]:
    """Everything ``tegur evaluate`` reports per label and overall, on one set of rows.

    Returns:
        ``{"n", "labels": {name: {threshold, rows, positives, predicted, tp, fp, fn, precision, recall, f1,
        ci: {precision, recall, f1}, pr_auc, roc_auc, ece}}, "micro": {precision, recall, f1},
        "macro": {precision, recall, f1, f1_ci, pr_auc, roc_auc, labels}, "ece_pooled", "bootstrap":
        {n_resamples, seed, confidence}}``. Undefined values are ``None``.
    """
    y_true, probs, mask = _as_arrays(y_true, probs, mask)
    base = multilabel_report(y_true, probs, thresholds, mask=mask, label_names=label_names)
    pred = binarize(probs, thresholds)
    boot = bootstrap_prf(y_true, pred, mask, n_resamples=n_resamples, seed=seed, label_names=label_names)
    labels: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(label_names):
        rows = mask[:, j]
        truth, score = y_true[rows, j], probs[rows, j]
        row = base["labels"][name]
        tp = int((pred[rows, j] & truth).sum())
        positives, predicted = int(row["support"]), int(row["predicted"])
        labels[name] = {
            "threshold": row["threshold"],
            "rows": int(row["rows"]),
            "positives": positives,
            "predicted": predicted,
            "tp": tp,
            "fp": predicted - tp,
            "fn": positives - tp,
            "precision": row["precision"] if predicted else None,
            "recall": row["recall"] if positives else None,
            "f1": row["f1"] if positives else None,
            "ci": boot["labels"][name],
            "pr_auc": pr_auc(truth, score),
            "roc_auc": roc_auc(truth, score),
            "ece": expected_calibration_error(truth, score, n_bins),
        }
    averaged = base["macro"]["labels"]

    def _mean(key: str) -> float | None:
        values = [labels[name][key] for name in averaged if labels[name][key] is not None]
        return float(np.mean(values)) if values else None

    any_positive = bool(averaged)
    return {
        "n": int(y_true.shape[0]),
        "labels": labels,
        "micro": base["micro"] if any_positive else {"precision": None, "recall": None, "f1": None},
        "macro": {
            "precision": base["macro"]["precision"] if any_positive else None,
            "recall": base["macro"]["recall"] if any_positive else None,
            "f1": base["macro"]["f1"] if any_positive else None,
            "f1_ci": boot["macro_f1"],
            "pr_auc": _mean("pr_auc"),
            "roc_auc": _mean("roc_auc"),
            "labels": list(averaged),
        },
        "ece_pooled": expected_calibration_error(y_true[mask], probs[mask], n_bins),
        "bootstrap": {k: boot[k] for k in ("n_resamples", "seed", "confidence")},
    }


def slice_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    thresholds: Sequence[float],
    groups: Mapping[str, np.ndarray],
    *,
    mask: np.ndarray | None = None,
    label_names: Sequence[str] = LABEL_NAMES,
    min_positives: int = MIN_SLICE_POSITIVES,
) -> dict[str, dict[str, Any]]:
    """P/R/F1 and PR-AUC per label on each slice (a boolean row selector per slice name).

    A label with fewer than ``min_positives`` positives in a slice reports its rows, positives and
    predictions only (the metrics are ``None`` and ``stable`` is false). ``macro_f1`` averages the slice's
    stable labels.
    """
    y_true, probs, mask = _as_arrays(y_true, probs, mask)
    pred = binarize(probs, thresholds)
    out: dict[str, dict[str, Any]] = {}
    for slice_name, selector in groups.items():
        selector = np.asarray(selector, dtype=bool)
        if selector.shape != (y_true.shape[0],):
            raise ValueError(
                f"slice {slice_name!r}: selector of shape {selector.shape}, need ({y_true.shape[0]},)"
            )
        labels: dict[str, dict[str, Any]] = {}
        for j, name in enumerate(label_names):
            rows = selector & mask[:, j]
            truth, flagged, score = y_true[rows, j], pred[rows, j], probs[rows, j]
            tp, fp, fn = (
                int((truth & flagged).sum()),
                int((~truth & flagged).sum()),
                int((truth & ~flagged).sum()),
            )
            positives = tp + fn
            stable = positives >= max(1, min_positives)
            precision, recall, f1 = (float(v) for v in prf(tp, fp, fn))
            labels[name] = {
                "rows": int(rows.sum()),
                "positives": positives,
                "predicted": tp + fp,
                "stable": stable,
                "precision": precision if stable and tp + fp else None,
                "recall": recall if stable else None,
                "f1": f1 if stable else None,
                "pr_auc": pr_auc(truth, score) if stable else None,
                "roc_auc": roc_auc(truth, score) if stable else None,
            }
        stable_f1 = [row["f1"] for row in labels.values() if row["f1"] is not None]
        out[slice_name] = {
            "n": int(selector.sum()),
            "labels": labels,
            "macro_f1": float(np.mean(stable_f1)) if stable_f1 else None,
        }
    return out


def cooccurrence_matrix(
    y_true: np.ndarray, pred: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of (true label, predicted label) pairs, ``(L + 1, L + 1)``; the last row/column is "none".

    Row ``i < L`` counts the messages annotated for label ``i`` and positive for it; the last row counts
    the messages annotated for every label and positive for none (clean). Column ``j < L`` counts those of
    them flagged with label ``j``; the last column those flagged with nothing. A message with two true
    labels appears in two rows, and one flagged twice in two columns, so a row shows which labels the
    model confuses a label with.

    Returns:
        The matrix and the number of messages per row (divide by it for the share flagged per column).
    """
    pred = np.asarray(pred).astype(bool)
    y_true, _, mask = _as_arrays(y_true, pred.astype(np.float64), mask)
    truth_rows = np.concatenate(
        [y_true & mask, (mask.all(axis=1) & ~y_true.any(axis=1))[:, None]], axis=1
    ).astype(np.int64)
    pred_cols = np.concatenate([pred, ~pred.any(axis=1)[:, None]], axis=1).astype(np.int64)
    return truth_rows.T @ pred_cols, truth_rows.sum(axis=0)
