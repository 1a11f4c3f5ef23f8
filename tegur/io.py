"""Small file helpers shared by every command: writes are atomic, so a failure leaves nothing half-written."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds.

    Works for files and folders: write a file or create a folder at the yielded path.
    On error the temporary path is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    work = tmp / target.name
    try:
        yield work
        if not work.exists():
            raise FileNotFoundError(f"nothing was written to {work}")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json_atomic(target: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(target, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON lines to ``path`` (not atomic: use inside :func:`atomic_path`)."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


class FileFormat(StrEnum):
    """Layout of a file of messages (``tegur evaluate --data``, ``tegur classify``)."""

    AUTO = "auto"  # from the file name (see format_from_name)
    CSV = "csv"
    TSV = "tsv"
    JSONL = "jsonl"


class TextEncoding(StrEnum):
    """Text encoding of a CSV or TSV file (JSONL is always UTF-8)."""

    UTF8 = "utf-8"
    LATIN1 = "latin-1"


_SUFFIX_FORMATS = {
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.TSV,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".json": FileFormat.JSONL,
}


def format_from_name(name: str | os.PathLike[str]) -> FileFormat:
    """The format a file name's suffix says (.csv, .tsv, .jsonl/.ndjson/.json); AUTO when it says none."""
    return _SUFFIX_FORMATS.get(Path(name).suffix.lower(), FileFormat.AUTO)
