"""What ``tegur evaluate`` writes for people: report.md, plots, and the worst errors (personal data masked).

Everything here renders a finished evaluation (the ``metrics.json`` dict plus the scored arrays); no metric
is computed twice. Plots use matplotlib's Agg backend, so they work on servers and in CI.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data.dataset import Example
from tegur.io import atomic_path, write_text_atomic
from training.robustness import render_sections

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
PR_CURVES_FILE = "pr_curves.png"
RELIABILITY_FILE = "reliability.png"
COOCCURRENCE_FILE = "cooccurrence.png"
WORST_ERRORS_FILE = "worst_errors.csv"

WORST_ERRORS_COLUMNS = ("label", "error", "rank", "score", "threshold", "id", "source", "surface", "text")

# --- Masking personal data ------------------------------------------------------------------------------
# Texts in the worst-errors file are raw messages, which hold real contact details. Each pattern below
# becomes a placeholder (the normaliser's names, so both files read alike). ``\d`` matches every Unicode
# decimal digit, so styled digits (𝟎𝟖𝟏𝟐) are caught as well. Anonymised ``USER`` / ``URL`` tokens of the
# Twitter corpora have no digits, ``@`` or dots and pass through unchanged.

_TLDS = (
    "com|net|org|id|co|me|ly|io|gg|cc|xyz|link|site|online|top|vip|info|biz|app|live|club|store|shop|tv|"
    "to|pro|ee|gl|gd|ws|asia|fun|win|bet|games|casino|mobi|tk|cloud|space|website|icu|click|pw|best|world"
)
_EMAIL_RE = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,24}\b", re.IGNORECASE)
_URL_RE = re.compile(
    r"(?:(?:https?|ftp)://|www\.)\S+"
    rf"|\b(?:[\w\-]+\.)+(?:{_TLDS})\b(?:/\S*)?",
    re.IGNORECASE,
)
_HANDLE_RE = re.compile(r"(?<![\w@])@[\w.]{2,40}")
# A phone: "+<digit>", "0" or "62" then 8 to 15 more digits, which spaces, dots, dashes or brackets may split.
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+\s?\(?\d|\(?0|62)(?:[\s.\-()]{0,2}\d){8,15}(?!\w)")
# Any other run of 6+ digits (bank accounts, order numbers, ids): not a phone, still identifying.
_DIGITS_RE = re.compile(r"\d{6,}")
_PLACEHOLDERS = {"emails": "[EMAIL]", "urls": "[URL]", "handles": "[HANDLE]", "phone_numbers": "[PHONE]"}


def _mask_patterns(text: str) -> str:
    text = _EMAIL_RE.sub("[EMAIL]", text)
    text = _URL_RE.sub("[URL]", text)
    text = _HANDLE_RE.sub("[HANDLE]", text)
    text = _PHONE_RE.sub("[PHONE]", text)
    return _DIGITS_RE.sub("[NUMBER]", text)


def mask_personal_data(text: str) -> str:
    """``text`` with e-mails, links, ``@handles``, phone numbers and long digit runs replaced by placeholders.

    The patterns work on the raw text. The normaliser also finds contacts hidden by obfuscation (keycap or
    spelled-out digits, ``wa dot me``): when it finds more of a kind than the patterns did, the normalised
    text (where it replaced them all) is returned instead, masked the same way.
    """
    from data.normalize import normalize

    masked = _mask_patterns(text)
    normalized = normalize(text)
    features = normalized.features
    for field, placeholder in _PLACEHOLDERS.items():
        if getattr(features, field) > masked.count(placeholder):
            return _mask_patterns(normalized.text)
    return masked


# --- Worst errors ---------------------------------------------------------------------------------------


def worst_errors(
    examples: Sequence[Example],
    y_true: np.ndarray,
    probs: np.ndarray,
    thresholds: Sequence[float],
    mask: np.ndarray,
    label_names: Sequence[str],
    *,
    k: int = 20,
) -> list[dict[str, Any]]:
    """Per label, the ``k`` most confident false positives and the ``k`` least confident false negatives.

    Only rows annotated for the label count. Texts are masked with :func:`mask_personal_data`.
    """
    rows: list[dict[str, Any]] = []
    y_true = np.asarray(y_true).astype(bool)
    mask = np.asarray(mask).astype(bool)
    for j, name in enumerate(label_names):
        flagged = probs[:, j] >= thresholds[j]
        false_pos = np.flatnonzero(mask[:, j] & ~y_true[:, j] & flagged)
        false_neg = np.flatnonzero(mask[:, j] & y_true[:, j] & ~flagged)
        picks = (
            ("false_positive", false_pos[np.argsort(-probs[false_pos, j], kind="stable")][:k]),
            ("false_negative", false_neg[np.argsort(probs[false_neg, j], kind="stable")][:k]),
        )
        for error, indices in picks:
            for rank, i in enumerate(indices, start=1):
                ex = examples[i]
                rows.append(
                    {
                        "label": name,
                        "error": error,
                        "rank": rank,
                        "score": round(float(probs[i, j]), 4),
                        "threshold": round(float(thresholds[j]), 4),
                        "id": ex.id,
                        "source": ex.source,
                        "surface": ex.surface.value,
                        "text": mask_personal_data(ex.text),
                    }
                )
    return rows


def write_worst_errors_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write the rows of :func:`worst_errors` as CSV (UTF-8, header first), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=WORST_ERRORS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


# --- Plots ----------------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, *, tight: bool = False) -> None:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight" if tight else None)
    plt.close(fig)


def _grid(plt: Any, panels: int, title: str) -> tuple[Any, list[Any]]:
    cols = 2 if panels <= 4 else 3
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    # Fixed spacing: a layout engine costs seconds per figure, and the panels are all alike.
    fig.subplots_adjust(left=0.07, right=0.97, bottom=0.08, top=0.9, hspace=0.35, wspace=0.25)
    flat = list(axes.ravel())
    for ax in flat[panels:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=13)
    return fig, flat[:panels]


def plot_pr_curves(
    path: str | Path,
    y_true: np.ndarray,
    probs: np.ndarray,
    mask: np.ndarray,
    thresholds: Sequence[float],
    label_names: Sequence[str],
    *,
    baseline_probs: np.ndarray | None = None,
    baseline_thresholds: Sequence[float] | None = None,
) -> None:
    """One precision-recall panel per label; the dot is the operating point at the label's threshold."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _pyplot()
    fig, axes = _grid(plt, len(label_names), "Precision-recall per label (annotated rows only)")
    y_true = np.asarray(y_true).astype(bool)
    mask = np.asarray(mask).astype(bool)
    curves: list[tuple[str, np.ndarray, Sequence[float] | None]] = [("model", probs, thresholds)]
    if baseline_probs is not None:
        curves.append(("TF-IDF baseline", baseline_probs, baseline_thresholds))
    for j, (ax, name) in enumerate(zip(axes, label_names, strict=True)):
        rows = mask[:, j]
        truth = y_true[rows, j]
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.grid(alpha=0.3)
        if not truth.any():
            ax.set_title(f"{name}: no positives ({int(rows.sum())} rows)")
            continue
        for (who, scores, cuts), style in zip(curves, ("-", "--"), strict=False):
            score = scores[rows, j]
            precision, recall, _ = precision_recall_curve(truth, score)
            ap = average_precision_score(truth, score)
            line = ax.step(recall, precision, style, where="post", label=f"{who} (AP {ap:.3f})")[0]
            if cuts is not None:
                flagged = score >= cuts[j]
                tp = int((flagged & truth).sum())
                if flagged.any():
                    ax.plot(tp / truth.sum(), tp / flagged.sum(), "o", color=line.get_color(), markersize=7)
        ax.axhline(
            truth.mean(), color="grey", linestyle=":", linewidth=1, label=f"chance ({truth.mean():.2f})"
        )
        ax.set_title(f"{name} (n={int(rows.sum())}, positives={int(truth.sum())})")
        ax.legend(loc="best", fontsize=8)
    _save(fig, path)


def plot_reliability(
    path: str | Path, reliability: Mapping[str, Mapping[str, list[Any]]], ece: Mapping[str, float | None]
) -> None:
    """Reliability diagram per label and pooled: observed positive rate against mean score per bin."""
    plt = _pyplot()
    names = list(reliability)
    fig, axes = _grid(
        plt, len(names), "Reliability: a calibrated model lies on the diagonal (numbers: messages per bin)"
    )
    for ax, name in zip(axes, names, strict=True):
        bins = reliability[name]
        edges = np.asarray(bins["edges"])
        centers = (edges[:-1] + edges[1:]) / 2
        width = edges[1] - edges[0]
        rates = np.array([np.nan if r is None else r for r in bins["positive_rate"]], dtype=float)
        means = np.array([np.nan if m is None else m for m in bins["mean_score"]], dtype=float)
        ax.bar(centers, np.nan_to_num(rates), width=width * 0.9, alpha=0.6, label="observed positive rate",
               edgecolor="k")  # fmt: skip
        ax.plot(means, rates, "o", color="C3", markersize=4, label="(mean score, positive rate) of bin")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        for x, rate, count in zip(centers, rates, bins["count"], strict=True):
            if count:
                ax.text(x, min(rate, 0.9) + 0.03, str(count), ha="center", fontsize=6, color="dimgrey")
        value = ece.get(name)
        ax.set_title(f"{name} (ECE {value:.3f})" if value is not None else f"{name} (no rows)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("score")
        ax.set_ylabel("observed positive rate")
    axes[0].legend(loc="upper left", fontsize=8)  # the panels are alike: one legend is enough
    _save(fig, path)


def plot_cooccurrence(
    path: str | Path, matrix: np.ndarray, messages_per_row: np.ndarray, label_names: Sequence[str]
) -> None:
    """Heat map of true label (rows) against predicted label (columns), shaded by the share of the row's
    messages flagged so (a message flagged twice counts in two cells), with the counts written in."""
    plt = _pyplot()
    names = [*label_names, "none"]
    counts = np.asarray(matrix, dtype=float)
    totals = np.asarray(messages_per_row, dtype=float)[:, None]
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = 1.4 * len(names) + 2
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the row's messages flagged so")
    ax.set_xticks(range(len(names)), labels=names, rotation=30, ha="right")
    row_names = [*label_names, "none (clean)"]
    ax.set_yticks(
        range(len(names)), labels=[f"{n} ({int(t)})" for n, t in zip(row_names, totals[:, 0], strict=True)]
    )
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title("True vs predicted labels (messages per true label in brackets)")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
            )
    _save(fig, path, tight=True)  # long label names on the y axis


# --- report.md ------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ci(interval: Sequence[float] | None) -> str:
    return "" if interval is None else f" [{interval[0]:.3f}, {interval[1]:.3f}]"


def _summary_table(metrics: Mapping[str, Any]) -> list[str]:
    lines = [
        "| label | threshold | annotated | positives | precision | recall | F1 [95% CI] "
        "| PR-AUC | ROC-AUC | ECE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in metrics["labels"].items():
        lines.append(
            f"| {name} | {row['threshold']:.2f} | {row['rows']} | {row['positives']} "
            f"| {_num(row['precision'])}{_ci(row['ci']['precision'])} "
            f"| {_num(row['recall'])}{_ci(row['ci']['recall'])} "
            f"| {_num(row['f1'])}{_ci(row['ci']['f1'])} | {_num(row['pr_auc'])} | {_num(row['roc_auc'])} "
            f"| {_num(row['ece'])} |"
        )
    macro, micro = metrics["macro"], metrics["micro"]
    lines.append(
        f"| **macro** | | | | {_num(macro['precision'])} | {_num(macro['recall'])} "
        f"| {_num(macro['f1'])}{_ci(macro['f1_ci'])} | {_num(macro['pr_auc'])} | {_num(macro['roc_auc'])} "
        f"| {_num(metrics['ece_pooled'])} (pooled) |"
    )
    lines.append(
        f"| **micro** | | | | {_num(micro['precision'])} | {_num(micro['recall'])} "
        f"| {_num(micro['f1'])} | | | |"
    )
    return lines


def _baseline_section(result: Mapping[str, Any]) -> list[str]:
    baseline = result.get("baseline") or {}
    lines = ["## Baseline side by side", ""]
    if "metrics" not in baseline:
        reason = baseline.get("skipped", "not computed")
        return [*lines, f"The TF-IDF baseline was not run: {reason}.", ""]
    lines += [
        f"TF-IDF word 1-2-gram + char 2-5-gram logistic regression, retrained on `{baseline['trained_on']}` "
        f"(train split, thresholds tuned on its validation split) in {baseline['train_seconds']:.1f}s, "
        "scored on the same messages.",
        "",
        "| label | model F1 | baseline F1 | model PR-AUC | baseline PR-AUC |",
        "|---|---:|---:|---:|---:|",
    ]
    model, base = result["metrics"], baseline["metrics"]
    for name, row in model["labels"].items():
        other = base["labels"][name]
        lines.append(
            f"| {name} | {_num(row['f1'])}{_ci(row['ci']['f1'])} "
            f"| {_num(other['f1'])}{_ci(other['ci']['f1'])} "
            f"| {_num(row['pr_auc'])} | {_num(other['pr_auc'])} |"
        )
    lines.append(
        f"| **macro** | {_num(model['macro']['f1'])}{_ci(model['macro']['f1_ci'])} "
        f"| {_num(base['macro']['f1'])}{_ci(base['macro']['f1_ci'])} | {_num(model['macro']['pr_auc'])} "
        f"| {_num(base['macro']['pr_auc'])} |"
    )
    return [*lines, ""]


def _slices_section(result: Mapping[str, Any]) -> list[str]:
    settings = result["settings"]
    lines = [
        "## Slices",
        "",
        f"F1 per label on each slice; `—` where the slice holds fewer than {settings['min_slice_positives']} "
        "positives of the label (too few for a stable estimate), with the positives in brackets.",
        "",
    ]
    for kind, slices in result["slices"].items():
        if not slices:
            continue
        names = list(result["metrics"]["labels"])
        lines += [
            f"### By {kind}",
            "",
            "| slice | messages | " + " | ".join(names) + " | macro F1 |",
            "|---|---:|" + "---:|" * (len(names) + 1),
        ]
        for slice_name, row in slices.items():
            cells = [f"{_num(row['labels'][n]['f1'])} ({row['labels'][n]['positives']})" for n in names]
            lines.append(
                f"| {slice_name} | {row['n']} | " + " | ".join(cells) + f" | {_num(row['macro_f1'])} |"
            )
        lines.append("")
    return lines


def _reference_section(result: Mapping[str, Any]) -> list[str]:
    ref = result["reference"]
    lines = ["## Published reference points (ibrohim2019)", ""]
    if ref["n"] == 0:
        return [*lines, f"{ref['note']}", ""]
    baseline_f1 = ref.get("baseline_f1")
    lines += [
        f"Bullying on the {ref['n']} messages from `ibrohim2019` in this data "
        f"({ref['positives']} positives).",
        "",
        "| system | protocol | F1 |",
        "|---|---|---:|",
        "| this model | this split, mapping HS -> bullying, threshold from validation "
        f"| {_num(ref['model_f1'])}{_ci(ref['model_f1_ci'])} |",
    ]
    if baseline_f1 is not None:
        lines.append(
            f"| TF-IDF baseline (ours) | same messages and mapping | {_num(baseline_f1)}"
            f"{_ci(ref.get('baseline_f1_ci'))} |"
        )
    for published in ref["published"]:
        value = (
            f"{published['f1'][0]:.3f}"
            if published["f1"][0] == published["f1"][1]
            else f"{published['f1'][0]:.3f}–{published['f1'][1]:.3f}"
        )
        lines.append(f"| {published['system']} | {published['protocol']} | {value} |")
    return [*lines, "", f"*Caveat.* {ref['caveat']}", ""]


def render_report(result: Mapping[str, Any]) -> str:
    """report.md of a finished evaluation (``result`` is the metrics.json dict)."""
    model, data, metrics = result["model"], result["data"], result["metrics"]
    throughput, settings = result["throughput"], result["settings"]
    calibration = model.get("calibration")
    lines = [
        f"# Evaluation of `{model['name']}` ({model['version']}) on {data['description']}",
        "",
        f"{data['n']} messages. Every metric of a label uses only the messages whose annotation covers that "
        f"label. Intervals are 95% percentile bootstrap intervals over messages ({settings['bootstrap']} "
        f"resamples, seed {settings['seed']}). ECE: expected calibration error over {settings['ece_bins']} "
        "equal-width score bins. `—`: undefined on this data (no positives, or no flagged messages).",
        "",
        "## Summary",
        "",
        *_summary_table(metrics),
        "",
        *_baseline_section(result),
        *_slices_section(result),
        *_reference_section(result),
        *(render_sections(result["robustness"]) if result.get("robustness") else []),
        "## Calibration",
        "",
        (
            f"The artifact applies {calibration['method']} calibration (fitted on "
            f"{calibration['fitted_on']}); the scores and thresholds above are calibrated."
            if calibration
            else "The artifact has no calibration: scores are the model's raw sigmoid outputs. "
            "`tegur calibrate --model DIR` fits one on the validation split and keeps it only if it lowers "
            "the calibration error."
        ),
        f"Pooled ECE: {_num(metrics['ece_pooled'])}.",
        "",
        f"![reliability]({RELIABILITY_FILE})",
        "",
        "## Plots",
        "",
        f"![precision-recall curves]({PR_CURVES_FILE})",
        "",
        f"![true vs predicted labels]({COOCCURRENCE_FILE})",
        "",
        "## Worst errors",
        "",
        f"[`{WORST_ERRORS_FILE}`]({WORST_ERRORS_FILE}): per label, the {settings['worst_k']} most confident "
        f"false positives and the {settings['worst_k']} least confident false negatives. E-mails, links, "
        "@handles, phone numbers and digit runs of 6+ are replaced by placeholders; the texts may still hold "
        "names and insults: share the file with care.",
        "",
        "## Throughput",
        "",
        f"{throughput['messages']} messages in {throughput['seconds']:.2f}s: "
        f"**{_num(throughput['messages_per_second'], 1)} messages/s** "
        f"(batch size {throughput['batch_size']}, precision {throughput['precision']}, "
        f"{throughput['threads']} threads, {throughput['device']}; normalisation and tokenisation included).",
        "",
        "## Provenance",
        "",
        f"- Model: `{model['dir']}`, name `{model['name']}`, version `{model['version']}`, normaliser "
        f"`{model['normalizer_version']}`.",
        "- Thresholds: " + ", ".join(f"{k} {v:.3f}" for k, v in model["thresholds"].items()) + ".",
        f"- Data: `{data['path']}` (sha256 `{data['sha256']}`)"
        + (f", split `{data['split']}`" if data.get("split") else "")
        + ".",
        f"- Evaluated {result['created_at']} with Tegur {result['tegur_version']}.",
        "",
    ]
    return "\n".join(lines)
