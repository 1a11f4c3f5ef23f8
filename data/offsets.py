"""Text that remembers where each character came from: the normaliser's offset map.

:class:`TrackedText` holds a string and, for each of its characters, the ``[start, end)`` span of the
raw text that produced it. Every rewrite the normaliser does (regex substitutions, ``str.translate``,
lowercasing, Unicode normalisation, whitespace collapsing, cutting) has a tracked twin here that
returns exactly the string the plain operation returns and moves the spans along:

* a character kept as it was keeps its span;
* a replacement as long as what it replaces maps character by character (``t3l3gr4m`` -> ``telegram``);
* otherwise the common prefix and suffix map character by character and the rest of the replacement
  maps to the span of the rest of the match (``@budi`` -> ``[HANDLE]``, ``w.a`` -> ``whatsapp``).

So a span always covers the raw characters a normalised character was derived from, and may be wider
(a placeholder covers the whole number it replaced). Offsets are Python ``str`` indices (Unicode code
points) into the raw text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

Span = tuple[int, int]

_NON_SPACE_RE = re.compile(r"\S+")


def union(spans: Iterable[Span]) -> Span | None:
    """The smallest span covering ``spans``; None for none."""
    start = end = -1
    for s, e in spans:
        if start < 0 or s < start:
            start = s
        if e > end:
            end = e
    return None if start < 0 else (start, end)


class TrackedText:
    """A string and the raw span of each of its characters (see the module docstring)."""

    __slots__ = ("approximate", "spans", "text")

    def __init__(self, text: str, spans: Sequence[Span]) -> None:
        if len(text) != len(spans):
            raise ValueError(f"{len(text)} characters but {len(spans)} spans")
        self.text = text
        self.spans: list[Span] = list(spans)
        #: True once an operation could only map a whole stretch coarsely (never seen in practice:
        #: a safety net that keeps the offsets in bounds rather than failing)
        self.approximate = False

    @classmethod
    def identity(cls, raw: str) -> TrackedText:
        """``raw`` itself: character ``i`` comes from ``[i, i + 1)``."""
        return cls(raw, [(i, i + 1) for i in range(len(raw))])

    def raw_span(self, start: int, end: int) -> Span | None:
        """The raw span of characters ``[start, end)`` of :attr:`text`; None for an empty range."""
        return union(self.spans[start:end])

    def check(self, text: str) -> None:
        """Fail loudly when a step rewrote the text without its tracked twin (a bug in the caller)."""
        if text is not self.text and text != self.text:
            raise RuntimeError("tracked text is out of step with the text being rewritten")

    def _set(self, text: str, spans: list[Span]) -> str:
        self.text = text
        self.spans = spans
        return text

    def _near(self, pos: int) -> Span:
        # the span of what an insertion at ``pos`` sits next to
        if self.spans:
            return self.spans[min(max(pos - 1, 0), len(self.spans) - 1)]
        return (0, 0)

    def _replacement(self, start: int, end: int, new: str) -> list[Span]:
        old = self.text[start:end]
        old_spans = self.spans[start:end]
        if new == old or len(new) == len(old):
            return list(old_spans) if old_spans else [self._near(start)] * len(new)
        prefix = 0
        limit = min(len(old), len(new))
        while prefix < limit and old[prefix] == new[prefix]:
            prefix += 1
        suffix = 0
        while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
            suffix += 1
        middle = union(old_spans[prefix : len(old) - suffix]) or union(old_spans) or self._near(start)
        head = list(old_spans[:prefix])
        tail = list(old_spans[len(old) - suffix :]) if suffix else []
        if len(new) == prefix + suffix and old_spans:  # characters deleted inside the match: they
            if head:  # belong to the character before them ("8\ufe0f\u20e3" -> "8")
                head[-1] = union((head[-1], middle)) or middle
            elif tail:
                tail[0] = union((tail[0], middle)) or middle
        return [*head, *[middle] * (len(new) - prefix - suffix), *tail]

    def subn(
        self,
        pattern: re.Pattern[str],
        repl: str | Callable[[re.Match[str]], str],
        text: str,
        on_change: Callable[[Span], None] | None = None,
    ) -> tuple[str, int]:
        """``pattern.subn(repl, text)``, tracked; ``on_change`` gets the raw span of each changed match."""
        self.check(text)
        pieces: list[str] = []
        spans: list[Span] = []
        pos = count = 0
        for match in pattern.finditer(text):
            count += 1
            start, end = match.span()
            pieces.append(text[pos:start])
            spans.extend(self.spans[pos:start])
            new = repl(match) if callable(repl) else match.expand(repl)
            pieces.append(new)
            if new or start == end:
                spans.extend(self._replacement(start, end, new))
            else:
                _absorb(spans, union(self.spans[start:end]))
            if on_change is not None and new != match.group():
                on_change(union(self.spans[start:end]) or self._near(start))
            pos = end
        if not count:
            return text, 0
        pieces.append(text[pos:])
        spans.extend(self.spans[pos:])
        return self._set("".join(pieces), spans), count

    def per_char(self, text: str, func: Callable[[str], str], whole: str) -> str:
        """``whole`` (which is ``func(text)``), tracked by applying ``func`` to one character at a time.

        Exact for ``str.translate`` and almost always for lowercasing and NFKD; where the characters
        interact (a final sigma, combining marks reordered) and the length still matches, positions map
        one to one, else the stretch maps coarsely.
        """
        self.check(text)
        pieces = {char: func(char) for char in set(text)}
        if all(len(piece) == 1 for piece in pieces.values()):  # one to one: the spans stay
            if len(whole) != len(text):
                return self._coarse(whole)
            return self._set(whole, self.spans)
        spans: list[Span] = []
        for char, span in zip(text, self.spans, strict=True):
            piece = pieces[char]
            if piece:
                spans.extend([span] * len(piece))
            else:
                _absorb(spans, span)
        if len(spans) != len(whole):
            return self._coarse(whole)
        return self._set(whole, spans)

    def nfc(self, text: str, whole: str) -> str:
        """``whole`` (which is NFC of ``text``), tracked: each base character and its marks as a unit."""
        self.check(text)
        starts = [i for i, c in enumerate(text) if i == 0 or unicodedata.combining(c) == 0]
        pieces: list[str] = []
        spans: list[Span] = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(text)
            piece = unicodedata.normalize("NFC", text[start:end])
            pieces.append(piece)
            spans.extend(self._replacement(start, end, piece))
        if "".join(pieces) != whole:
            return self._coarse(whole)
        return self._set(whole, spans)

    def collapse(self, text: str) -> str:
        """``" ".join(text.split())``, tracked: a run of whitespace becomes one space."""
        self.check(text)
        whole = " ".join(text.split())
        if whole == text:
            return self._set(whole, self.spans)
        spans: list[Span] = []
        previous = -1
        for match in _NON_SPACE_RE.finditer(text):
            start, end = match.span()
            if previous >= 0:
                spans.append(union(self.spans[previous:start]) or self.spans[start])
            spans.extend(self.spans[start:end])
            previous = end
        if len(spans) != len(whole):  # re's and str.split's whitespace disagree: never expected
            return self._coarse(whole)
        return self._set(whole, spans)

    def cut(self, text: str, end: int) -> str:
        """``text[:end]``, tracked."""
        self.check(text)
        return self._set(text[:end], self.spans[:end])

    def _coarse(self, whole: str) -> str:
        self.approximate = True
        span = union(self.spans) or (0, 0)
        return self._set(whole, [span] * len(whole))


def _absorb(spans: list[Span], deleted: Span | None) -> None:
    """A deleted character's span joins the character before it (a zero-width space, a keycap mark)."""
    if deleted is not None and spans:
        spans[-1] = union((spans[-1], deleted)) or deleted


def merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans merged, sorted."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]
