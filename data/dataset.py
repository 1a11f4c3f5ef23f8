"""The prepared dataset's record and its JSONL reader: the one loader every consumer uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from data.taxonomy import LABELS, Label, Surface, parse_labels, parse_surface
from tegur.errors import DataError

SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class Example:
    """One message of the prepared dataset: a line of ``{train,validation,test}.jsonl``."""

    id: str
    text: str
    labels: tuple[Label, ...] = ()
    source: str = ""
    surface: Surface = Surface.COMMENT
    license: str = ""
    #: Labels this line's annotation covers; ``None`` means all labels (see ``tegur evaluate``).
    annotated: tuple[Label, ...] | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def label_vector(self) -> list[float]:
        """Multi-hot vector in :data:`data.taxonomy.LABELS` order."""
        return [1.0 if label in self.labels else 0.0 for label in LABELS]

    def to_json(self) -> dict[str, object]:
        row = asdict(self)
        row["labels"] = [label.value for label in self.labels]
        row["surface"] = self.surface.value
        if self.annotated is None:
            row.pop("annotated")
        else:
            row["annotated"] = [label.value for label in self.annotated]
        extra = row.pop("extra")
        row.update(extra)
        return row


_KNOWN_KEYS = {"id", "text", "labels", "source", "surface", "license", "annotated"}


def parse_example(row: object, *, where: str) -> Example:
    """Validate one decoded JSON line; raise :class:`DataError` naming ``where`` (file:line)."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    text = row.get("text")
    if not isinstance(text, str):
        raise DataError(f"{where}: 'text' must be a string, got {text!r}")
    if not text.strip():
        raise DataError(f"{where}: 'text' is empty")
    if "labels" not in row:
        raise DataError(f"{where}: missing 'labels' (use [] for a clean message)")
    labels = tuple(parse_labels(row["labels"], where=where))
    annotated = row.get("annotated")
    annotated_labels = None if annotated is None else tuple(parse_labels(annotated, where=where))
    if annotated_labels is not None:
        outside = [label.value for label in labels if label not in annotated_labels]
        if outside:
            raise DataError(f"{where}: labels {outside} are not in 'annotated' {list(annotated)}")
    return Example(
        id=str(row.get("id", where)),
        text=text,
        labels=labels,
        source=str(row.get("source", "")),
        surface=parse_surface(row.get("surface", Surface.COMMENT.value), where=where),
        license=str(row.get("license", "")),
        annotated=annotated_labels,
        extra={k: v for k, v in row.items() if k not in _KNOWN_KEYS},
    )


def iter_examples(path: str | Path) -> Iterator[Example]:
    """Yield the examples of a JSONL file, failing with file and line on the first bad row."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not valid JSON ({exc.msg})") from None
            yield parse_example(row, where=where)


def read_examples(path: str | Path) -> list[Example]:
    """Read a whole JSONL file; raise :class:`DataError` if it holds no examples."""
    examples = list(iter_examples(path))
    if not examples:
        raise DataError(f"{path}: no examples (the file is empty)")
    return examples


def read_split(directory: str | Path, split: str) -> list[Example]:
    """Read ``<directory>/<split>.jsonl`` of a prepared dataset."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    path = Path(directory) / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found: run `tegur data prepare --config <config>` first")
    return read_examples(path)
