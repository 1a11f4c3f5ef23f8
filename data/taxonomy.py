"""The label taxonomy: the one place that names Tegur's labels and surfaces."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from tegur.errors import DataError


class Label(StrEnum):
    """The four harms Tegur detects. Multi-label: a message may carry several or none."""

    BULLYING = "bullying"
    SEXUAL_SOLICITATION = "sexual_solicitation"
    PITY_BAIT = "pity_bait"
    OFF_PLATFORM_REDIRECTION = "off_platform_redirection"


#: Fixed label order: index ``i`` of every score vector, ``id2label`` and threshold list.
LABELS: tuple[Label, ...] = tuple(Label)
LABEL_NAMES: tuple[str, ...] = tuple(label.value for label in LABELS)


class Surface(StrEnum):
    """Where a message was written."""

    COMMENT = "comment"
    LIVE_CHAT = "live_chat"


def parse_label(value: object, *, where: str = "") -> Label:
    """Return the :class:`Label` named by ``value`` or raise a :class:`DataError` naming it."""
    if isinstance(value, Label):
        return value
    if isinstance(value, str):
        try:
            return Label(value.strip())
        except ValueError:
            pass
    prefix = f"{where}: " if where else ""
    raise DataError(f"{prefix}unknown label {value!r}; expected one of {', '.join(LABEL_NAMES)}")


def parse_labels(values: Iterable[object], *, where: str = "") -> list[Label]:
    """Parse a list of label names, rejecting unknown ones; returns them sorted in :data:`LABELS` order."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        prefix = f"{where}: " if where else ""
        raise DataError(f"{prefix}labels must be a list of label names, got {values!r}")
    parsed = {parse_label(v, where=where) for v in values}
    return [label for label in LABELS if label in parsed]


def parse_surface(value: object, *, where: str = "") -> Surface:
    if isinstance(value, Surface):
        return value
    try:
        return Surface(str(value))
    except ValueError:
        prefix = f"{where}: " if where else ""
        allowed = ", ".join(s.value for s in Surface)
        raise DataError(f"{prefix}unknown surface {value!r}; expected one of {allowed}") from None
