"""The public-source manifest (``data/sources.yaml``) and ``tegur data fetch``.

Every file is fetched from its pinned origin commit (or copied from a local mirror), checked against the
sha256 recorded in the manifest and moved into place only when it matches: a failed or refused fetch
leaves no file behind.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data.taxonomy import Label, Surface
from tegur.errors import ConfigError, DataError
from tegur.io import atomic_path
from tegur.yaml_config import format_validation_error, read_yaml_mapping

logger = logging.getLogger(__name__)

DEFAULT_MANIFEST = Path(__file__).resolve().parent / "sources.yaml"
GITHUB_RAW = "https://raw.githubusercontent.com"
#: SPDX's word for "no license information": such sources are neither commercial nor redistributable.
NO_LICENSE = "NOASSERTION"
_CHUNK = 1 << 16


class FileKind(StrEnum):
    """What a manifest file is for."""

    DATA = "data"  # read by a loader
    SLANG_MAP = "slang_map"  # alay slang -> standard Indonesian (for the normaliser's slang map)
    LEXICON = "lexicon"  # word lists
    LICENSE = "license"


class SourceFile(BaseModel):
    """One file of a source: where it lives in the origin, its mirror name and its hash."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Path in the origin repository at the pinned commit.")
    mirror: str | None = Field(None, description="File name in a mirror / data/raw/<source>/; default path.")
    sha256: str
    kind: FileKind
    surface: Surface | None = Field(None, description="Overrides the source's surface for this file.")
    mirror_only: bool = False
    mirror_only_reason: str | None = None

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        value = value.lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(f"not a sha256 hex digest: {value!r}")
        return value

    @field_validator("path", "mirror")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in PurePosixPath(value).parts):
            raise ValueError(f"must be a relative path inside the repository: {value!r}")
        return value

    @model_validator(mode="after")
    def _reason_for_mirror_only(self) -> SourceFile:
        if self.mirror_only and not self.mirror_only_reason:
            raise ValueError(f"{self.path}: mirror_only needs a mirror_only_reason")
        return self

    @property
    def name(self) -> str:
        """The file's name under ``<dir>/<source>/`` (mirror and ``data/raw`` alike)."""
        return self.mirror or self.path


class Origin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo: str = Field(description="GitHub owner/name.")
    commit: str = Field(min_length=40, max_length=40)

    def url(self, path: str, base_url: str = GITHUB_RAW) -> str:
        return f"{base_url.rstrip('/')}/{self.repo}/{self.commit}/{urllib.parse.quote(path)}"


class Source(BaseModel):
    """One public dataset: provenance, license and the label mapping (implemented in data/loaders.py)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    origin: Origin
    license: str = Field(description=f"SPDX id, or {NO_LICENSE} when none is stated.")
    commercial_use: bool
    redistributable: bool
    surface: Surface
    annotates: list[Label] = Field(description="The Tegur labels this source's annotation covers.")
    files: list[SourceFile]
    mapping: dict[str, str] = Field(description="Source column/value -> Tegur label, for people.")
    rationale: str

    @property
    def has_license(self) -> bool:
        return self.license != NO_LICENSE

    def data_files(self) -> list[SourceFile]:
        return [f for f in self.files if f.kind is FileKind.DATA]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    sources: list[Source]

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source names: {', '.join(dupes)}")
        return self

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def get(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"unknown source {name!r}; the manifest has: {', '.join(self.names)}")

    def select(self, names: Iterable[str] | None) -> list[Source]:
        """The named sources in the order given (all, in manifest order, when ``names`` is empty)."""
        names = list(names or [])
        return [self.get(n) for n in names] if names else list(self.sources)


def load_manifest(path: str | Path = DEFAULT_MANIFEST) -> Manifest:
    """Read and validate the source manifest; raise :class:`ConfigError` naming the bad field."""
    path = Path(path)
    raw = read_yaml_mapping(path, what="source manifest")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"{path}: manifest")) from None


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected: str, *, what: str) -> None:
    """Raise :class:`DataError` unless ``path`` hashes to ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(
            _mismatch(what, expected, actual, "fetch it again (tegur data fetch) or fix the manifest entry")
        )


def _mismatch(what: str, expected: str, actual: str, action: str = "it was not written") -> str:
    return (
        f"sha256 mismatch for {what}: expected {expected}, got {actual}. "
        f"It is not the file the manifest pins; {action}."
    )


class FetchAction(StrEnum):
    DOWNLOADED = "downloaded"
    COPIED = "copied"
    SKIPPED = "skipped"  # already present with the right hash


@dataclass(frozen=True)
class FetchResult:
    source: str
    file: str
    action: FetchAction
    bytes: int


class _Progress:
    """A rich progress display on stderr (one bar for the files, one per transfer), or nothing."""

    def __init__(self, enabled: bool, total_files: int) -> None:
        self._bar = None
        self._files = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, TextColumn
        from rich.text import Text

        download = DownloadColumn()

        class _FilesOrBytes(ProgressColumn):
            def render(self, task):  # type: ignore[no-untyped-def]
                if task.fields.get("files"):
                    return Text(f"{task.completed:.0f}/{task.total:.0f} files")
                return download.render(task)

        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), _FilesOrBytes(), console=Console(stderr=True)
        )
        self._files = self._bar.add_task("fetch", total=total_files, files=True)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def start(self, label: str, total: int | None) -> object:
        return None if self._bar is None else self._bar.add_task(label, total=total)

    def advance(self, task: object, n: int) -> None:
        if self._bar is not None and task is not None:
            self._bar.advance(task, n)  # type: ignore[arg-type]

    def done(self, task: object) -> None:
        if self._bar is None:
            return
        if task is not None:
            self._bar.remove_task(task)  # type: ignore[arg-type]
        self._bar.advance(self._files, 1)  # type: ignore[arg-type]


def _stream(src: IO[bytes], dst: Path, progress: _Progress, task: object) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(dst, "wb") as out:
        for chunk in iter(lambda: src.read(_CHUNK), b""):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            progress.advance(task, len(chunk))
    return digest.hexdigest(), size


def _copy_from_mirror(
    source: Source, file: SourceFile, mirror: Path, target: Path, progress: _Progress
) -> int:
    src = mirror / source.name / file.name
    if not src.is_file():
        raise DataError(
            f"{src} not found in the mirror (manifest file {source.name}/{file.name}); "
            f"is {mirror} a copy of the shared data folder?"
        )
    task = progress.start(f"{source.name}/{file.name}", src.stat().st_size)
    with atomic_path(target) as tmp, open(src, "rb") as fh:
        actual, size = _stream(fh, tmp, progress, task)
        if actual != file.sha256:
            raise DataError(_mismatch(str(src), file.sha256, actual))
    progress.done(task)
    return size


def _download(
    source: Source, file: SourceFile, base_url: str, target: Path, progress: _Progress, timeout: float
) -> int:
    url = source.origin.url(file.path, base_url)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DataError(
            f"could not download {url}: HTTP {exc.code} {exc.reason}. "
            "Check the manifest entry, or copy from a local mirror with --mirror DIR."
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"could not download {url}: {reason}. No network? Copy from a local mirror instead: "
            "tegur data fetch --mirror ../shared/data"
        ) from None
    length = response.headers.get("Content-Length")
    task = progress.start(f"{source.name}/{file.name}", int(length) if length else None)
    try:
        with response, atomic_path(target) as tmp:
            actual, size = _stream(response, tmp, progress, task)
            if actual != file.sha256:
                raise DataError(_mismatch(url, file.sha256, actual))
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DataError(
            f"download of {url} failed midway ({exc}); nothing was written. Retry, or use --mirror DIR."
        ) from None
    progress.done(task)
    return size


def fetch(
    manifest: Manifest,
    dest: str | Path,
    *,
    mirror: str | Path | None = None,
    sources: Sequence[str] | None = None,
    base_url: str = GITHUB_RAW,
    timeout: float = 60.0,
    show_progress: bool = True,
) -> list[FetchResult]:
    """Fetch the manifest's files into ``dest/<source>/<file>``, verifying every sha256.

    Args:
        manifest: The source manifest.
        dest: Destination folder (``data/raw``).
        mirror: A local folder laid out like the shared data folder; copy from it instead of downloading.
        sources: Source names to fetch; all when empty.
        base_url: Where raw files are served (``https://raw.githubusercontent.com``).
        timeout: Seconds before a silent connection is given up.
        show_progress: Draw a rich progress bar on stderr.

    Returns:
        One :class:`FetchResult` per file.

    Raises:
        DataError: A missing mirror or mirror file, a hash mismatch, a network failure, or mirror-only
            files requested without a mirror (raised after every other file was fetched).
    """
    dest = Path(dest)
    selected = manifest.select(sources)
    if mirror is not None:
        mirror = Path(mirror)
        if not mirror.is_dir():
            raise DataError(f"mirror folder not found: {mirror}")
    results: list[FetchResult] = []
    unreachable: list[str] = []
    files = [(s, f) for s in selected for f in s.files]
    with _Progress(show_progress, len(files)) as progress:
        for source, file in files:
            target = dest / source.name / file.name
            if target.is_file():
                if sha256_file(target) == file.sha256:
                    results.append(FetchResult(source.name, file.name, FetchAction.SKIPPED, 0))
                    progress.done(None)
                    continue
                logger.warning("%s has the wrong sha256; fetching it again", target)
            if mirror is not None:
                size = _copy_from_mirror(source, file, mirror, target, progress)
                results.append(FetchResult(source.name, file.name, FetchAction.COPIED, size))
            elif file.mirror_only:
                unreachable.append(f"{source.name}/{file.name} ({file.mirror_only_reason})")
                progress.done(None)
            else:
                size = _download(source, file, base_url, target, progress, timeout)
                results.append(FetchResult(source.name, file.name, FetchAction.DOWNLOADED, size))
    if unreachable:
        raise DataError(
            f"fetched {len(results)} files, but {len(unreachable)} can only come from a mirror: "
            + "; ".join(unreachable)
            + ". Pass --mirror DIR (e.g. ../shared/data), or leave those sources out of your config."
        )
    return results
