"""Train-only augmentation that removes shortcuts: topic counterfactuals and curated-style variants.

Two shortcuts were measured in the data (issue #10):

- **Topic.** 85% of the bullying positives come from one politics-heavy tweet corpus in which tweets
  naming a politician, party or institution are far more often positive than others, so the model
  learned "politics means bullying". :func:`topic_counterfactuals` writes copies of *clean* training
  rows that mention public figures, parties, institutions or identity groups, with those names swapped
  for others of the same kind, until the share of bullying among topic rows is no higher than among the
  rest (never more than ``max_rows``); it also swaps names in some bullying rows, so that no single
  name predicts the label.
- **Style.** The project's hand-written lines differ from public text in punctuation and casing.
  :func:`style_variants` writes copies of curated training lines restyled as public text is written
  (no commas, no final stop, all lower case or all caps, "wkwk", repeated "!!"/"??").

Every copy is marked ``augmented`` with its origin, is added to the train split only (never validation
or test), and is deterministic in the seed.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import replace

from data.dataset import Example
from data.taxonomy import Label

#: Names swapped among themselves, by kind. Only neutral names: no slur or nickname that is itself an
#: insult ("cebong", "kadrun", "aseng" and the like stay out: swapping them in would write insults).
ENTITIES: dict[str, tuple[str, ...]] = {
    "politician": (
        "jokowi", "prabowo", "anies", "ganjar", "ahok", "sby", "megawati", "puan", "gibran", "mahfud",
        "ridwan kamil", "risma", "erick thohir", "sri mulyani", "luhut", "sandiaga", "airlangga",
        "muhaimin", "khofifah", "bobby", "kaesang", "agus harimurti", "surya paloh", "dedi mulyadi",
    ),
    "government": ("pemerintah", "pemerintahan", "rezim", "pejabat", "aparat", "negara", "kabinet"),
    "party": (
        "pdip", "gerindra", "pks", "demokrat", "golkar", "nasdem", "pkb", "psi", "ppp", "pan", "perindo",
    ),
    "institution": (
        "dpr", "kpk", "polri", "kpu", "bawaslu", "mahkamah konstitusi", "kejagung", "tni", "bpjs", "pln",
        "kemenkes", "kemendikbud", "pemprov", "pemkot", "mpr", "bumn", "ojk",
    ),
    "office": ("presiden", "gubernur", "bupati", "walikota", "menteri", "camat", "lurah", "anggota dewan"),
    "group": ("orang jawa", "orang batak", "orang sunda", "orang padang", "orang bugis", "orang madura",
              "orang ambon", "orang papua", "orang betawi", "orang aceh", "orang bali", "orang dayak"),
    "religion": ("muslim", "kristen", "katolik", "hindu", "buddha", "konghucu"),
}  # fmt: skip

_PATTERNS = {
    kind: re.compile(
        r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b", re.I
    )
    for kind, names in ENTITIES.items()
}


def topic_mentions(text: str) -> list[tuple[str, str]]:
    """``(kind, name)`` for every entity of :data:`ENTITIES` in ``text``."""
    return [(kind, m.group(1).lower()) for kind, pattern in _PATTERNS.items() for m in pattern.finditer(text)]


def swap_entities(text: str, rng: random.Random) -> str:
    """``text`` with every entity replaced by another of its kind (the same name maps to one new name)."""
    out = text
    for kind, pattern in _PATTERNS.items():
        chosen: dict[str, str] = {}

        def repl(match: re.Match[str], kind: str = kind, chosen: dict[str, str] = chosen) -> str:
            name = match.group(1).lower()
            if name not in chosen:
                chosen[name] = rng.choice([n for n in ENTITIES[kind] if n != name])
            new = chosen[name]
            found = match.group(1)
            if found.isupper():
                return new.upper()
            return new.title() if found[:1].isupper() else new

        out = pattern.sub(repl, out)
    return out


def _augmented(ex: Example, text: str, kind: str, n: int) -> Example:
    return replace(
        ex,
        id=f"{ex.id}~{kind}{n}",
        text=text,
        extra={**ex.extra, "augmented": True, "augmentation": kind, "origin": ex.id},
    )


def _has_bullying(ex: Example) -> bool:
    return Label.BULLYING in ex.labels


def _annotates_bullying(ex: Example) -> bool:
    return ex.annotated is None or Label.BULLYING in ex.annotated


def topic_counterfactuals(train: Sequence[Example], *, seed: int, max_rows: int) -> list[Example]:
    """Counterfactual copies of topic rows (see the module docstring); at most ``max_rows``."""
    rng = random.Random(seed)
    rows = [ex for ex in train if _annotates_bullying(ex) and not ex.extra.get("augmented")]
    mentions = [bool(topic_mentions(ex.text)) for ex in rows]
    topical = [ex for ex, named in zip(rows, mentions, strict=True) if named]
    other = [ex for ex, named in zip(rows, mentions, strict=True) if not named]
    if not topical or not other:
        return []
    pos_t = sum(map(_has_bullying, topical))
    rate_other = sum(map(_has_bullying, other)) / len(other)
    clean_pool = [ex for ex in topical if not ex.labels]
    bully_pool = [ex for ex in topical if _has_bullying(ex)]
    if rate_other <= 0 or not clean_pool:
        return []

    def clean_needed(bully_copies: int) -> int:
        # Clean copies k such that (pos_t + b) / (len(topical) + b + k) <= rate_other.
        return max(0, math.ceil((pos_t + bully_copies) / rate_other) - len(topical) - bully_copies)

    bully_copies = min(len(bully_pool), max_rows // 4)
    while bully_copies and bully_copies + clean_needed(bully_copies) > max_rows:
        bully_copies //= 2
    n_clean = min(clean_needed(bully_copies), max_rows - bully_copies)
    out: list[Example] = []
    for n in range(n_clean):
        ex = clean_pool[n % len(clean_pool)]
        out.append(_augmented(ex, swap_entities(ex.text, rng), "topic", n // len(clean_pool)))
    for n, ex in enumerate(rng.sample(bully_pool, bully_copies)):
        out.append(_augmented(ex, swap_entities(ex.text, rng), "topic", n))
    return [ex for ex in out if ex.text]


_COMMA_RE = re.compile(r"\s*,\s*")
_FINAL_STOP_RE = re.compile(r"[.]+\s*$")


def restyle(text: str, rng: random.Random) -> str:
    """One public-text restyling of a hand-written line."""
    out = _COMMA_RE.sub(" ", text) if rng.random() < 0.85 else text
    out = _FINAL_STOP_RE.sub("", out)
    roll = rng.random()
    if roll < 0.45:
        out = out.lower()
    elif roll < 0.55:
        out = out.upper()
    roll = rng.random()
    if roll < 0.2:
        out += " " + rng.choice(("wkwk", "wkwkwk", "hadeh", "anjir", "sih", "dong", "deh"))
    elif roll < 0.45:
        out = out.rstrip("!?") + rng.choice(("!!", "!!!", "??", "...", "!?"))
    return re.sub(r"\s{2,}", " ", out).strip()


def style_variants(train: Sequence[Example], *, curated_source: str, seed: int, copies: int) -> list[Example]:
    """``copies`` restyled copies of every curated train line (see :func:`restyle`)."""
    rng = random.Random(seed)
    out = []
    for ex in train:
        if ex.source != curated_source or ex.extra.get("augmented"):
            continue
        seen = {ex.text}
        for n in range(copies):
            text = restyle(ex.text, rng)
            if text and text not in seen:
                seen.add(text)
                out.append(_augmented(ex, text, "style", n))
    return out
