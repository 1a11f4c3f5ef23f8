"""The Indonesian functional test suite (``data/functional/``): pass rates per functionality.

In the spirit of HateCheck and CheckList: hand-written cases grouped by the behaviour they test, each
with an expectation. ``no_flag`` cases must flag none of the four labels; ``flag`` cases must flag every
label they list; invariance lines hold the same sentence with a name, group or identity swapped, and must
get the same decisions for every variant. The suite is evaluation data only: ``tegur data prepare`` never
reads it, and its validator test checks that no case is a near-copy of a curated training line.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from data.taxonomy import LABEL_NAMES, Label, parse_labels
from tegur.errors import DataError

#: Where the suite lives in a checkout.
DEFAULT_SUITE_DIR = Path("data/functional")
SUITE_FILE = "suite.jsonl"
INVARIANCE_FILE = "invariance.jsonl"
#: Targets of issue #10: every "must not flag" functionality passes >= 90%, every "must flag" >= 85%.
NO_FLAG_TARGET = 0.90
FLAG_TARGET = 0.85
INVARIANCE_TARGET = 0.90


class Expect(StrEnum):
    """What a case expects of the model."""

    FLAG = "flag"
    NO_FLAG = "no_flag"
    SAME = "same"


@dataclass(frozen=True)
class Case:
    """One hand-written case (or, for invariance, one line of variants)."""

    id: str
    functionality: str
    expect: Expect
    texts: tuple[str, ...]
    labels: tuple[Label, ...] = ()
    minor_signal: bool | None = None
    surface: str = "comment"


@dataclass
class Suite:
    """All cases of a suite folder."""

    cases: list[Case] = field(default_factory=list)

    @property
    def functionalities(self) -> list[str]:
        return sorted({c.functionality for c in self.cases})


def _parse(row: object, where: str, invariance: bool) -> Case:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object")
    for key in ("id", "functionality", "expect"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise DataError(f"{where}: {key!r} must be a non-empty string")
    try:
        expect = Expect(row["expect"])
    except ValueError:
        raise DataError(
            f"{where}: unknown expect {row['expect']!r}; expected flag, no_flag or same"
        ) from None
    if invariance != (expect is Expect.SAME):
        raise DataError(f"{where}: expect {expect.value!r} does not belong in this file")
    if invariance:
        texts = row.get("texts")
        if not isinstance(texts, list) or len(texts) < 2 or not all(isinstance(t, str) and t for t in texts):
            raise DataError(f"{where}: 'texts' must list at least two non-empty strings")
    else:
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DataError(f"{where}: 'text' must be a non-empty string")
        texts = [row["text"]]
    labels = parse_labels(row.get("labels") or [], where=where)
    if expect is Expect.FLAG and not labels:
        raise DataError(f"{where}: a 'flag' case must list the labels it expects")
    minor = row.get("minor_signal")
    if minor is not None and not isinstance(minor, bool):
        raise DataError(f"{where}: 'minor_signal' must be true or false")
    return Case(
        id=row["id"],
        functionality=row["functionality"],
        expect=expect,
        texts=tuple(texts),
        labels=tuple(labels),
        minor_signal=minor,
        surface=str(row.get("surface", "comment")),
    )


def load_suite(directory: str | Path = DEFAULT_SUITE_DIR) -> Suite:
    """Read ``suite.jsonl`` and ``invariance.jsonl`` (if present) of ``directory``.

    Raises:
        DataError: the folder has no suite file, or a line is malformed (file:line named).
    """
    directory = Path(directory)
    path = directory / SUITE_FILE
    if not path.is_file():
        raise DataError(f"no functional suite at {path}")
    suite = Suite()
    seen: set[str] = set()
    for file, invariance in ((path, False), (directory / INVARIANCE_FILE, True)):
        if not file.is_file():
            continue
        with file.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{file}:{line_no}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
                case = _parse(row, where, invariance)
                if case.id in seen:
                    raise DataError(f"{where}: duplicate id {case.id!r}")
                seen.add(case.id)
                suite.cases.append(case)
    return suite


def _passes(case: Case, flags: np.ndarray, label_names: Sequence[str]) -> bool:
    """``flags``: (variants, labels) booleans of this case's texts."""
    if case.expect is Expect.NO_FLAG:
        return not flags[0].any()
    if case.expect is Expect.FLAG:
        return all(flags[0, list(label_names).index(label.value)] for label in case.labels)
    return bool((flags == flags[0]).all())


def run_suite(
    suite: Suite,
    probs: np.ndarray,
    thresholds: Sequence[float],
    *,
    label_names: Sequence[str] = LABEL_NAMES,
    minor_flags: np.ndarray | None = None,
) -> dict[str, Any]:
    """Pass rates of a scored suite.

    Args:
        suite: The loaded suite.
        probs: Scores of :func:`suite_texts` ``(suite)``, in that order.
        thresholds: Per-label thresholds.
        label_names: Column order of ``probs``.
        minor_flags: Optional minor-signal decisions for the same texts (reported where cases say).

    Returns:
        ``{"functionalities": {name: {expect, n, passed, pass_rate, target, meets_target, failures}},
        "summary": {...}, "minor_signal": {...}?}``
    """
    flags = np.asarray(probs) >= np.asarray(thresholds, dtype=np.float64)
    expected = sum(len(case.texts) for case in suite.cases)
    if len(flags) != expected:
        raise DataError(f"scored {len(flags)} texts for a suite of {expected}")
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"n": 0, "passed": 0, "failures": []})
    offset = 0
    minor_truth: list[bool] = []
    minor_pred: list[bool] = []
    for case in suite.cases:
        rows = slice(offset, offset + len(case.texts))
        offset += len(case.texts)
        entry = per[case.functionality]
        entry["expect"] = case.expect.value
        entry["n"] += 1
        if _passes(case, flags[rows], label_names):
            entry["passed"] += 1
        else:
            flagged = [label_names[j] for j in np.flatnonzero(flags[rows].any(axis=0))]
            entry["failures"].append({"id": case.id, "flagged": flagged})
        if minor_flags is not None and case.minor_signal is not None and case.expect is not Expect.SAME:
            minor_truth.append(case.minor_signal)
            minor_pred.append(bool(minor_flags[rows.start]))
    targets = {
        Expect.NO_FLAG.value: NO_FLAG_TARGET,
        Expect.FLAG.value: FLAG_TARGET,
        "same": INVARIANCE_TARGET,
    }
    out: dict[str, Any] = {"functionalities": {}}
    for name in sorted(per):
        entry = per[name]
        rate = entry["passed"] / entry["n"]
        target = targets[entry["expect"]]
        out["functionalities"][name] = {
            "expect": entry["expect"],
            "n": entry["n"],
            "passed": entry["passed"],
            "pass_rate": round(rate, 4),
            "target": target,
            "meets_target": rate >= target,
            "failures": entry["failures"],
        }
    rows_ = out["functionalities"].values()
    out["summary"] = {
        kind: {
            "functionalities": sum(1 for r in rows_ if r["expect"] == kind),
            "meeting_target": sum(1 for r in rows_ if r["expect"] == kind and r["meets_target"]),
            "cases": sum(r["n"] for r in rows_ if r["expect"] == kind),
            "pass_rate": round(
                sum(r["passed"] for r in rows_ if r["expect"] == kind)
                / max(1, sum(r["n"] for r in rows_ if r["expect"] == kind)),
                4,
            ),
        }
        for kind in (Expect.NO_FLAG.value, Expect.FLAG.value, Expect.SAME.value)
    }
    if minor_truth:
        truth, pred = np.array(minor_truth), np.array(minor_pred)
        tp = int((truth & pred).sum())
        out["minor_signal"] = {
            "n": len(truth),
            "positives": int(truth.sum()),
            "precision": round(tp / pred.sum(), 4) if pred.any() else None,
            "recall": round(tp / truth.sum(), 4) if truth.any() else None,
        }
    return out


def suite_texts(suite: Suite) -> list[str]:
    """Every text of the suite in case order (invariance variants in their order)."""
    return [text for case in suite.cases for text in case.texts]


def render_markdown(result: dict[str, Any]) -> str:
    """The pass-rate table of :func:`run_suite` as Markdown."""
    lines = [
        "| functionality | expect | cases | pass rate | target |",
        "|---|---|---:|---:|---:|",
    ]
    for name, row in result["functionalities"].items():
        mark = "" if row["meets_target"] else " ✗"
        lines.append(
            f"| {name} | {row['expect']} | {row['n']} | {row['pass_rate']:.2f}{mark} | {row['target']:.2f} |"
        )
    lines.append("")
    for kind, row in result["summary"].items():
        if row["functionalities"]:
            lines.append(
                f"- `{kind}`: {row['meeting_target']} of {row['functionalities']} functionalities meet the "
                f"target; {row['cases']} cases, pass rate {row['pass_rate']:.3f}"
            )
    if "minor_signal" in result:
        m = result["minor_signal"]
        lines.append(
            f"- minor signal on the suite's cases that state it: precision {m['precision']}, recall "
            f"{m['recall']} ({m['positives']} of {m['n']} cases positive)"
        )
    return "\n".join(lines) + "\n"


def score_suite(predictor: Any, suite: Suite) -> dict[str, Any]:
    """Score every text of ``suite`` with ``predictor`` and return :func:`run_suite`'s result."""
    from data.minors import minor_signal

    texts = suite_texts(suite)
    probs = np.asarray(predictor.predict_proba(texts), dtype=np.float64)
    thresholds = [float(predictor.thresholds[name]) for name in predictor.labels]
    minors = np.array([minor_signal(t).flag for t in texts], dtype=bool)
    return run_suite(suite, probs, thresholds, label_names=predictor.labels, minor_flags=minors)


def functional_command(model: Path, suite_dir: Path, out: Path | None) -> None:
    """CLI body of ``tegur functional``: score, print the table, write functional.json and .md."""
    import typer

    from inference.predictor import Predictor
    from tegur.io import write_json_atomic, write_text_atomic

    suite = load_suite(suite_dir)
    predictor = Predictor.from_artifact(model)
    result = score_suite(predictor, suite)
    out = out if out is not None else Path("reports") / model.resolve().name / "functional"
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "functional.json", result)
    table = render_markdown(result)
    write_text_atomic(out / "functional.md", table)
    typer.echo(table)
    typer.echo(f"wrote {out / 'functional.json'}", err=True)
