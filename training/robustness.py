"""The parts of an evaluation that cannot flatter: figures without near-copies of train, project-written
rows apart from public ones, the functional suite, the minors lines and the leave-one-source-out table.

``tegur evaluate`` adds these sections to ``metrics.json`` and ``report.md`` (:func:`robustness_sections`,
:func:`render_sections`). Each is computed from data the model was not trained on; none of them is used to
choose thresholds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data.dataset import Example, read_examples
from data.loaders import CURATED_SOURCE
from data.near_duplicates import NearCopyIndex
from data.taxonomy import LABEL_NAMES, Label
from tegur.errors import DataError

logger = logging.getLogger(__name__)

#: Near-copy threshold: character 3-gram Jaccard on the raw text, the measure issue #10 quotes.
NEAR_COPY_THRESHOLD = 0.5
DEFAULT_MINORS_TEST = Path("data/eval/minors_test.jsonl")
_ESCALATING = (Label.SEXUAL_SOLICITATION.value, Label.OFF_PLATFORM_REDIRECTION.value)


def _macro_line(
    examples: Sequence[Example], probs: np.ndarray, thresholds: Sequence[float]
) -> dict[str, Any]:
    from training.inputs import label_arrays
    from training.metrics import multilabel_report

    if not examples:
        return {"n": 0}
    y, mask = label_arrays(examples)
    report = multilabel_report(y, probs, thresholds, mask=mask)
    return {
        "n": len(examples),
        "macro_f1": report["macro"]["f1"],
        "labels": {
            name: {
                "positives": row["support"],
                "precision": row["precision"] if row["predicted"] else None,
                "recall": row["recall"] if row["support"] else None,
                "f1": row["f1"] if row["support"] else None,
            }
            for name, row in report["labels"].items()
        },
    }


def near_copy_mask(examples: Sequence[Example], train: Sequence[Example], seed: int = 0) -> np.ndarray:
    """Which ``examples`` have a near-copy (char 3-gram Jaccard >= 0.5 on the raw text) among ``train``."""
    index = NearCopyIndex((ex.text for ex in train), threshold=NEAR_COPY_THRESHOLD, seed=seed)
    return index.near_copies([ex.text for ex in examples])


def held_out_views(
    examples: Sequence[Example],
    probs: np.ndarray,
    thresholds: Sequence[float],
    train: Sequence[Example] | None,
) -> dict[str, Any]:
    """Metrics on all rows, on public rows, on project-written rows, and without near-copies of train."""
    probs = np.asarray(probs)
    curated = np.array([ex.source == CURATED_SOURCE for ex in examples], dtype=bool)

    def view(rows: np.ndarray) -> dict[str, Any]:
        idx = np.flatnonzero(rows)
        return _macro_line([examples[i] for i in idx], probs[idx], thresholds)

    out: dict[str, Any] = {
        "all": view(np.ones(len(examples), dtype=bool)),
        "public": view(~curated),
        "project_written": view(curated),
    }
    if train is not None:
        copies = near_copy_mask(examples, train)
        out["near_copies"] = {
            "threshold": NEAR_COPY_THRESHOLD,
            "removed": int(copies.sum()),
            "removed_positives": {
                name: int(sum(1 for ex, c in zip(examples, copies, strict=True) if c and name in ex.labels))
                for name in LABEL_NAMES
            },
        }
        out["deduplicated"] = view(~copies)
        out["deduplicated_public"] = view(~copies & ~curated)
    return out


def minors_evaluation(predictor: Any, path: Path = DEFAULT_MINORS_TEST) -> dict[str, Any]:
    """Precision/recall of ``minor_signal`` and of grooming escalation on the held-out minors lines.

    Escalation (what reaches a human on the critical path) is :func:`data.minors.escalates`; the truth is
    a line with ``minor_signal`` true whose labels hold a solicitation or a redirection.
    """
    from data.minors import escalates, minor_signal

    rows = read_examples(path)  # the dataset reader: file:line errors, labels checked
    for i, row in enumerate(rows, 1):
        if not isinstance(row.extra.get("minor_signal"), bool):
            raise DataError(f"{path}:{i}: 'minor_signal' must be true or false")
    texts = [row.text for row in rows]
    probs = np.asarray(predictor.predict_proba(texts))
    names = list(predictor.labels)
    thresholds = np.array([predictor.thresholds[n] for n in names])
    flags = probs >= thresholds
    cols = [names.index(n) for n in _ESCALATING]
    signals = [minor_signal(t) for t in texts]
    signal = np.array([s.flag for s in signals], dtype=bool)
    truth_signal = np.array([row.extra["minor_signal"] for row in rows], dtype=bool)
    harmful = np.array([any(lab in _ESCALATING for lab in row.labels) for row in rows], dtype=bool)
    truth_groom = truth_signal & harmful
    flagged = [[names[j] for j in np.flatnonzero(row)] for row in flags]
    escalate = np.array([escalates(s, f) for s, f in zip(signals, flagged, strict=True)], dtype=bool)

    def pr(truth: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
        tp = int((truth & pred).sum())
        p = tp / int(pred.sum()) if pred.any() else None
        r = tp / int(truth.sum()) if truth.any() else None
        f1 = 2 * p * r / (p + r) if p and r else None
        return {
            "positives": int(truth.sum()),
            "predicted": int(pred.sum()),
            "precision": None if p is None else round(p, 4),
            "recall": None if r is None else round(r, 4),
            "f1": None if f1 is None else round(f1, 4),
        }

    return {
        "path": str(path),
        "n": len(rows),
        "minor_signal": pr(truth_signal, signal),
        "grooming_escalation": pr(truth_groom, escalate),
        "model_flags_on_grooming": pr(truth_groom, flags[:, cols].any(axis=1)),
    }


def robustness_sections(
    examples: Sequence[Example],
    probs: np.ndarray,
    thresholds: Sequence[float],
    *,
    predictor: Any,
    train: Sequence[Example] | None,
    suite_dir: Path | None,
    minors_path: Path | None,
    loso_path: Path | None,
) -> dict[str, Any]:
    """The sections this module adds to an evaluation (a section whose input is absent is skipped)."""
    from training.functional import load_suite, score_suite

    out: dict[str, Any] = {"held_out_views": held_out_views(examples, probs, thresholds, train)}
    if suite_dir is not None and (suite_dir / "suite.jsonl").is_file():
        out["functional"] = score_suite(predictor, load_suite(suite_dir))
    if minors_path is not None and minors_path.is_file():
        out["minors"] = minors_evaluation(predictor, minors_path)
    if loso_path is not None:
        file = loso_path / "loso.json" if loso_path.is_dir() else loso_path
        if not file.is_file():
            raise DataError(f"no leave-one-source-out result at {file}; run `tegur loso` first")
        with file.open(encoding="utf-8") as handle:
            out["loso"] = json.load(handle)
    return out


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render_sections(sections: Mapping[str, Any]) -> list[str]:
    """Markdown lines of the robustness sections for report.md."""
    from training.functional import render_markdown as functional_table
    from training.loso import render_markdown as loso_table

    lines = ["## Held out for real", ""]
    views = sections["held_out_views"]
    lines += [
        "Macro-F1 (per-label F1) on views of the data. `project_written`: lines this project wrote (the "
        "curated set); `deduplicated`: without the rows that have a near-copy in train (character 3-gram "
        f"Jaccard >= {NEAR_COPY_THRESHOLD} on the raw text).",
        "",
        "| view | messages | macro-F1 | " + " | ".join(LABEL_NAMES) + " |",
        "|---|---:|---:|" + "---:|" * len(LABEL_NAMES),
    ]
    for name in ("all", "public", "project_written", "deduplicated", "deduplicated_public"):
        row = views.get(name)
        if not row or not row.get("n"):
            continue
        cells = " | ".join(_f(row["labels"][label]["f1"]) for label in LABEL_NAMES)
        lines.append(f"| {name} | {row['n']} | {_f(row['macro_f1'])} | {cells} |")
    if "near_copies" in views:
        nc = views["near_copies"]
        per = ", ".join(f"{k} {v}" for k, v in nc["removed_positives"].items())
        lines += ["", f"Near-copies of train removed: {nc['removed']} messages (positives: {per})."]
    lines.append("")
    if "functional" in sections:
        lines += ["## Functional suite", "", functional_table(sections["functional"]), ""]
    if "minors" in sections:
        m = sections["minors"]
        lines += [
            "## Minors",
            "",
            f"{m['n']} held-out hand-written lines (`{m['path']}`).",
            "",
            "| decision | truth positives | predicted | precision | recall | F1 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key in ("minor_signal", "grooming_escalation", "model_flags_on_grooming"):
            r = m[key]
            lines.append(
                f"| {key} | {r['positives']} | {r['predicted']} | {_f(r['precision'])} | {_f(r['recall'])} "
                f"| {_f(r['f1'])} |"
            )
        lines.append("")
    if "loso" in sections:
        lines += ["## Leave one source out", "", loso_table(sections["loso"]), ""]
    return lines
