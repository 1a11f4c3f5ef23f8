"""Score a file of messages: the work behind ``tegur classify FILE`` (CSV, TSV or JSONL; ``-`` is stdin).

Rows are read, scored and written in chunks of ``chunk_size``, so memory stays flat whatever the size
of the file: no step holds more than one chunk (and no input line may exceed :data:`MAX_LINE_CHARS`).
Decisions are those of ``POST /v1/classify``: the artifact's thresholds, the serving score bands and the
minor signal (:func:`inference.classify.decide_batch`).

Every output row carries the input's ``id`` (or, without an id column, the line number), the line it
came from, the action, the flagged labels, the highest score and one score per label. A row whose text is
empty is written with its action ``allow`` and no scores (nothing was sent to the model), so output rows
match input rows one for one.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from data.minors import minor_signal
from data.taxonomy import LABELS
from inference.classify import Action, ActionBands, Decision, ScoreModel, decide_batch, model_thresholds
from tegur.errors import DataError
from tegur.io import FileFormat, TextEncoding, atomic_path, format_from_name

#: Longest input line read, in bytes (a longer one is an error, not a memory spike).
MAX_LINE_CHARS = 1_000_000
STDIN = "-"


_DELIMITERS = {FileFormat.CSV: ",", FileFormat.TSV: "\t"}
SCORE_COLUMNS = tuple(f"score_{label.value}" for label in LABELS)
BASE_COLUMNS = ("id", "line", "action", "labels", "max_score", *SCORE_COLUMNS, "minor_signal")


@dataclass(frozen=True)
class InputRow:
    """One message read from the input: its id, the line it ends on, and its text."""

    id: str
    line: int
    text: str


class RowAnnotator(Protocol):
    """Extra fields for every output row, computed per chunk (the seam for ``--explain``).

    ``columns`` names the fields, in order (they follow the standard columns in CSV output); the call
    returns one mapping per row, with those keys, for rows and their decisions (``None`` for a row with
    no text).
    """

    @property
    def columns(self) -> tuple[str, ...]: ...

    def __call__(
        self, rows: Sequence[InputRow], decisions: Sequence[Decision | None]
    ) -> Sequence[Mapping[str, Any]]: ...


@dataclass
class ClassifySummary:
    """What a run did."""

    rows: int = 0
    empty: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def describe(self) -> str:
        counts = ", ".join(f"{action.value} {self.actions.get(action.value, 0):,}" for action in Action)
        empty = f"; {self.empty:,} without text (not scored)" if self.empty else ""
        return f"classified {self.rows:,} rows in {self.seconds:.1f} s ({counts}{empty})"


def detect_format(name: str, fmt: FileFormat) -> FileFormat:
    """``fmt`` itself, or (``auto``) the format its file name says; AUTO when the name says nothing."""
    if fmt != FileFormat.AUTO or name == STDIN:
        return fmt
    return format_from_name(name)


class _CountingReader(io.RawIOBase):
    """Counts the bytes read through it (the progress bar's position)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n or 0
        return n or 0


def _bounded_lines(raw: io.BufferedReader, name: str, encoding: TextEncoding) -> Iterator[str]:
    # Lines are split as bytes and decoded one by one, so an error names its line exactly (b"\n" is a
    # newline in UTF-8 and Latin-1 alike, never part of another character).
    number = 0
    while True:
        line = raw.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise DataError(
                f"{name}:{number}: line longer than {MAX_LINE_CHARS:,} bytes; is this a text file with one "
                "message per line (CSV or JSONL)?"
            )
        if b"\x00" in line:
            raise DataError(
                f"{name}:{number}: contains a NUL byte; the file is binary or UTF-16 (re-save it as UTF-8)"
            )
        if number == 1 and line.startswith(codecs.BOM_UTF8) and encoding == TextEncoding.UTF8:
            line = line[len(codecs.BOM_UTF8) :]
        try:
            yield line.decode(encoding.value)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{name}:{number}: not valid {encoding.value} ({exc.reason} at byte {exc.start + 1} of the "
                "line); re-save the file as UTF-8, or pass --encoding latin-1 if it is Latin-1"
            ) from None


def _sniff(buffered: io.BufferedReader) -> FileFormat:
    head = buffered.peek(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return FileFormat.JSONL if head.startswith(b"{") else FileFormat.CSV


def _csv_rows(
    lines: Iterator[str], name: str, *, delimiter: str, text_col: str, id_col: str
) -> Iterator[InputRow]:
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise DataError(f"{name}: the file is empty (no header row)")
        header = [cell.strip() for cell in header]
        if text_col not in header:
            raise DataError(
                f"{name}:1: no column {text_col!r} (named by --text-col); the columns are {', '.join(header)}"
            )
        text_at = header.index(text_col)
        id_at = header.index(id_col) if id_col in header else None
        for row in reader:
            line = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{name}:{line}: expected {len(header)} columns, got {len(row)}; check quoting"
                )
            yield InputRow(id=row[id_at] if id_at is not None else str(line), line=line, text=row[text_at])
    except csv.Error as exc:
        raise DataError(f"{name}:{reader.line_num}: not readable as CSV ({exc})") from None


def _jsonl_rows(lines: Iterator[str], name: str, *, text_col: str, id_col: str) -> Iterator[InputRow]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{name}:{number}: expected a JSON object, got {type(obj).__name__}")
        if text_col not in obj:
            keys = ", ".join(map(str, obj)) or "none"
            raise DataError(
                f"{name}:{number}: no key {text_col!r} (named by --text-col); the keys are {keys}"
            )
        text = obj[text_col]
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise DataError(f"{name}:{number}: {text_col!r} must be a string, got {type(text).__name__}")
        raw_id = obj.get(id_col)
        yield InputRow(id=str(raw_id) if raw_id is not None else str(number), line=number, text=text)


def read_rows(
    raw: BinaryIO,
    name: str,
    *,
    fmt: FileFormat = FileFormat.AUTO,
    text_col: str = "text",
    id_col: str = "id",
    encoding: TextEncoding = TextEncoding.UTF8,
) -> tuple[Iterator[InputRow], FileFormat, _CountingReader]:
    """Rows of a binary stream, read lazily, with the format used and the byte counter behind them.

    Raises (while iterating):
        DataError: empty input, a missing column or key, broken encoding, NUL bytes, a malformed row;
            the message names ``name:line``.
    """
    counting = _CountingReader(raw)
    buffered = io.BufferedReader(counting, buffer_size=1 << 16)
    fmt = detect_format(name, fmt)
    if fmt == FileFormat.AUTO:
        fmt = _sniff(buffered)
    if fmt == FileFormat.JSONL and encoding != TextEncoding.UTF8:
        raise DataError(f"{name}: JSONL is always UTF-8; --encoding applies to CSV and TSV")
    lines = _bounded_lines(buffered, name, encoding)
    if fmt == FileFormat.JSONL:
        rows = _jsonl_rows(lines, name, text_col=text_col, id_col=id_col)
    else:
        rows = _csv_rows(lines, name, delimiter=_DELIMITERS[fmt], text_col=text_col, id_col=id_col)
    return rows, fmt, counting


def _chunks(rows: Iterable[InputRow], size: int) -> Iterator[list[InputRow]]:
    chunk: list[InputRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def decide_rows(
    model: ScoreModel, rows: Sequence[InputRow], bands: ActionBands, *, batch_size: int = 64
) -> list[Decision | None]:
    """The decision for each row (``None`` for a row without text: it is not sent to the model)."""
    thresholds = model_thresholds(model)
    scored = [i for i, row in enumerate(rows) if row.text.strip()]
    out: list[Decision | None] = [None] * len(rows)
    if scored:
        texts = [rows[i].text for i in scored]
        probabilities = model.predict_proba(texts, batch_size=batch_size)
        decisions = decide_batch(probabilities, thresholds, bands, [minor_signal(t) for t in texts])
        for i, decision in zip(scored, decisions, strict=True):
            out[i] = decision
    return out


class _Writer:
    """Writes output rows as CSV/TSV (a header, then one line per row) or JSONL (one object per line)."""

    def __init__(self, fh: IO[str], fmt: FileFormat, extra_columns: Sequence[str], keep_text: bool) -> None:
        self.fmt = fmt
        self.fh = fh
        self.extra = tuple(extra_columns)
        self.keep_text = keep_text
        if fmt != FileFormat.JSONL:
            self.csv = csv.writer(fh, delimiter=_DELIMITERS[fmt], lineterminator="\n")
            self.csv.writerow([*BASE_COLUMNS, *(("text",) if keep_text else ()), *self.extra])

    def write(self, row: InputRow, decision: Decision | None, extra: Mapping[str, Any]) -> None:
        if self.fmt == FileFormat.JSONL:
            record: dict[str, Any] = {"id": row.id, "line": row.line}
            if decision is None:
                record |= {"action": Action.ALLOW.value, "labels": [], "max_score": None, "scores": None}
                record["minor_signal"] = {"flag": False, "reasons": []}
            else:
                record |= {
                    "action": decision.action.value,
                    "labels": [label.value for label in decision.labels],
                    "max_score": round(decision.max_score, 6),
                    "scores": {label.value: round(score, 6) for label, score in decision.scores.items()},
                    "minor_signal": {"flag": decision.minor.flag, "reasons": list(decision.minor.reasons)},
                }
            if self.keep_text:
                record["text"] = row.text
            record |= {column: extra.get(column) for column in self.extra}
            self.fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        if decision is None:
            cells = [row.id, row.line, Action.ALLOW.value, "", "", *([""] * len(SCORE_COLUMNS)), "false"]
        else:
            cells = [
                row.id,
                row.line,
                decision.action.value,
                ";".join(label.value for label in decision.labels),
                f"{decision.max_score:.6f}",
                *(f"{decision.scores[label]:.6f}" for label in LABELS),
                "true" if decision.minor.flag else "false",
            ]
        if self.keep_text:
            cells.append(row.text)
        self.csv.writerow([*cells, *(_cell(extra.get(column)) for column in self.extra)])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def classify_stream(
    raw: BinaryIO,
    name: str,
    out: IO[str],
    model: ScoreModel,
    bands: ActionBands,
    *,
    fmt: FileFormat = FileFormat.AUTO,
    out_format: FileFormat = FileFormat.AUTO,
    text_col: str = "text",
    id_col: str = "id",
    encoding: TextEncoding = TextEncoding.UTF8,
    chunk_size: int = 512,
    batch_size: int = 64,
    keep_text: bool = False,
    annotator: RowAnnotator | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ClassifySummary:
    """Score every row of ``raw`` (named ``name`` in errors) and write one output row each to ``out``.

    ``out_format`` auto: the input's format. ``on_progress(bytes_read, rows_done)`` is called after
    every chunk. Raises :class:`DataError` before writing anything when the input has no rows.
    """
    started = time.perf_counter()
    rows, in_format, counting = read_rows(
        raw, name, fmt=fmt, text_col=text_col, id_col=id_col, encoding=encoding
    )
    chunks = _chunks(rows, chunk_size)
    first = next(chunks, None)
    if first is None:
        raise DataError(f"{name}: no rows to classify (the file has no data rows)")
    writer = _Writer(
        out,
        out_format if out_format != FileFormat.AUTO else in_format,
        annotator.columns if annotator is not None else (),
        keep_text,
    )
    summary = ClassifySummary()
    chunk: list[InputRow] | None = first
    while chunk is not None:
        decisions = decide_rows(model, chunk, bands, batch_size=batch_size)
        extras: Sequence[Mapping[str, Any]] = (
            annotator(chunk, decisions) if annotator is not None else [{}] * len(chunk)
        )
        for row, decision, extra in zip(chunk, decisions, extras, strict=True):
            writer.write(row, decision, extra)
            summary.actions[decision.action.value if decision is not None else Action.ALLOW.value] += 1
            summary.empty += decision is None
        summary.rows += len(chunk)
        if on_progress is not None:
            on_progress(counting.count, summary.rows)
        chunk = next(chunks, None)
    summary.seconds = time.perf_counter() - started
    return summary


def classify_file(
    source: str,
    target: str,
    model: ScoreModel,
    bands: ActionBands,
    *,
    progress: bool = True,
    out_format: FileFormat = FileFormat.AUTO,
    **options: Any,
) -> ClassifySummary:
    """Score the file ``source`` (``-``: stdin) into ``target`` (``-``: stdout); see :func:`classify_stream`.

    A target file is written atomically: after an error it is left as it was. ``out_format`` auto: the
    target's suffix, else the input's format.

    Raises:
        DataError: the input is missing, empty or malformed (the message names file:line).
    """
    from tqdm import tqdm

    if source != STDIN and not Path(source).is_file():
        raise DataError(f"input file not found: {source}")
    if target != STDIN:
        out_format = detect_format(target, out_format)
    total = Path(source).stat().st_size if source != STDIN else None
    with ExitStack() as stack:
        raw: BinaryIO = sys.stdin.buffer if source == STDIN else stack.enter_context(open(source, "rb"))
        bar = stack.enter_context(
            tqdm(
                total=total, unit="B", unit_scale=True, desc="classify", disable=not progress, file=sys.stderr
            )
        )

        def advance(bytes_read: int, rows: int) -> None:
            bar.update(bytes_read - bar.n)
            bar.set_postfix(rows=f"{rows:,}", refresh=False)

        if target == STDIN:
            return classify_stream(
                raw, source, sys.stdout, model, bands, out_format=out_format, on_progress=advance, **options
            )
        with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
            return classify_stream(
                raw, source, out, model, bands, out_format=out_format, on_progress=advance, **options
            )
