"""Leave-one-source-out evaluation (``tegur loso``): train without a public source, test on it.

The in-domain test split shares sources, styles and near-copies with train, so it mostly measures recall
of what was seen. Here each held-out group (a public source, or sources that overlap such as ibrohim2019
and ibrohim2018) is removed from train and validation; the model and the TF-IDF baseline are trained on
the rest, the same way, and scored on every row of the held-out group (all three splits), minus the rows
that still have a character-level near-copy in the remaining train rows. Labels the held-out source does
not annotate are masked, as everywhere else. A source without positives of a label yields its flag rate
(the share of its clean rows flagged), which is how a topic shortcut shows on clean political tweets.

Training runs per group make this expensive; a cheaper config (fewer steps, shorter inputs) is fine when
it ranks configurations the same way as the full one: ``tegur loso`` takes any config, so the ranking can
be checked by running two configurations at both sizes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data.dataset import SPLITS, Example
from data.loaders import CURATED_SOURCE
from data.near_duplicates import NearCopyIndex
from data.taxonomy import LABEL_NAMES
from tegur.config import TegurConfig
from tegur.errors import DataError
from tegur.io import write_jsonl
from training.inputs import label_arrays, load_splits, prepared_data_dir

logger = logging.getLogger(__name__)

LOSO_FILE = "loso.json"
LOSO_REPORT = "loso.md"
#: Sources that share rows: held out together, or the other copy would leak the held-out text.
OVERLAPPING = (("ibrohim2019", "ibrohim2018"), ("sms_spam_rahmi", "sms_spam_bopbi"))
#: Near-copy threshold (character 3-gram Jaccard on the raw text) between held-out rows and train rows.
NEAR_COPY_THRESHOLD = 0.5

TrainFn = Callable[[TegurConfig, Path, Path], Any]


def default_groups(examples: Sequence[Example]) -> list[tuple[str, ...]]:
    """Every public source in ``examples``, overlapping sources grouped (:data:`OVERLAPPING`)."""
    present = sorted({ex.source for ex in examples if ex.source and ex.source != CURATED_SOURCE})
    groups: list[tuple[str, ...]] = []
    used: set[str] = set()
    for group in OVERLAPPING:
        members = tuple(s for s in group if s in present)
        if members:
            groups.append(members)
            used.update(members)
    groups.extend((s,) for s in present if s not in used)
    return sorted(groups)


def parse_group(value: str) -> tuple[str, ...]:
    """``"ibrohim2019+ibrohim2018"`` -> ``("ibrohim2019", "ibrohim2018")``."""
    members = tuple(part.strip() for part in value.split("+") if part.strip())
    if not members:
        raise DataError(f"empty hold-out group {value!r}; write SOURCE or SOURCE+SOURCE")
    return members


def _stable_cap(examples: list[Example], cap: int | None, seed: int) -> list[Example]:
    """At most ``cap`` rows chosen by a stable hash of the id, the same share of each label set.

    F1 depends on how common positives are, so the sample keeps the prevalence of every label set.
    """
    if cap is None or len(examples) <= cap:
        return examples
    import zlib
    from collections import defaultdict

    groups: dict[tuple, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.labels].append(ex)
    kept: list[Example] = []
    for rows in groups.values():
        rows = sorted(rows, key=lambda ex: zlib.crc32(f"{seed}:{ex.id}".encode()))
        kept += rows[: round(len(rows) * cap / len(examples))]
    order = {ex.id: i for i, ex in enumerate(examples)}
    return sorted(kept, key=lambda ex: order[ex.id])


def build_fold(
    splits: dict[str, list[Example]],
    group: Sequence[str],
    *,
    max_eval_rows: int | None = None,
    max_validation_rows: int | None = None,
    seed: int = 0,
) -> tuple[dict[str, list[Example]], dict[str, Any]]:
    """The prepared splits of one fold: train/validation without ``group``, test = ``group``'s rows.

    Held-out rows with a near-copy among the fold's train rows are dropped (and counted).
    """
    held = set(group)
    unknown = held - {ex.source for rows in splits.values() for ex in rows}
    if unknown:
        raise DataError(f"hold-out source(s) {sorted(unknown)} not in the prepared data")
    train = [ex for ex in splits["train"] if ex.source not in held]
    validation = _stable_cap(
        [ex for ex in splits["validation"] if ex.source not in held], max_validation_rows, seed
    )
    held_rows = [ex for split in SPLITS for ex in splits[split] if ex.source in held]
    index = NearCopyIndex((ex.text for ex in train), threshold=NEAR_COPY_THRESHOLD, seed=seed)
    copies = index.near_copies([ex.text for ex in held_rows])
    fresh = [ex for ex, copy in zip(held_rows, copies, strict=True) if not copy]
    test = _stable_cap(fresh, max_eval_rows, seed)
    info = {
        "group": list(group),
        "train_rows": len(train),
        "validation_rows": len(validation),
        "held_out_rows": len(held_rows),
        "near_copies_removed": int(copies.sum()),
        "evaluated_rows": len(test),
    }
    return {"train": train, "validation": validation, "test": test}, info


def write_fold(directory: Path, fold: dict[str, list[Example]]) -> None:
    """Write a fold as a prepared-data folder that ``tegur train`` reads."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, examples in fold.items():
        write_jsonl(directory / f"{split}.jsonl", (ex.to_json() for ex in examples))


def held_out_metrics(examples: Sequence[Example], probs: np.ndarray, thresholds: Sequence[float]) -> dict:
    """Per label on the held-out rows: F1/P/R where the rows hold positives, else the clean flag rate."""
    from training.metrics import multilabel_report

    y, mask = label_arrays(examples)
    report = multilabel_report(y, probs, thresholds, mask=mask)
    flags = np.asarray(probs) >= np.asarray(thresholds)
    out: dict[str, Any] = {}
    for j, name in enumerate(LABEL_NAMES):
        rows = mask[:, j] > 0
        if not rows.any():
            continue
        positives = int(y[rows, j].sum())
        clean = rows & (y[:, j] == 0)
        entry = {
            "rows": int(rows.sum()),
            "positives": positives,
            "clean_flag_rate": round(float(flags[clean, j].mean()), 4) if clean.any() else None,
        }
        if positives:
            label = report["labels"][name]
            entry.update({k: label[k] for k in ("precision", "recall", "f1")})
        out[name] = entry
    return out


def _train_transformer(config: TegurConfig, fold_dir: Path, out_dir: Path) -> tuple[list[float], Any]:
    from inference.predictor import Predictor
    from training.train import train

    result = train(config, output_dir=out_dir, data_dir=fold_dir)
    predictor = Predictor.from_artifact(out_dir)
    return [float(result.metadata.thresholds[n]) for n in LABEL_NAMES], predictor


def run_loso(
    config: TegurConfig,
    out_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    groups: Sequence[Sequence[str]] | None = None,
    max_eval_rows: int | None = 4000,
    max_validation_rows: int | None = 2000,
    transformer: bool = True,
    keep_models: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate one fold per held-out group; write ``loso.json`` and ``loso.md`` into ``out_dir``.

    Args:
        config: The config whose model and training sections are trained per fold (a cheap one is fine).
        out_dir: Output folder (one sub-folder per fold).
        data_dir: Prepared data; default the config's.
        groups: Hold-out groups; default :func:`default_groups`.
        max_eval_rows: Cap on evaluated held-out rows per fold (a stable sample, prevalence kept).
        max_validation_rows: Cap on the fold's validation rows (threshold tuning).
        transformer: Train the transformer too (False: baseline only, for a quick look).
        keep_models: Keep each fold's artifact (they are ~470 MB each).
        progress: Called with a line per finished step.
    """
    import shutil

    from training.baseline import train_baseline
    from training.inputs import build_normalizer

    out_dir = Path(out_dir)
    data_dir = prepared_data_dir(config, data_dir)
    splits = load_splits(data_dir)
    all_rows = [ex for rows in splits.values() for ex in rows]
    groups = [tuple(g) for g in groups] if groups else default_groups(all_rows)
    folds: list[dict[str, Any]] = []
    for group in groups:
        started = time.perf_counter()
        name = "+".join(group)
        fold, info = build_fold(
            splits,
            group,
            max_eval_rows=max_eval_rows,
            max_validation_rows=max_validation_rows,
            seed=config.data.seed,
        )
        if not fold["test"]:
            raise DataError(f"hold-out group {name}: no rows left to evaluate")
        fold_dir = out_dir / name / "data"
        write_fold(fold_dir, fold)
        texts = [ex.text for ex in fold["test"]]
        baseline = train_baseline(
            fold["train"],
            fold["validation"],
            normalizer=build_normalizer(config.model),
            training=config.training,
        )
        info["baseline"] = held_out_metrics(fold["test"], baseline.predict_proba(texts), baseline.thresholds)
        if transformer:
            model_dir = out_dir / name / "model"
            fold_config = config.model_copy(update={"name": f"{config.name}-loso-{name}"})
            thresholds, predictor = _train_transformer(fold_config, fold_dir, model_dir)
            probs = predictor.predict_proba(texts, batch_size=config.training.eval_batch_size)
            info["model"] = held_out_metrics(fold["test"], probs, thresholds)
            if not keep_models:
                shutil.rmtree(model_dir, ignore_errors=True)
        info["seconds"] = round(time.perf_counter() - started, 1)
        folds.append(info)
        if progress:
            progress(f"{name}: {_fold_line(info)}")
        _write(out_dir, config, data_dir, folds)
    return _write(out_dir, config, data_dir, folds)


def _fold_line(info: dict[str, Any]) -> str:
    parts = []
    for who in ("model", "baseline"):
        if who in info:
            f1s = {k: v.get("f1") for k, v in info[who].items() if v.get("f1") is not None}
            parts.append(f"{who} " + ", ".join(f"{k} {v:.3f}" for k, v in f1s.items()))
    return "; ".join(parts) or "no positives"


def summarise(folds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean F1 per label over the folds whose held-out rows hold positives of it."""
    out: dict[str, Any] = {}
    for who in ("model", "baseline"):
        per_label = {}
        for name in LABEL_NAMES:
            values = [
                f[who][name]["f1"] for f in folds if who in f and f[who].get(name, {}).get("f1") is not None
            ]
            if values:
                per_label[name] = {"mean_f1": round(float(np.mean(values)), 4), "folds": len(values)}
        if per_label:
            out[who] = per_label
    return out


def _write(out_dir: Path, config: TegurConfig, data_dir: Path, folds: list[dict[str, Any]]) -> dict[str, Any]:
    from tegur.io import write_json_atomic, write_text_atomic

    result = {
        "format_version": 1,
        "config": config.name,
        "data_dir": str(data_dir),
        "training": {
            "max_steps": config.training.max_steps,
            "max_length": config.model.max_length,
            "source_weights": config.training.source_weights,
        },
        "near_copy_threshold": NEAR_COPY_THRESHOLD,
        "folds": folds,
        "summary": summarise(folds),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / LOSO_FILE, result)
    write_text_atomic(out_dir / LOSO_REPORT, render_markdown(result))
    return result


def _cell(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "–"
    if entry.get("f1") is not None:
        return f"{entry['f1']:.3f}"
    rate = entry.get("clean_flag_rate")
    return "–" if rate is None else f"flags {rate:.1%} clean"


def render_markdown(result: dict[str, Any]) -> str:
    """The leave-one-source-out table: per held-out group and label, model F1 beside baseline F1."""
    lines = [
        f"Leave-one-source-out with `{result['config']}` ({result['training']['max_steps']} steps, "
        f"max {result['training']['max_length']} tokens); held-out rows with a near-copy in train "
        f"(char 3-gram Jaccard >= {result['near_copy_threshold']}) removed. Cells: F1 where the source has "
        "positives of the label, else the share of its clean rows flagged.",
        "",
        "| held out | rows (near-copies removed) | label | model | TF-IDF baseline |",
        "|---|---:|---|---:|---:|",
    ]
    for fold in result["folds"]:
        labels = sorted(set(fold.get("model", {})) | set(fold.get("baseline", {})), key=LABEL_NAMES.index)
        for i, label in enumerate(labels):
            head = (
                f"{'+'.join(fold['group'])} | {fold['evaluated_rows']} ({fold['near_copies_removed']})"
                if i == 0
                else " | "
            )
            lines.append(
                f"| {head} | {label} | {_cell(fold.get('model', {}).get(label))} | "
                f"{_cell(fold.get('baseline', {}).get(label))} |"
            )
    lines.append("")
    for who, per_label in result["summary"].items():
        cells = ", ".join(f"{k} {v['mean_f1']:.3f} ({v['folds']} folds)" for k, v in per_label.items())
        lines.append(f"- mean F1, {who}: {cells}")
    return "\n".join(lines) + "\n"


def loso_command(
    config: Path,
    out: Path,
    data_dir: Path | None,
    hold_out: list[str] | None,
    max_eval_rows: int,
    baseline_only: bool,
    keep_models: bool,
) -> None:
    """CLI body of ``tegur loso`` (registered in :mod:`training.cli`)."""
    import typer

    from tegur.config import load_config

    cfg = load_config(config)
    groups = [parse_group(g) for g in hold_out] if hold_out else None
    result = run_loso(
        cfg,
        out,
        data_dir=data_dir,
        groups=groups,
        max_eval_rows=max_eval_rows,
        transformer=not baseline_only,
        keep_models=keep_models,
        progress=lambda line: typer.echo(line, err=True),
    )
    typer.echo(render_markdown(result))
    typer.echo(f"wrote {out / LOSO_FILE} and {out / LOSO_REPORT}", err=True)
