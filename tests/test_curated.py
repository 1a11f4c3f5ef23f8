"""The hand-written data: ``data/curated/*.jsonl`` and the held-out ``data/eval/minors_test.jsonl``.

The rules come from ``data/ANNOTATION.md`` (section 8: format, minors files, style balance). The files are
read as JSON here rather than only through ``load_curated``, because the loader ignores keys it does not
know (``minor_signal``) and does not read ``data/eval/`` at all.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

from data.loaders import load_curated
from data.normalize import dedup_key
from data.taxonomy import Label, Surface

ROOT = Path(__file__).resolve().parent.parent
CURATED = ROOT / "data" / "curated"
MINORS_TRAIN = CURATED / "minors.jsonl"
MINORS_TEST = ROOT / "data" / "eval" / "minors_test.jsonl"
MINORS_FILES = (MINORS_TRAIN, MINORS_TEST)
ALL_FILES = (*sorted(CURATED.glob("*.jsonl")), MINORS_TEST)

FIELDS = {"id", "text", "labels", "surface", "family", "augmented"}
LABEL_ORDER = [label.value for label in Label]
SURFACES = {surface.value for surface in Surface}

#: Files written to remove the style shortcuts (ANNOTATION.md section 8.2). The older files predate the rule.
STYLE_BALANCED = (
    CURATED / "hard_negatives_live.jsonl",
    CURATED / "politics.jsonl",
    CURATED / "solicitation_implicit.jsonl",
    MINORS_TRAIN,
    MINORS_TEST,
)
NEAR_COPY = 0.6  # char 3-gram Jaccard at or above this is a near copy

_FANCY_SMALL_CAPS = set("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡʏᴢ")
# A leet digit or symbol inside a word (b!0l0g1, t3l3, b@ngs4t), a leading one (0pen), a trailing one (P0).
# "2" is left out: it is Indonesian reduplication (kata2, hati2), not obfuscation.
_LEET = re.compile(r"[a-z][013457@$!*]+[a-z0-9]|(?<![a-z0-9])[0134][a-z]{2,}|[a-z][0134]\b", re.IGNORECASE)
# Letters split by spaces, dots or dashes: "b i o", "v.c.s", "o-p-e-n".
_SPACED = re.compile(r"(?<!\S)(?:\w[ .\-]){2,}\w(?!\S)")


def is_obfuscated(text: str) -> bool:
    """Whether a line uses one of the obfuscation techniques of ANNOTATION.md section 7."""
    for ch in text:
        if ch in _FANCY_SMALL_CAPS:
            return True
        if ord(ch) > 127:
            folded = unicodedata.normalize("NFKC", ch)
            if folded.isascii() and folded.isalnum():  # math bold/italic, full-width, circled letters
                return True
    return bool(_LEET.search(text) or _SPACED.search(text))


def _grams(text: str) -> set[str]:
    text = " ".join(text.lower().split())
    return {text[i : i + 3] for i in range(len(text) - 2)}


def jaccard(a: str, b: str) -> float:
    ga, gb = _grams(a), _grams(b)
    return len(ga & gb) / len(ga | gb) if ga | gb else 1.0


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def rows() -> dict[Path, list[dict]]:
    return {path: _rows(path) for path in ALL_FILES}


def _where(path: Path, row: dict) -> str:
    return f"{path.relative_to(ROOT)}:{row.get('id')}"


# --- the helpers the checks rely on ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "b!0l0g1 besok ujian",
        "0pen P0 kaos",
        "v c s",
        "o-p-e-n",
        "𝐎𝐏𝐄𝐍 𝐕𝐂𝐒",
        "ｏｐｅｎ",
        "ᴏᴘᴇɴ",
        "Ⓥⓒⓢ",
        "b@ngs4t",
    ],
)
def test_obfuscation_detector_sees_the_guide_techniques(text):
    assert is_obfuscated(text)


@pytest.mark.parametrize(
    "text", ["bio bab 3 susah bgt", "hati2 kata2nya", "harga 50rb ongkir 10k", "kelas 7 smp", "mantap 🔥🔥"]
)
def test_obfuscation_detector_leaves_plain_text_alone(text):
    assert not is_obfuscated(text)


def test_jaccard_flags_a_one_word_swap_and_passes_a_rewrite():
    line = "host nya masih smp guys jaga omongan ya"
    assert jaccard(line, "host nya masih smp guys, jaga omongan ya") >= NEAR_COPY
    assert jaccard(line, "yg live ini anak smp loh guys komennya dijaga") < NEAR_COPY


# --- schema ------------------------------------------------------------------------------------------


def test_curated_folder_loads_every_line():
    total = sum(len(_rows(path)) for path in sorted(CURATED.glob("*.jsonl")))
    assert len(load_curated(CURATED)) == total


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_line_follows_the_format(path, rows):
    assert rows[path], f"{path} is empty"
    for row in rows[path]:
        where = _where(path, row)
        expected = FIELDS | {"minor_signal"} if path in MINORS_FILES else FIELDS
        assert set(row) == expected, f"{where}: fields {sorted(row)}, expected {sorted(expected)}"
        assert isinstance(row["text"], str) and row["text"] == row["text"].strip() and row["text"], where
        assert "\x00" not in row["text"], where
        labels = row["labels"]
        assert isinstance(labels, list) and labels == [x for x in LABEL_ORDER if x in labels], (
            f"{where}: labels {labels} must be known names in the order {LABEL_ORDER}"
        )
        assert row["surface"] in SURFACES, where
        assert isinstance(row["augmented"], bool), where
        if path in STYLE_BALANCED:
            assert row["augmented"] is False, f"{where}: these files are hand-written, augmented is false"
        prefix = re.sub(r"\d+$", "", row["id"])
        assert prefix != row["id"] and row["family"].startswith(prefix), (
            f"{where}: id is the file prefix plus a number and the family starts with that prefix"
        )


@pytest.mark.parametrize("path", MINORS_FILES, ids=lambda p: p.name)
def test_minor_signal_is_a_boolean_on_every_minors_line(path, rows):
    for row in rows[path]:
        assert isinstance(row.get("minor_signal"), bool), f"{_where(path, row)}: minor_signal true|false"


def test_ids_are_unique_across_curated_and_eval(rows):
    seen: dict[str, str] = {}
    for path, lines in rows.items():
        for row in lines:
            assert row["id"] not in seen, f"{_where(path, row)}: id also in {seen.get(row['id'])}"
            seen[row["id"]] = str(path.name)


def test_a_family_lives_in_one_file(rows):
    files: dict[str, set[str]] = defaultdict(set)
    for path, lines in rows.items():
        for row in lines:
            files[row["family"]].add(path.name)
    split = {family: sorted(names) for family, names in files.items() if len(names) > 1}
    assert not split, f"families split across files: {split}"


# --- the held-out minors set -------------------------------------------------------------------------


def test_minors_train_and_test_share_no_family(rows):
    shared = {r["family"] for r in rows[MINORS_TRAIN]} & {r["family"] for r in rows[MINORS_TEST]}
    assert not shared


def test_minors_test_holds_about_forty_percent_with_every_kind_of_line(rows):
    train, test = rows[MINORS_TRAIN], rows[MINORS_TEST]
    assert 0.35 <= len(test) / (len(train) + len(test)) <= 0.45
    for lines in (train, test):
        kinds = {(bool(r["labels"]), r["minor_signal"]) for r in lines}
        # grooming positives, harmless lines about children, and harmless "dek" between adults
        assert {(True, True), (False, True), (False, False)} <= kinds


def test_no_eval_line_is_a_near_copy_of_a_curated_line(rows):
    curated = [(path, row) for path, lines in rows.items() if path != MINORS_TEST for row in lines]
    keys = {dedup_key(row["text"]): (path, row) for path, row in curated}
    for row in rows[MINORS_TEST]:
        assert dedup_key(row["text"]) not in keys, f"{_where(MINORS_TEST, row)} normalises to a curated line"
        for path, other in curated:
            score = jaccard(row["text"], other["text"])
            assert score < NEAR_COPY, (
                f"{_where(MINORS_TEST, row)} is a near copy ({score:.2f}) of {_where(path, other)}"
            )


# --- style balance (ANNOTATION.md section 8.2) ------------------------------------------------------


def _share(lines: list[dict], test) -> float:
    return sum(1 for row in lines if test(row["text"])) / len(lines)


@pytest.mark.parametrize("path", STYLE_BALANCED, ids=lambda p: p.name)
def test_commas_stay_in_a_minority_of_lines_for_positives_and_negatives(path, rows):
    for polarity in (True, False):
        lines = [row for row in rows[path] if bool(row["labels"]) is polarity]
        if lines:
            share = _share(lines, lambda text: "," in text)
            kind = "positive" if polarity else "negative"
            assert share < 0.5, f"{path.name}: {share:.0%} of the {kind} lines have a comma"


def test_obfuscation_is_no_cue_for_harm_in_the_new_files(rows):
    lines = [row for path in STYLE_BALANCED for row in rows[path]]
    positives = [row for row in lines if row["labels"]]
    negatives = [row for row in lines if not row["labels"]]
    assert _share(negatives, is_obfuscated) >= _share(positives, is_obfuscated) - 0.10


def test_live_hard_negatives_are_clean_and_a_quarter_or_more_obfuscated(rows):
    lines = rows[CURATED / "hard_negatives_live.jsonl"]
    assert all(row["labels"] == [] for row in lines)
    assert _share(lines, is_obfuscated) >= 0.25


def test_politics_topic_alone_predicts_nothing(rows):
    lines = rows[CURATED / "politics.jsonl"]
    clean = [row for row in lines if row["labels"] == []]
    bullying = [row for row in lines if row["labels"] == [Label.BULLYING.value]]
    assert len(clean) + len(bullying) == len(lines)  # the file carries no other label
    assert len(clean) >= 150 and len(bullying) >= 60


@pytest.mark.parametrize("path", STYLE_BALANCED, ids=lambda p: p.name)
def test_new_files_use_many_small_families(path, rows):
    sizes: dict[str, int] = defaultdict(int)
    for row in rows[path]:
        sizes[row["family"]] += 1
    assert len(sizes) >= 25, f"{path.name}: {len(sizes)} families, the guide asks for at least 25"
    assert max(sizes.values()) <= 10, f"{path.name}: a family over 10 lines is a template, split it"
