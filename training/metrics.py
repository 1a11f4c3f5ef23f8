"""Multi-label metrics and per-label threshold tuning: plain numpy, shared by training, baseline and evaluate.

Arrays are ``(N, L)``: ``y_true`` multi-hot, ``probs`` scores in [0, 1], columns in label order.
An optional ``mask`` of the same shape marks the cells whose label the row's annotation covers; other
cells count nowhere (a gambling-spam corpus says nothing about bullying). A label is flagged when its
score is at or above its threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from data.taxonomy import LABEL_NAMES


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Logistic function, without overflow warnings for large logits."""
    from scipy.special import expit

    return expit(np.asarray(logits, dtype=np.float64))


def _check(
    y_true: np.ndarray, probs: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != probs.shape:
        raise ValueError(f"y_true {y_true.shape} and scores {probs.shape} must be equal (N, L) arrays")
    mask = np.ones(y_true.shape, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    if mask.shape != y_true.shape:
        raise ValueError(f"mask {mask.shape} must have the shape of y_true {y_true.shape}")
    return y_true.astype(bool), probs, mask


def prf(tp: np.ndarray | int, fp: np.ndarray | int, fn: np.ndarray | int) -> tuple[Any, Any, Any]:
    """Precision, recall, F1 with 0 where undefined (no predictions or no positives)."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return precision, recall, f1


def threshold_grid(low: float = 0.05, high: float = 0.95, step: float = 0.01) -> np.ndarray:
    """Candidate thresholds from ``low`` to ``high`` inclusive, rounded to avoid float drift."""
    count = round((high - low) / step) + 1
    return np.round(low + step * np.arange(count), 6)


def tune_thresholds(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    grid: Sequence[float] | np.ndarray | None = None,
    default: float = 0.5,
) -> list[float]:
    """Per label, the grid threshold that maximises F1 on these rows.

    Ties (a plateau of equal F1, common on small validation sets) go to the plateau's median threshold,
    the choice least sensitive to score drift. A label with no positive among its annotated rows, or
    whose best F1 is 0, cannot be tuned and gets ``default``.
    """
    y_true, probs, mask = _check(y_true, probs, mask)
    grid = threshold_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    thresholds: list[float] = []
    for j in range(y_true.shape[1]):
        rows = mask[:, j]
        truth, score = y_true[rows, j], probs[rows, j]
        if not truth.any():
            thresholds.append(float(default))
            continue
        flagged = score[:, None] >= grid[None, :]  # (n, G)
        tp = (flagged & truth[:, None]).sum(axis=0)
        fp = (flagged & ~truth[:, None]).sum(axis=0)
        fn = truth.sum() - tp
        _, _, f1 = prf(tp, fp, fn)
        best = f1.max()
        if best <= 0:
            thresholds.append(float(default))
            continue
        ties = np.flatnonzero(np.isclose(f1, best, rtol=0, atol=1e-12))
        thresholds.append(float(grid[ties[len(ties) // 2]]))
    return thresholds


def binarize(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Flag each cell whose score is at or above its label's threshold."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(thresholds):
        raise ValueError(f"scores {probs.shape} need one threshold per column, got {len(thresholds)}")
    return probs >= np.asarray(thresholds, dtype=np.float64)[None, :]


def multilabel_report(
    y_true: np.ndarray,
    probs: np.ndarray,
    thresholds: Sequence[float],
    *,
    mask: np.ndarray | None = None,
    label_names: Sequence[str] = LABEL_NAMES,
) -> dict[str, Any]:
    """Per-label precision/recall/F1 at ``thresholds``, plus micro and macro averages.

    Returns ``{"n", "labels": {name: {threshold, precision, recall, f1, support, predicted, rows}},
    "micro": {precision, recall, f1}, "macro": {precision, recall, f1, labels}}``. Macro averages the
    labels that have at least one positive (a label with no positives has no defined recall); the
    labels it averaged are listed. ``rows`` is how many rows are annotated for the label.
    """
    y_true, probs, mask = _check(y_true, probs, mask)
    if len(label_names) != y_true.shape[1]:
        raise ValueError(f"{len(label_names)} label names for {y_true.shape[1]} columns")
    pred = binarize(probs, thresholds)
    tp = (pred & y_true & mask).sum(axis=0)
    fp = (pred & ~y_true & mask).sum(axis=0)
    fn = (~pred & y_true & mask).sum(axis=0)
    precision, recall, f1 = prf(tp, fp, fn)
    labels: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(label_names):
        labels[name] = {
            "threshold": float(thresholds[j]),
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "support": int(tp[j] + fn[j]),
            "predicted": int(tp[j] + fp[j]),
            "rows": int(mask[:, j].sum()),
        }
    micro_p, micro_r, micro_f1 = prf(tp.sum(), fp.sum(), fn.sum())
    averaged = [j for j in range(len(label_names)) if tp[j] + fn[j] > 0]
    macro = {
        "precision": float(precision[averaged].mean()) if averaged else 0.0,
        "recall": float(recall[averaged].mean()) if averaged else 0.0,
        "f1": float(f1[averaged].mean()) if averaged else 0.0,
        "labels": [label_names[j] for j in averaged],
    }
    return {
        "n": int(y_true.shape[0]),
        "labels": labels,
        "micro": {"precision": float(micro_p), "recall": float(micro_r), "f1": float(micro_f1)},
        "macro": macro,
    }


def report_table(report: dict[str, Any], title: str) -> Any:
    """A rich Table of a :func:`multilabel_report` (print it with a rich Console); fits 80 columns."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE)
    table.add_column("label", no_wrap=True, min_width=24)
    for column in ("thr", "prec", "recall", "F1", "support", "flagged"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, row in report["labels"].items():
        table.add_row(
            name,
            f"{row['threshold']:.2f}",
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
            str(row["predicted"]),
        )
    table.add_section()
    for avg in ("micro", "macro"):
        row = report[avg]
        table.add_row(avg, "", f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", "", "")
    return table
