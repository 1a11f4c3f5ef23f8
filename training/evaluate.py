"""``tegur evaluate`` and ``tegur calibrate``: honest numbers for a trained artifact on any labelled data.

Evaluation data is a JSONL file (``{"text", "labels", "annotated"?, "source"?, "surface"?}`` per line, the
prepared dataset's format), a CSV file with a text column and 0/1 columns mapped to labels, or a split of
the prepared dataset the model was trained from. A label's metrics use only the lines whose annotation
covers it, so a set labelled for bullying alone evaluates bullying and nothing else.

Outputs (``--out``): ``metrics.json`` (everything, machine-readable), ``report.md``, ``pr_curves.png``,
``reliability.png``, ``cooccurrence.png`` and ``worst_errors.csv`` (personal data masked).
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from data.dataset import Example, parse_example, read_examples, read_split
from data.taxonomy import LABEL_NAMES, Label, Surface, parse_label
from inference.artifact import file_sha256
from inference.calibration import CalibrationMethod
from inference.settings import PRECISION_HELP, Precision, TorchPrecision
from tegur.errors import ArtifactError, DataError
from tegur.io import FileFormat as DataFormat
from tegur.io import TextEncoding as Encoding
from tegur.io import format_from_name
from training.functional import DEFAULT_SUITE_DIR
from training.robustness import DEFAULT_MINORS_TEST, robustness_sections

if TYPE_CHECKING:
    from inference.artifact import ArtifactMetadata
    from inference.calibration import Calibration
    from training.baseline import BaselineModel

logger = logging.getLogger(__name__)

#: Source name of the ibrohim2019 tweets in the prepared dataset.
IBROHIM_SOURCE = "ibrohim2019"
#: Published F1 on Indonesian hate speech, shown next to ours on the ibrohim2019 messages.
PUBLISHED_REFERENCES: tuple[dict[str, Any], ...] = (
    {
        "system": "TF-IDF word+char n-gram logistic regression (published)",
        "protocol": "ibrohim2019 binary HS, 5-fold cross-validation",
        "f1": [0.85, 0.85],
    },
    {
        "system": "Indonesian BERT models (IndoBERTweet paper, Koto et al. 2021)",
        "protocol": "the paper's Indonesian hate-speech sets and splits",
        "f1": [0.864, 0.888],
    },
)
REFERENCE_CAVEAT = (
    "Comparable in task, not identical in protocol. Our figure is on this data's ibrohim2019 messages "
    "(after cross-source deduplication and near-duplicate grouping), not 5-fold cross-validation of the "
    "whole set; HS is mapped to bullying by Tegur's mapping (untargeted swearing handled by the "
    "`abusive_only` switch), and the threshold is the one tuned on the mixed-source validation split, not "
    "on ibrohim2019. "
    "The IndoBERTweet figures are on the paper's own datasets and splits."
)


class EvalSplit(StrEnum):
    """Prepared-dataset splits that can be evaluated."""

    VALIDATION = "validation"
    TEST = "test"


_TRUE = frozenset({"1", "1.0", "true", "yes", "y"})
_FALSE = frozenset({"0", "0.0", "false", "no", "n"})


@dataclass(frozen=True)
class EvalData:
    """Evaluation examples and where they came from."""

    examples: list[Example]
    path: Path
    sha256: str
    format: DataFormat
    split: str | None = None

    @property
    def description(self) -> str:
        if self.split is not None:
            return f"the {self.split} split of `{self.path.parent}`"
        return f"`{self.path.name}`"


# --- Loading --------------------------------------------------------------------------------------------


def parse_label_map(items: Sequence[str]) -> dict[str, Label]:
    """Parse ``COLUMN=LABEL`` items (``HS=bullying``) into column -> label.

    Raises:
        DataError: an item is malformed, names an unknown label, or repeats a column or label.
    """
    mapping: dict[str, Label] = {}
    for item in items:
        column, sep, name = item.partition("=")
        column, name = column.strip(), name.strip()
        if not sep or not column or not name:
            raise DataError(f"--label-map {item!r}: expected COLUMN=LABEL, e.g. HS=bullying")
        label = parse_label(name, where=f"--label-map {item!r}")
        if column in mapping:
            raise DataError(f"--label-map {item!r}: column {column!r} is mapped twice")
        if label in mapping.values():
            raise DataError(f"--label-map {item!r}: label {label.value!r} is mapped from two columns")
        mapping[column] = label
    return mapping


def read_csv_examples(
    path: str | Path,
    *,
    label_map: Mapping[str, Label],
    text_col: str = "text",
    encoding: Encoding = Encoding.UTF8,
    delimiter: str = ",",
) -> list[Example]:
    """Read a CSV file whose 0/1 columns are mapped to labels.

    A row annotates exactly the mapped labels whose cell is not empty; labels that are not mapped are not
    annotated. Optional ``id``, ``source`` and ``surface`` columns are used when present.

    Raises:
        DataError: missing or empty file, undecodable bytes, a missing column, a malformed row or a cell
            that is not 0/1; the message names file:line and the column.
    """
    path = Path(path)
    if not label_map:
        raise DataError(
            f"{path}: a CSV file needs --label-map COLUMN=LABEL (e.g. --label-map HS=bullying) to know which "
            "columns hold labels"
        )
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig" if encoding == Encoding.UTF8 else encoding.value)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not valid {encoding.value} ({exc.reason} at byte {exc.start}); "
            "pass --encoding latin-1 if the file is Latin-1"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise DataError(f"{path}: no examples (the file is empty)")
        header = [cell.strip() for cell in header]
        wanted = {"--text-col": [text_col], "--label-map": list(label_map)}
        for option, columns in wanted.items():
            for column in columns:
                if column not in header:
                    raise DataError(
                        f"{path}:1: no column {column!r} (named by {option}); "
                        f"the columns are {', '.join(header)}"
                    )
        index = {name: i for i, name in enumerate(header)}
        examples: list[Example] = []
        for row in reader:
            line = reader.line_num
            where = f"{path}:{line}"
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{where}: expected {len(header)} columns, got {len(row)}; check quoting")
            labels: list[str] = []
            annotated: list[str] = []
            for column, label in label_map.items():
                cell = row[index[column]].strip().lower()
                if not cell:
                    continue
                if cell not in _TRUE and cell not in _FALSE:
                    raise DataError(f"{where}, column {column!r}: {row[index[column]]!r} is not 0 or 1")
                annotated.append(label.value)
                if cell in _TRUE:
                    labels.append(label.value)
            record: dict[str, object] = {
                "id": row[index["id"]] if "id" in index else f"{path.name}:{line}",
                "text": row[index[text_col]],
                "labels": labels,
                "annotated": annotated,
            }
            for optional in ("source", "surface"):
                if optional in index and row[index[optional]].strip():
                    record[optional] = row[index[optional]].strip()
            if not record["text"].strip():  # type: ignore[union-attr]
                raise DataError(f"{where}, column {text_col!r}: the text is empty")
            examples.append(parse_example(record, where=where))
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not readable as CSV ({exc})") from None
    if not examples:
        raise DataError(f"{path}: no examples (the file has a header but no rows)")
    return examples


def load_eval_file(
    path: str | Path,
    *,
    data_format: DataFormat = DataFormat.AUTO,
    text_col: str = "text",
    label_map: Sequence[str] = (),
    encoding: Encoding = Encoding.UTF8,
) -> EvalData:
    """Load a JSONL or CSV evaluation file (see the module docstring).

    Raises:
        DataError: the file is missing, empty or malformed, or names an unknown label.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    if data_format == DataFormat.AUTO:
        data_format = format_from_name(path)
        if data_format == DataFormat.AUTO:
            raise DataError(
                f"{path}: cannot tell the format from the name; pass --format jsonl or --format csv"
            )
    if data_format == DataFormat.JSONL:
        if label_map:
            raise DataError(
                f"{path}: --label-map applies to CSV files; JSONL lines carry 'labels' themselves"
            )
        examples = read_examples(path)
    else:
        examples = read_csv_examples(
            path,
            label_map=parse_label_map(label_map),
            text_col=text_col,
            encoding=encoding,
            delimiter="\t" if data_format == DataFormat.TSV else ",",
        )
    return EvalData(examples=examples, path=path, sha256=file_sha256(path), format=data_format)


def prepared_data_dir_of(metadata: ArtifactMetadata, override: str | Path | None = None) -> Path:
    """The prepared-data folder the artifact was trained on (``override`` wins)."""
    if override is not None:
        return Path(override)
    if metadata.data is not None and metadata.data.dir:
        return Path(metadata.data.dir)
    data_cfg = metadata.config.get("data") or {}
    if data_cfg.get("output_dir"):
        return Path(data_cfg["output_dir"])
    return Path("data/processed") / str(metadata.config.get("name", metadata.name))


def load_split_data(
    metadata: ArtifactMetadata, split: EvalSplit | str, data_dir: str | Path | None = None
) -> EvalData:
    """A split of the prepared dataset named by the artifact's training config (or ``data_dir``).

    Raises:
        DataError: the folder or split file is missing or invalid.
    """
    directory = prepared_data_dir_of(metadata, data_dir)
    if not directory.is_dir():
        raise DataError(
            f"prepared data folder {directory} not found (named by the model's training config); run "
            "`tegur data prepare --config <config>` or pass --data-dir"
        )
    split = EvalSplit(split)
    examples = read_split(directory, split.value)
    path = directory / f"{split.value}.jsonl"
    return EvalData(
        examples=examples, path=path, sha256=file_sha256(path), format=DataFormat.JSONL, split=split.value
    )


# --- Scoring --------------------------------------------------------------------------------------------


def score_texts(
    predictor: Any, texts: Sequence[str], *, batch_size: int = 64, progress: bool = True
) -> tuple[np.ndarray, float]:
    """Scores of ``texts`` with a progress bar on stderr; returns the scores and the seconds spent."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    texts = list(texts)
    chunk = max(1024, 16 * batch_size)  # the predictor sorts by length inside a call: big calls pad little
    parts: list[np.ndarray] = []
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    started = time.perf_counter()
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=not progress) as bar:
        task = bar.add_task("scoring", total=len(texts))
        for start in range(0, len(texts), chunk):
            part = texts[start : start + chunk]
            parts.append(np.asarray(predictor.predict_proba(part, batch_size=batch_size), dtype=np.float64))
            bar.advance(task, len(part))
    seconds = time.perf_counter() - started
    width = len(predictor.labels)
    return (np.concatenate(parts) if parts else np.zeros((0, width))), seconds


def slice_selectors(examples: Sequence[Example]) -> dict[str, dict[str, np.ndarray]]:
    """Row selectors per slice kind: ``source`` (when any row names one), ``surface``, ``obfuscation``."""
    from data.normalize import normalize

    selectors: dict[str, dict[str, np.ndarray]] = {}
    sources = np.array([ex.source or "(none)" for ex in examples], dtype=object)
    if any(ex.source for ex in examples):
        selectors["source"] = {name: sources == name for name in sorted(set(sources))}
    surfaces = np.array([ex.surface.value for ex in examples], dtype=object)
    selectors["surface"] = {s.value: surfaces == s.value for s in Surface if (surfaces == s.value).any()}
    obfuscated = np.array([normalize(ex.text).features.obfuscated for ex in examples], dtype=bool)
    selectors["obfuscation"] = {"obfuscated": obfuscated, "plain": ~obfuscated}
    # An empty slice has nothing to report (a file without obfuscated messages, say).
    return {
        kind: {name: rows for name, rows in groups.items() if rows.any()}
        for kind, groups in selectors.items()
    }


def reference_comparison(
    examples: Sequence[Example],
    y_true: np.ndarray,
    mask: np.ndarray,
    pred: np.ndarray,
    *,
    baseline_pred: np.ndarray | None = None,
    label_names: Sequence[str] = LABEL_NAMES,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Bullying F1 on the ibrohim2019 messages, beside the published figures (:data:`REFERENCE_CAVEAT`)."""
    from training.eval_metrics import bootstrap_prf
    from training.metrics import multilabel_report

    j = list(label_names).index(Label.BULLYING.value)
    rows = (
        np.array([ex.source == IBROHIM_SOURCE for ex in examples], dtype=bool) & np.asarray(mask, bool)[:, j]
    )
    out: dict[str, Any] = {
        "source": IBROHIM_SOURCE,
        "label": Label.BULLYING.value,
        "n": int(rows.sum()),
        "positives": int(np.asarray(y_true, bool)[rows, j].sum()),
        "published": [dict(ref) for ref in PUBLISHED_REFERENCES],
        "caveat": REFERENCE_CAVEAT,
    }
    if not out["n"]:
        out["note"] = f"This data has no {IBROHIM_SOURCE} messages annotated for bullying: no comparison."
        return out
    truth = np.asarray(y_true, bool)[rows][:, [j]]

    def f1_of(flags: np.ndarray) -> tuple[float | None, list[float] | None]:
        report = multilabel_report(truth, flags[rows][:, [j]].astype(float), [0.5], label_names=("bullying",))
        boot = bootstrap_prf(
            truth, flags[rows][:, [j]], n_resamples=n_resamples, seed=seed, label_names=("bullying",)
        )
        has_pos = bool(truth.any())
        return (report["labels"]["bullying"]["f1"] if has_pos else None), boot["labels"]["bullying"]["f1"]

    out["model_f1"], out["model_f1_ci"] = f1_of(np.asarray(pred, bool))
    if baseline_pred is not None:
        out["baseline_f1"], out["baseline_f1_ci"] = f1_of(np.asarray(baseline_pred, bool))
    return out


def compute_evaluation(
    examples: Sequence[Example],
    probs: np.ndarray,
    thresholds: Sequence[float],
    *,
    label_names: Sequence[str] = LABEL_NAMES,
    baseline_probs: np.ndarray | None = None,
    baseline_thresholds: Sequence[float] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    min_slice_positives: int = 5,
) -> dict[str, Any]:
    """All metrics of one scored dataset: ``{"metrics", "slices", "reference", "baseline_metrics"?,
    "reliability", "cooccurrence"}`` (see :mod:`training.eval_metrics` for each part)."""
    from training.eval_metrics import (
        ECE_BINS,
        cooccurrence_matrix,
        label_metrics,
        reliability_bins,
        slice_metrics,
    )
    from training.inputs import label_arrays
    from training.metrics import binarize

    y_true, mask = label_arrays(examples)
    y_true, mask = y_true.astype(bool), mask.astype(bool)
    metrics = label_metrics(
        y_true, probs, thresholds, mask=mask, label_names=label_names, n_resamples=n_resamples, seed=seed
    )
    selectors = slice_selectors(examples)
    slices = {
        kind: slice_metrics(
            y_true,
            probs,
            thresholds,
            groups,
            mask=mask,
            label_names=label_names,
            min_positives=min_slice_positives,
        )
        for kind, groups in selectors.items()
    }
    pred = binarize(probs, thresholds)
    result: dict[str, Any] = {"metrics": metrics, "slices": slices}
    baseline_pred = None
    if baseline_probs is not None and baseline_thresholds is not None:
        result["baseline_metrics"] = label_metrics(
            y_true,
            baseline_probs,
            baseline_thresholds,
            mask=mask,
            label_names=label_names,
            n_resamples=n_resamples,
            seed=seed,
        )
        baseline_pred = binarize(baseline_probs, baseline_thresholds)
    result["reference"] = reference_comparison(
        examples,
        y_true,
        mask,
        pred,
        baseline_pred=baseline_pred,
        label_names=label_names,
        n_resamples=n_resamples,
        seed=seed,
    )
    reliability = {
        name: reliability_bins(y_true[mask[:, j], j], probs[mask[:, j], j], ECE_BINS)
        for j, name in enumerate(label_names)
    }
    reliability["pooled"] = reliability_bins(y_true[mask], probs[mask], ECE_BINS)
    result["reliability"] = reliability
    counts, messages = cooccurrence_matrix(y_true, pred, mask)
    result["cooccurrence"] = {
        "rows": [*label_names, "none"],
        "columns": [*label_names, "none"],
        "counts": counts.tolist(),
        "messages_per_row": messages.tolist(),
    }
    return result


# --- Baseline -------------------------------------------------------------------------------------------


def train_side_baseline(
    model_dir: Path, metadata: ArtifactMetadata, data_dir: str | Path | None
) -> tuple[BaselineModel | None, dict[str, Any]]:
    """Retrain the TF-IDF baseline on the artifact's prepared train split; ``None`` (and why) if it cannot."""
    from pydantic import ValidationError

    from inference.artifact import load_normalizer
    from training.baseline import train_baseline
    from training.config import TrainingConfig

    directory = prepared_data_dir_of(metadata, data_dir)
    missing = [s for s in ("train", "validation") if not (directory / f"{s}.jsonl").is_file()]
    if missing:
        reason = (
            f"the prepared data it trains on ({directory}/{{{','.join(missing)}}}.jsonl) is not here; run "
            "`tegur data prepare` or pass --data-dir"
        )
        logger.warning("skipping the TF-IDF baseline: %s", reason)
        return None, {"skipped": reason}
    try:
        training = TrainingConfig.model_validate(metadata.config.get("training") or {})
    except ValidationError:
        training = TrainingConfig()
    started = time.perf_counter()
    baseline = train_baseline(
        read_split(directory, "train"),
        read_split(directory, "validation"),
        normalizer=load_normalizer(model_dir),
        training=training,
    )
    info = {
        "model": "tfidf-word1-2+char_wb2-5-logreg-balanced",
        "trained_on": str(directory),
        "train_seconds": round(time.perf_counter() - started, 2),
        "thresholds": dict(zip(LABEL_NAMES, baseline.thresholds, strict=True)),
    }
    return baseline, info


# --- Orchestration --------------------------------------------------------------------------------------


def _calibration_summary(calibration: Calibration | None) -> dict[str, Any] | None:
    if calibration is None:
        return None
    return {
        "method": calibration.method.value,
        "fitted_on": calibration.fitted_on.get("description", "the validation split"),
        "created_at": calibration.created_at,
        "ece_before": calibration.ece_before,
        "ece_after": calibration.ece_after,
    }


def run_evaluation(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    data: EvalData | None = None,
    split: EvalSplit | None = None,
    data_dir: str | Path | None = None,
    baseline: bool = True,
    n_resamples: int = 1000,
    seed: int = 0,
    batch_size: int = 64,
    precision: Precision = Precision.FP32,
    worst_k: int = 20,
    min_slice_positives: int = 5,
    progress: bool = True,
    suite_dir: Path | None = DEFAULT_SUITE_DIR,
    minors_path: Path | None = DEFAULT_MINORS_TEST,
    loso_path: Path | None = None,
) -> dict[str, Any]:
    """Evaluate an artifact on ``data`` (or a prepared ``split``) and write every output into ``out_dir``.

    Args:
        model_dir: The artifact folder.
        out_dir: Output folder (created; existing files of the same names are replaced).
        data: Loaded evaluation data (:func:`load_eval_file`); exclusive with ``split``.
        split: A split of the artifact's prepared dataset.
        data_dir: Prepared-data folder, instead of the one the training config names (split and baseline).
        baseline: Retrain the TF-IDF baseline and report it beside the model.
        n_resamples: Bootstrap resamples of the confidence intervals.
        seed: Seed of the bootstrap.
        batch_size: Texts per forward pass.
        precision: Predictor precision.
        worst_k: False positives and false negatives per label in ``worst_errors.csv``.
        min_slice_positives: Fewer positives than this in a slice: no metrics for that label there.
        progress: Show a progress bar while scoring.
        suite_dir: The functional suite folder (its section is skipped when the folder has no suite).
        minors_path: Held-out minors lines (skipped when the file is absent).
        loso_path: A ``tegur loso`` output folder or loso.json to include (optional).

    Returns:
        The metrics.json contents.

    Raises:
        ArtifactError: ``model_dir`` is not a Tegur artifact.
        DataError: the data is missing, empty or malformed.
    """
    import torch

    import tegur
    from inference.artifact import load_metadata
    from inference.calibration import load_calibration
    from inference.predictor import Predictor
    from tegur.io import write_json_atomic, write_text_atomic
    from training import report

    if (data is None) == (split is None):
        raise DataError("give either evaluation data or a prepared split, not both or neither")
    for name, value in (("bootstrap", n_resamples), ("batch size", batch_size), ("worst-k", worst_k)):
        if value < 1:
            raise DataError(f"{name} must be at least 1, got {value}")
    model_dir = Path(model_dir)
    out_dir = Path(out_dir)
    metadata = load_metadata(model_dir)  # fails fast, before any data is read, on a non-artifact
    if data is None:
        assert split is not None  # checked above
        data = load_split_data(metadata, split, data_dir)
    predictor = Predictor.from_artifact(model_dir, precision=precision)
    calibration = load_calibration(model_dir)
    label_names = list(predictor.labels)
    if label_names != list(LABEL_NAMES):
        raise ArtifactError(
            f"{model_dir}: the model's labels {label_names} are not Tegur's {list(LABEL_NAMES)}"
        )
    thresholds = [float(predictor.thresholds[name]) for name in label_names]
    texts = [ex.text for ex in data.examples]
    logger.info("scoring %d messages of %s with %s", len(texts), data.path, model_dir)
    probs, seconds = score_texts(predictor, texts, batch_size=batch_size, progress=progress)

    baseline_model, baseline_info = (None, {"skipped": "disabled with --no-baseline"})
    if baseline:
        baseline_model, baseline_info = train_side_baseline(model_dir, metadata, data_dir)
    baseline_probs = baseline_model.predict_proba(texts) if baseline_model is not None else None
    computed = compute_evaluation(
        data.examples,
        probs,
        thresholds,
        label_names=label_names,
        baseline_probs=baseline_probs,
        baseline_thresholds=baseline_model.thresholds if baseline_model is not None else None,
        n_resamples=n_resamples,
        seed=seed,
        min_slice_positives=min_slice_positives,
    )
    if "baseline_metrics" in computed:
        baseline_info["metrics"] = computed.pop("baseline_metrics")
    robustness = robustness_sections(
        data.examples,
        probs,
        thresholds,
        predictor=predictor,
        train=_train_split_or_none(metadata, data_dir),
        suite_dir=suite_dir,
        minors_path=minors_path,
        loso_path=loso_path,
    )
    result: dict[str, Any] = {
        "format_version": 1,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tegur_version": tegur.__version__,
        "model": {
            "dir": str(model_dir),
            "name": predictor.model_name,
            "version": predictor.model_version,
            "normalizer_version": predictor.normalizer_version,
            "precision": Precision(precision).value,
            "thresholds": dict(zip(label_names, thresholds, strict=True)),
            "calibration": _calibration_summary(calibration),
        },
        "data": {
            "description": data.description,
            "path": str(data.path),
            "sha256": data.sha256,
            "format": data.format.value,
            "split": data.split,
            "n": len(data.examples),
            "annotated_rows": {name: row["rows"] for name, row in computed["metrics"]["labels"].items()},
        },
        "metrics": computed["metrics"],
        "slices": computed["slices"],
        "baseline": baseline_info,
        "reference": computed["reference"],
        "robustness": robustness,
        "throughput": {
            "messages": len(texts),
            "seconds": round(seconds, 4),
            "messages_per_second": round(len(texts) / seconds, 2) if seconds > 0 else None,
            "batch_size": batch_size,
            "precision": Precision(precision).value,
            "threads": torch.get_num_threads(),
            "device": "cpu",
        },
        "reliability": computed["reliability"],
        "cooccurrence": computed["cooccurrence"],
        "settings": {
            "bootstrap": n_resamples,
            "seed": seed,
            "confidence": computed["metrics"]["bootstrap"]["confidence"],
            "ece_bins": len(computed["reliability"]["pooled"]["count"]),
            "min_slice_positives": min_slice_positives,
            "worst_k": worst_k,
        },
    }
    y_true, mask = _label_arrays(data.examples)
    out_dir.mkdir(parents=True, exist_ok=True)
    report.plot_pr_curves(
        out_dir / report.PR_CURVES_FILE,
        y_true,
        probs,
        mask,
        thresholds,
        label_names,
        baseline_probs=baseline_probs,
        baseline_thresholds=baseline_model.thresholds if baseline_model is not None else None,
    )
    ece = {name: row["ece"] for name, row in result["metrics"]["labels"].items()}
    ece["pooled"] = result["metrics"]["ece_pooled"]
    report.plot_reliability(out_dir / report.RELIABILITY_FILE, result["reliability"], ece)
    report.plot_cooccurrence(
        out_dir / report.COOCCURRENCE_FILE,
        np.asarray(result["cooccurrence"]["counts"]),
        np.asarray(result["cooccurrence"]["messages_per_row"]),
        label_names,
    )
    report.write_worst_errors_csv(
        out_dir / report.WORST_ERRORS_FILE,
        report.worst_errors(data.examples, y_true, probs, thresholds, mask, label_names, k=worst_k),
    )
    write_text_atomic(out_dir / report.REPORT_FILE, report.render_report(result))
    write_json_atomic(out_dir / report.METRICS_FILE, result)  # last: its presence means the run finished
    return result


def _train_split_or_none(metadata: ArtifactMetadata, data_dir: str | Path | None) -> list[Example] | None:
    """The train split the model learned from, for the near-copy view (None when it is not on disk)."""
    directory = prepared_data_dir_of(metadata, data_dir)
    if not (directory / "train.jsonl").is_file():
        logger.warning("no train split at %s: the report has no near-copy-free view", directory)
        return None
    return read_split(directory, "train")


def _label_arrays(examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    from training.inputs import label_arrays

    y, mask = label_arrays(examples)
    return y.astype(bool), mask.astype(bool)


# --- Calibration ----------------------------------------------------------------------------------------


def validated_calibration(
    probs: np.ndarray,
    y_true: np.ndarray,
    mask: np.ndarray,
    *,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
    model_version: str,
    method: CalibrationMethod = CalibrationMethod.PLATT,
    folds: int = 5,
    seed: int = 0,
    threshold_grid: np.ndarray | None = None,
    default_threshold: float = 0.5,
    fitted_on: Mapping[str, Any] | None = None,
) -> tuple[Calibration | None, dict[str, Any]]:
    """Fit a calibration on validation scores and keep it only for labels whose error it lowers.

    Whether a label improves is judged out of fold (fit on ``folds - 1`` parts of the rows, measure the
    ECE on the held-out part), so that an isotonic map cannot win by memorising the rows it is scored
    on. Labels that do not improve keep the identity map. Temperature-scaled thresholds are mapped
    exactly (temperature, platt); isotonic ones are re-tuned on the calibrated validation scores.

    Returns:
        The calibration (``None`` when no label improves) and a report ``{"ece_before", "ece_after",
        "improved", "method", "folds"}`` (per label and ``pooled``; ``ece_after`` is out of fold).
    """
    from inference.calibration import Calibration as CalibrationModel
    from inference.calibration import IsotonicMap, fit_calibration, map_thresholds_through_temperature
    from training.eval_metrics import expected_calibration_error
    from training.metrics import tune_thresholds

    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true).astype(bool)
    mask = np.asarray(mask).astype(bool)
    labels = list(labels)
    n = probs.shape[0]
    folds = max(2, min(folds, n)) if n >= 2 else 1
    assignment = np.random.default_rng(seed).permutation(n) % folds
    held_out = probs.copy()
    if folds >= 2:
        for k in range(folds):
            test, train = assignment == k, assignment != k
            partial = fit_calibration(
                probs[train],
                y_true[train],
                labels=labels,
                thresholds=thresholds,
                model_version=model_version,
                method=method,
                mask=mask[train],
            )
            held_out[test] = partial.apply(probs[test])
    before = {
        name: expected_calibration_error(y_true[mask[:, j], j], probs[mask[:, j], j])
        for j, name in enumerate(labels)
    }
    after_oof = {
        name: expected_calibration_error(y_true[mask[:, j], j], held_out[mask[:, j], j])
        for j, name in enumerate(labels)
    }
    improved = [
        name
        for name in labels
        if before[name] is not None and after_oof[name] is not None and after_oof[name] < before[name]
    ]
    combined = probs.copy()
    for j, name in enumerate(labels):
        if name in improved:
            combined[:, j] = held_out[:, j]
    after = {name: (after_oof[name] if name in improved else before[name]) for name in labels}
    before["pooled"] = expected_calibration_error(y_true[mask], probs[mask])
    after["pooled"] = expected_calibration_error(y_true[mask], combined[mask])
    summary = {
        "method": method.value,
        "folds": folds,
        "ece_before": before,
        "ece_after": after,
        "ece_after_all_labels": after_oof,
        "improved": improved,
    }
    if not improved:
        return None, summary
    full = fit_calibration(
        probs,
        y_true,
        labels=labels,
        thresholds=thresholds,
        model_version=model_version,
        method=method,
        mask=mask,
        fitted_on=fitted_on,
    )
    raw_thresholds = {name: float(thresholds[name]) for name in labels}
    if method != CalibrationMethod.ISOTONIC:
        assert full.temperatures is not None
        temperatures = {name: (full.temperatures[name] if name in improved else 1.0) for name in labels}
        params: dict[str, Any] = {"temperatures": temperatures}
        if method == CalibrationMethod.PLATT:
            assert full.biases is not None
            params["biases"] = {name: (full.biases[name] if name in improved else 0.0) for name in labels}
        calibrated = map_thresholds_through_temperature(raw_thresholds, temperatures, params.get("biases"))
    else:
        assert full.isotonic is not None
        identity = IsotonicMap(x=[0.0, 1.0], y=[0.0, 1.0])
        maps = {name: (full.isotonic[name] if name in improved else identity) for name in labels}
        params = {"isotonic": maps}
        scaled = np.column_stack([maps[name](probs[:, j]) for j, name in enumerate(labels)])
        tuned = tune_thresholds(y_true, scaled, mask=mask, grid=threshold_grid, default=default_threshold)
        calibrated = {
            name: (tuned[j] if name in improved else raw_thresholds[name]) for j, name in enumerate(labels)
        }
    calibration = CalibrationModel(
        method=method,
        labels=labels,
        thresholds=calibrated,
        uncalibrated_thresholds=raw_thresholds,
        model_version=model_version,
        fitted_on=dict(fitted_on or {}),
        ece_before=before,
        ece_after=after,
        **params,
    )
    return calibration, summary


def calibrate_artifact(
    model_dir: str | Path,
    *,
    method: CalibrationMethod = CalibrationMethod.PLATT,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    precision: Precision = Precision.FP32,
    folds: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit a calibration on the artifact's validation split; write ``calibration.json`` if it helps.

    The model's raw scores are used (any existing calibration is ignored while fitting). The file is
    written atomically and only when at least one label's out-of-fold calibration error drops.

    Returns:
        The fit report plus ``"written"`` (bool), ``"path"`` and ``"thresholds"`` (calibrated, when written).

    Raises:
        ArtifactError: ``model_dir`` is not a Tegur artifact.
        DataError: the validation split is missing.
    """
    from pydantic import ValidationError

    from inference.artifact import load_artifact
    from inference.calibration import CALIBRATION_FILE, save_calibration
    from inference.predictor import Predictor
    from training.config import TrainingConfig
    from training.metrics import threshold_grid

    model_dir = Path(model_dir)
    artifact = load_artifact(model_dir)
    metadata = artifact.metadata
    data = load_split_data(metadata, EvalSplit.VALIDATION, data_dir)
    # Built from the parts rather than with from_artifact: the fit needs the uncalibrated scores.
    predictor = Predictor(
        artifact.model, artifact.tokenizer, artifact.normalizer, metadata, precision=precision
    )
    probs, _ = score_texts(
        predictor, [ex.text for ex in data.examples], batch_size=batch_size, progress=progress
    )
    y_true, mask = _label_arrays(data.examples)
    try:
        training = TrainingConfig.model_validate(metadata.config.get("training") or {})
    except ValidationError:  # an older config layout: the default grid is what training used then
        training = TrainingConfig()
    calibration, summary = validated_calibration(
        probs,
        y_true,
        mask,
        labels=metadata.labels,
        thresholds=metadata.thresholds,
        model_version=metadata.model_version,
        method=method,
        folds=folds,
        seed=seed,
        threshold_grid=threshold_grid(
            training.threshold_min, training.threshold_max, training.threshold_step
        ),
        default_threshold=training.default_threshold,
        fitted_on={
            "description": data.description,
            "path": str(data.path),
            "sha256": data.sha256,
            "rows": {name: int(mask[:, j].sum()) for j, name in enumerate(metadata.labels)},
        },
    )
    path = model_dir / CALIBRATION_FILE
    summary.update({"written": calibration is not None, "path": str(path)})
    if calibration is None:
        if path.is_file():
            logger.warning("calibration did not help; the existing %s is left as it is", path)
        return summary
    save_calibration(model_dir, calibration)
    summary["thresholds"] = calibration.thresholds
    return summary


# --- CLI ------------------------------------------------------------------------------------------------


def _print_summary(result: Mapping[str, Any], out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    metrics = result["metrics"]
    baseline = result["baseline"].get("metrics")
    table = Table(
        title=f"{result['model']['name']} on {result['data']['description']} ({result['data']['n']} messages)"
    )
    columns = ["label", "annotated", "positives", "precision", "recall", "F1", "PR-AUC", "ECE"]
    if baseline:
        columns.append("baseline F1")
    for column in columns:
        table.add_column(column, justify="left" if column == "label" else "right")
    for name, row in metrics["labels"].items():
        cells = [name, str(row["rows"]), str(row["positives"]), fmt(row["precision"]), fmt(row["recall"]),
                 fmt(row["f1"]), fmt(row["pr_auc"]), fmt(row["ece"])]  # fmt: skip
        if baseline:
            cells.append(fmt(baseline["labels"][name]["f1"]))
        table.add_row(*cells)
    macro_row = metrics["macro"]
    macro = ["[bold]macro[/bold]", "", ""]
    macro += [fmt(macro_row[k]) for k in ("precision", "recall", "f1", "pr_auc")] + [
        fmt(metrics["ece_pooled"])
    ]
    if baseline:
        macro.append(fmt(baseline["macro"]["f1"]))
    table.add_row(*macro)
    console = Console(stderr=True)
    console.print(table)
    throughput = result["throughput"]
    if throughput["messages_per_second"] is not None:
        console.print(f"throughput: {throughput['messages_per_second']:.1f} messages/s")
    console.print(f"wrote [bold]{out_dir}[/bold]: metrics.json, report.md, plots, worst_errors.csv")


def _print_calibration(summary: Mapping[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.4f}"

    table = Table(
        title=f"{summary['method']} calibration on validation (ECE after: {summary['folds']}-fold held out)"
    )
    for column in ("label", "ECE before", "ECE after", "kept"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for name, before in summary["ece_before"].items():
        kept = "" if name == "pooled" else ("yes" if name in summary["improved"] else "no")
        table.add_row(name, fmt(before), fmt(summary["ece_after"][name]), kept)
    console = Console(stderr=True)
    console.print(table)
    if summary["written"]:
        console.print(
            f"wrote [bold]{summary['path']}[/bold]; thresholds mapped to "
            + ", ".join(f"{k} {v:.3f}" for k, v in summary["thresholds"].items())
        )
    else:
        console.print("calibration did not lower the error of any label: nothing written")


def evaluate_command(
    model: Path = typer.Option(..., "--model", help="Trained artifact folder (written by `tegur train`)."),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Evaluation file: JSONL ({text, labels, annotated?} per line) or CSV with --label-map.",
    ),
    split: EvalSplit | None = typer.Option(
        None, "--split", help="Evaluate a split of the prepared dataset the model was trained on instead."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output folder; default reports/<model folder>/<data file stem or split>."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Prepared-data folder (for --split and the baseline); default: the model's."
    ),
    data_format: DataFormat = typer.Option(
        DataFormat.AUTO, "--format", help="File layout; auto: from the name."
    ),
    text_col: str = typer.Option("text", "--text-col", help="CSV: the column holding the message."),
    label_map: list[str] | None = typer.Option(
        None,
        "--label-map",
        metavar="COLUMN=LABEL",
        help="CSV: COLUMN=LABEL, a 0/1 column for a label (repeatable); unmapped labels are not annotated.",
    ),
    encoding: Encoding = typer.Option(Encoding.UTF8, "--encoding", help="CSV text encoding."),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", min=1, help="Bootstrap resamples of the 95% intervals."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Texts per forward pass."),
    precision: Precision = typer.Option(Precision.FP32, "--precision", help=PRECISION_HELP),
    baseline: bool = typer.Option(
        True,
        "--baseline/--no-baseline",
        help="Retrain the TF-IDF baseline on the train split and report it beside.",
    ),
    worst_k: int = typer.Option(
        20, "--worst-k", min=1, help="Worst false positives / negatives per label in the CSV."
    ),
    min_slice_positives: int = typer.Option(
        5,
        "--min-slice-positives",
        min=1,
        help="A slice needs this many positives of a label for its metrics.",
    ),
    fit_calibration: bool = typer.Option(
        False, "--fit-calibration", help="First run `tegur calibrate` (validation split), then evaluate."
    ),
    calibration_method: CalibrationMethod = typer.Option(
        CalibrationMethod.PLATT,
        "--calibration-method",
        help="With --fit-calibration: temperature, platt or isotonic.",
    ),
    suite: Path = typer.Option(
        DEFAULT_SUITE_DIR, "--suite", help="Functional test suite folder (skipped if it holds no suite)."
    ),
    minors: Path = typer.Option(
        DEFAULT_MINORS_TEST, "--minors", help="Held-out minors lines (skipped if the file is absent)."
    ),
    loso: Path | None = typer.Option(
        None, "--loso", help="A `tegur loso` output folder to include in the report."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Evaluate a trained model: metrics with 95% intervals, slices, baseline, functional suite, minors,
    near-copy-free and leave-one-source-out views, report, plots, worst errors."""
    if (data is None) == (split is None):
        raise typer.BadParameter(
            "give exactly one of --data FILE and --split test|validation", param_hint="--data"
        )
    if split is not None and (label_map or text_col != "text"):
        raise typer.BadParameter(
            "--text-col and --label-map apply to a CSV --data file", param_hint="--label-map"
        )
    from inference.artifact import load_metadata

    load_metadata(model)  # a non-artifact folder fails before the data is read
    loaded = None
    if data is not None:
        loaded = load_eval_file(
            data, data_format=data_format, text_col=text_col, label_map=label_map or (), encoding=encoding
        )
    if fit_calibration:
        summary = calibrate_artifact(
            model,
            method=calibration_method,
            data_dir=data_dir,
            batch_size=batch_size,
            precision=precision,
            seed=seed,
            progress=not quiet,
        )
        _print_calibration(summary)
    data_name = data.stem if data is not None else str(split)
    out_dir = out if out is not None else Path("reports") / model.resolve().name / data_name
    result = run_evaluation(
        model,
        out_dir,
        data=loaded,
        split=split,
        data_dir=data_dir,
        baseline=baseline,
        n_resamples=bootstrap,
        seed=seed,
        batch_size=batch_size,
        precision=precision,
        worst_k=worst_k,
        min_slice_positives=min_slice_positives,
        progress=not quiet,
        suite_dir=suite,
        minors_path=minors,
        loso_path=loso,
    )
    _print_summary(result, out_dir)


def calibrate_command(
    model: Path = typer.Option(..., "--model", help="Trained artifact folder (written by `tegur train`)."),
    method: CalibrationMethod = typer.Option(
        CalibrationMethod.PLATT,
        "--method",
        help="temperature (1 parameter per label), platt (temperature + bias) or isotonic.",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Prepared-data folder holding validation.jsonl; default: the model's."
    ),
    folds: int = typer.Option(
        5, "--folds", min=2, help="Folds of the held-out check that decides what is kept."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Texts per forward pass."),
    precision: TorchPrecision = typer.Option(
        TorchPrecision.FP32, "--precision", help="Model precision: calibration runs the PyTorch weights."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Calibrate scores on the validation split; store calibration.json in the artifact only if it helps."""
    summary = calibrate_artifact(
        model,
        method=method,
        data_dir=data_dir,
        batch_size=batch_size,
        precision=Precision(precision),
        folds=folds,
        progress=not quiet,
    )
    _print_calibration(summary)


def register(app: typer.Typer) -> None:
    """Add ``tegur evaluate`` and ``tegur calibrate`` to the ``tegur`` app."""
    app.command(name="evaluate")(evaluate_command)
    app.command(name="calibrate")(calibrate_command)
