"""The hand-written functional suite in ``data/functional/``: schema, size, no near-copies, out of training.

The checks use only the standard library (plus the project's label names), so they run anywhere CI runs.
Each checker returns a list of problems instead of asserting, so that one run names every bad line, and so
that the checkers themselves can be tested on bad input below.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pytest

from data.taxonomy import LABEL_NAMES, Surface

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONAL = REPO_ROOT / "data" / "functional"
CURATED = REPO_ROOT / "data" / "curated"

MIN_CASES_PER_FUNCTIONALITY = 20
MIN_FUNCTIONALITIES = 25
MIN_INVARIANCE_LINES = 20
INVARIANCE_VARIANTS = range(3, 6)
NEAR_COPY_IN_SUITE = 0.8  # character 3-gram Jaccard between two suite texts
NEAR_COPY_OF_TRAINING = 0.6  # ... between a suite text and a curated (training) text
MAX_TEXT_CHARS = 500

CASE_KEYS = frozenset({"id", "functionality", "expect", "labels", "surface", "minor_signal", "text"})
INVARIANCE_KEYS = frozenset({"id", "functionality", "surface", "texts", "expect"})
CASE_EXPECT = frozenset({"flag", "no_flag"})
ID_PATTERN = re.compile(r"fn-[a-z0-9]+(?:-[a-z0-9]+)*-\d{3}")
README_ROW = re.compile(r"^\|\s*`([a-z0-9_]+)`\s*\|\s*(flag|no_flag|same)\s*\|([^|]*)\|")
SURFACES = frozenset(s.value for s in Surface)
# Control characters (newline, tab, NUL, ...) and lone surrogates from "\ud800"-style JSON escapes.
# Format characters (Cf) stay allowed: emoji sequences need the zero-width joiner.
BAD_CATEGORIES = frozenset({"Cc", "Cs"})
# Ten or more digits in a row, ignoring spaces, dots and dashes, look like a real phone or account number.
LONG_NUMBER = re.compile(r"\d(?:[\s.\-]*\d){9,}")
URL = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|id|net|org|co|xyz|me|ly|gg)\b", re.IGNORECASE)
FAKE_LINK = "t.me/+xxxx"
GUIDE_EXAMPLE = re.compile(r"`([^`\n]{8,})`")


# --- checkers -------------------------------------------------------------------------------------------


def parse_jsonl(raw: bytes, name: str) -> tuple[list[tuple[str, dict]], list[str]]:
    """Decode ``raw`` as strict UTF-8 JSON Lines; returns ``[(where, object)]`` and the problems found."""
    rows: list[tuple[str, dict]] = []
    problems: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return [], [f"{name}: not valid UTF-8 at byte {err.start}"]
    if text.startswith("\ufeff"):
        problems.append(f"{name}: starts with a byte-order mark; save as UTF-8 without BOM")
    for number, line in enumerate(text.split("\n"), 1):
        where = f"{name}:{number}"
        if not line.strip():
            if number != text.count("\n") + 1:  # only the end of the file may be empty
                problems.append(f"{where}: empty line")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"{where}: not JSON ({err.msg})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        rows.append((where, obj))
    return rows, problems


def check_text(text: object, where: str) -> list[str]:
    if not isinstance(text, str) or not text.strip():
        return [f"{where}: text must be a non-empty string, got {text!r}"]
    problems = []
    if text != text.strip():
        problems.append(f"{where}: text has leading or trailing whitespace")
    if len(text) > MAX_TEXT_CHARS:
        problems.append(f"{where}: text is {len(text)} chars, over {MAX_TEXT_CHARS}")
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) in BAD_CATEGORIES})
    if bad:
        problems.append(f"{where}: text holds control characters or surrogates {', '.join(bad)}")
    if LONG_NUMBER.search(text):
        problems.append(f"{where}: text holds a real-looking number; mask it like 0812-0000-xxxx")
    if URL.search(text.replace(FAKE_LINK, "")):
        problems.append(f"{where}: text holds a link; use the fake {FAKE_LINK} or none")
    return problems


def check_common(row: Mapping, where: str, keys: frozenset[str], known: Mapping[str, tuple]) -> list[str]:
    """Checks shared by cases and invariance lines: exact keys, id, functionality, surface."""
    problems = []
    if set(row) != keys:
        missing, extra = sorted(keys - set(row)), sorted(set(row) - keys)
        problems.append(f"{where}: keys must be {sorted(keys)} (missing {missing}, unknown {extra})")
    ident = row.get("id")
    if not isinstance(ident, str) or not ID_PATTERN.fullmatch(ident):
        problems.append(f"{where}: id {ident!r} must look like fn-<slug>-001")
    functionality = row.get("functionality")
    if functionality not in known:
        problems.append(
            f"{where}: functionality {functionality!r} is not listed in data/functional/README.md"
        )
    if row.get("surface") not in SURFACES:
        problems.append(f"{where}: surface {row.get('surface')!r} must be one of {sorted(SURFACES)}")
    return problems


def check_case(row: Mapping, where: str, known: Mapping[str, tuple[str, frozenset[str]]]) -> list[str]:
    """One line of suite.jsonl against the schema and against its functionality's README row."""
    problems = check_common(row, where, CASE_KEYS, known)
    expect, labels = row.get("expect"), row.get("labels")
    if expect not in CASE_EXPECT:
        problems.append(f"{where}: expect {expect!r} must be one of {sorted(CASE_EXPECT)}")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        problems.append(f"{where}: labels must be a list of label names, got {labels!r}")
        labels = []
    unknown = [label for label in labels if label not in LABEL_NAMES]
    if unknown:
        problems.append(f"{where}: unknown labels {unknown}; expected some of {', '.join(LABEL_NAMES)}")
    elif labels != [name for name in LABEL_NAMES if name in labels]:
        problems.append(f"{where}: labels {labels} must be unique and in the order {', '.join(LABEL_NAMES)}")
    if expect == "flag" and not labels:
        problems.append(f"{where}: expect flag needs at least one label")
    if expect == "no_flag" and labels:
        problems.append(f"{where}: expect no_flag must have labels [], got {labels}")
    if not isinstance(row.get("minor_signal"), bool):
        problems.append(f"{where}: minor_signal must be true or false, got {row.get('minor_signal')!r}")
    spec = known.get(row.get("functionality"))
    if spec is not None:
        readme_expect, readme_labels = spec
        if expect in CASE_EXPECT and expect != readme_expect:
            problems.append(f"{where}: expect {expect!r} but README.md says {readme_expect!r}")
        outside = sorted(set(labels) - readme_labels)
        if outside:
            problems.append(f"{where}: labels {outside} are not listed for it in README.md")
    return problems + check_text(row.get("text"), where)


def check_invariance(row: Mapping, where: str, known: Mapping[str, tuple[str, frozenset[str]]]) -> list[str]:
    """One line of invariance.jsonl: 3-5 distinct variants of one sentence, expect "same"."""
    problems = check_common(row, where, INVARIANCE_KEYS, known)
    if row.get("expect") != "same":
        problems.append(f"{where}: expect must be 'same', got {row.get('expect')!r}")
    spec = known.get(row.get("functionality"))
    if spec is not None and spec[0] != "same":
        problems.append(f"{where}: functionality {row.get('functionality')!r} is a case functionality")
    texts = row.get("texts")
    if not isinstance(texts, list) or len(texts) not in INVARIANCE_VARIANTS:
        return [*problems, f"{where}: texts must be a list of 3 to 5 variants, got {texts!r}"]
    for i, text in enumerate(texts):
        problems += check_text(text, f"{where} texts[{i}]")
    if len(set(map(str, texts))) != len(texts):
        problems.append(f"{where}: the variants must differ from each other")
    return problems


def readme_functionalities(markdown: str) -> dict[str, tuple[str, frozenset[str]]]:
    """The README's functionality table: ``name -> (expect, labels a case may carry)``."""
    table: dict[str, tuple[str, frozenset[str]]] = {}
    for line in markdown.splitlines():
        match = README_ROW.match(line)
        if match:
            name, expect, labels = match.groups()
            if name in table:
                raise ValueError(f"README.md lists functionality {name!r} twice")
            table[name] = (expect, frozenset(re.findall(r"`([a-z_]+)`", labels)))
    return table


def normalise(text: str) -> str:
    """What the near-copy checks compare: NFKC (fancy fonts fold to letters), casefolded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def trigrams(text: str) -> frozenset[str]:
    norm = normalise(text)
    if len(norm) < 3:
        return frozenset({norm})
    return frozenset(norm[i : i + 3] for i in range(len(norm) - 2))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_pairs(
    left: Iterable[tuple[str, str]], right: Iterable[tuple[str, str]], threshold: float, *, same_side: bool
) -> list[tuple[str, str, float]]:
    """Pairs ``(left owner, right owner, jaccard)`` whose texts share >= ``threshold`` of their 3-grams.

    Owners are ids; two texts of the same owner are never a pair (the variants of one invariance line).
    With ``same_side`` the two sides are the same collection and each pair is reported once.
    An inverted 3-gram index keeps this linear in practice instead of comparing every pair.
    """
    right_grams = [(owner, trigrams(text)) for owner, text in right]
    index: dict[str, list[int]] = defaultdict(list)
    for j, (_, grams) in enumerate(right_grams):
        for gram in grams:
            index[gram].append(j)
    found = []
    for i, (owner, text) in enumerate(left):
        grams = trigrams(text)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(index.get(gram, ()))
        for j, inter in shared.items():
            other, other_grams = right_grams[j]
            if (same_side and j <= i) or other == owner:
                continue
            score = inter / (len(grams) + len(other_grams) - inter)
            if score >= threshold:
                found.append((owner, other, round(score, 3)))
    return found


# --- the shipped files ----------------------------------------------------------------------------------


@cache
def _readme() -> str:
    return (FUNCTIONAL / "README.md").read_text(encoding="utf-8")


@cache
def _known() -> dict[str, tuple[str, frozenset[str]]]:
    return readme_functionalities(_readme())


@cache
def _load(name: str) -> tuple[list[tuple[str, dict]], list[str]]:
    return parse_jsonl((FUNCTIONAL / name).read_bytes(), name)


def _cases() -> list[dict]:
    return [row for _, row in _load("suite.jsonl")[0]]


def _invariance() -> list[dict]:
    return [row for _, row in _load("invariance.jsonl")[0]]


def _suite_texts() -> list[tuple[str, str]]:
    """Every text of the suite with the id that owns it (an invariance line owns all its variants)."""
    texts = [(row["id"], row["text"]) for row in _cases() if isinstance(row.get("text"), str)]
    for row in _invariance():
        if isinstance(row.get("texts"), list):
            texts += [(row["id"], text) for text in row["texts"] if isinstance(text, str)]
    return texts


def _curated_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(CURATED.glob("*.jsonl")):
        for where, row in parse_jsonl(path.read_bytes(), path.name)[0]:
            if isinstance(row.get("text"), str):
                texts.append((f"{where} ({row.get('id')})", row["text"]))
    return texts


def _guide_examples() -> list[tuple[str, str]]:
    """The example messages quoted in the annotation guide: curators copy them, so they count as training."""
    guide = (REPO_ROOT / "data" / "ANNOTATION.md").read_text(encoding="utf-8")
    return [(f"ANNOTATION.md example {i}", text) for i, text in enumerate(GUIDE_EXAMPLE.findall(guide), 1)]


@pytest.mark.parametrize("name", ["suite.jsonl", "invariance.jsonl"])
def test_files_are_utf8_json_lines(name):
    rows, problems = _load(name)
    assert not problems, "\n".join(problems)
    assert rows, f"{name} is empty"


def test_readme_lists_the_functionalities_and_the_training_rule():
    known = _known()
    assert len([name for name, (expect, _) in known.items() if expect != "same"]) >= MIN_FUNCTIONALITIES
    assert "never train on this folder" in _readme().lower()
    used = Counter(row.get("functionality") for row in _cases() + _invariance())
    unused = sorted(set(known) - set(used))
    assert not unused, f"README.md lists functionalities with no lines: {unused}"
    for name, (expect, labels) in known.items():
        carried = {label for row in _cases() if row.get("functionality") == name for label in row["labels"]}
        assert expect != "flag" or labels, f"README.md: flag functionality {name!r} lists no labels"
        assert labels == carried or expect == "same", (
            f"README.md lists labels {sorted(labels)} for {name!r} but its cases carry {sorted(carried)}"
        )


def test_cases_follow_the_schema():
    known = _known()
    problems = []
    for where, row in _load("suite.jsonl")[0]:
        problems += check_case(row, where, known)
    assert not problems, "\n".join(problems)


def test_invariance_lines_follow_the_schema():
    known = _known()
    rows = _load("invariance.jsonl")[0]
    problems = []
    for where, row in rows:
        problems += check_invariance(row, where, known)
    assert not problems, "\n".join(problems)
    assert len(rows) >= MIN_INVARIANCE_LINES


def test_ids_are_unique_across_both_files():
    counts = Counter(row.get("id") for row in _cases() + _invariance())
    duplicates = sorted(str(ident) for ident, n in counts.items() if n > 1)
    assert not duplicates, f"duplicate ids: {duplicates}"


def test_every_functionality_has_enough_cases():
    counts = Counter(row.get("functionality") for row in _cases() + _invariance())
    short = {name: n for name, n in counts.items() if n < MIN_CASES_PER_FUNCTIONALITY}
    assert not short, f"functionalities under {MIN_CASES_PER_FUNCTIONALITY} lines: {short}"
    assert len(counts) >= MIN_FUNCTIONALITIES
    expects = Counter(row.get("expect") for row in _cases())
    assert expects["flag"] and expects["no_flag"], f"the suite needs both flag and no_flag cases: {expects}"


def test_no_two_cases_are_near_copies():
    texts = _suite_texts()
    pairs = near_pairs(texts, texts, NEAR_COPY_IN_SUITE, same_side=True)
    assert not pairs, "near-copies (rewrite one of each pair):\n" + "\n".join(map(str, pairs))


def test_suite_stays_out_of_training():
    """No suite text may be, exactly or nearly, a curated training line or an example in the guide."""
    curated, examples = _curated_texts(), _guide_examples()
    assert curated, f"no curated lines found under {CURATED}"
    assert len(examples) > 100, (
        "data/ANNOTATION.md examples not found: has the guide's `quote` style changed?"
    )
    pairs = near_pairs(_suite_texts(), curated + examples, NEAR_COPY_OF_TRAINING, same_side=False)
    assert not pairs, "suite texts too close to training lines (rewrite the suite line):\n" + "\n".join(
        f"{ours} ~ {theirs}: {score}" for ours, theirs, score in pairs
    )


def test_training_configs_never_read_the_suite():
    for path in sorted((REPO_ROOT / "configs").glob("*.yaml")):
        assert "data/functional" not in path.read_text(encoding="utf-8"), (
            f"{path.name} reads the functional suite"
        )
    assert not FUNCTIONAL.resolve().is_relative_to(CURATED.resolve())


# --- the checkers catch what they claim to --------------------------------------------------------------

KNOWN = {
    "harmless_open": ("no_flag", frozenset()),
    "grooming_minor": ("flag", frozenset({"sexual_solicitation", "off_platform_redirection"})),
    "identity_swap_invariance": ("same", frozenset()),
}
GOOD_CASE = {
    "id": "fn-open-harmless-001",
    "functionality": "harmless_open",
    "expect": "no_flag",
    "labels": [],
    "surface": "comment",
    "minor_signal": False,
    "text": "open PO kue kering ya kak",
}
GOOD_INVARIANCE = {
    "id": "fn-inv-001",
    "functionality": "identity_swap_invariance",
    "surface": "live_chat",
    "texts": ["halo kak budi", "halo kak siti", "halo kak made"],
    "expect": "same",
}


def test_a_good_case_and_invariance_line_pass():
    assert check_case(GOOD_CASE, "s:1", KNOWN) == []
    assert check_invariance(GOOD_INVARIANCE, "i:1", KNOWN) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": ["spam"]}, "unknown labels ['spam']"),
        ({"labels": "bullying"}, "labels must be a list"),
        ({"expect": "maybe"}, "expect 'maybe' must be one of"),
        ({"expect": "flag"}, "expect flag needs at least one label"),
        ({"labels": ["bullying"]}, "expect no_flag must have labels []"),
        ({"functionality": "made_up"}, "functionality 'made_up' is not listed"),
        ({"surface": "tv"}, "surface 'tv' must be one of"),
        ({"minor_signal": 0}, "minor_signal must be true or false"),
        ({"id": "case 1"}, "id 'case 1' must look like"),
        ({"text": ""}, "text must be a non-empty string"),
        ({"text": "   "}, "text must be a non-empty string"),
        ({"text": None}, "text must be a non-empty string"),
        ({"text": "halo\x00kak"}, "control characters or surrogates U+0000"),
        ({"text": "halo\nkak"}, "control characters or surrogates U+000A"),
        ({"text": "halo \ud800 kak"}, "control characters or surrogates U+D800"),
        ({"text": " halo kak"}, "leading or trailing whitespace"),
        ({"text": "x" * 501}, "over 500"),
        ({"text": "chat aku 0812 3456 7890"}, "real-looking number"),
        ({"text": "daftar di https://contoh.xyz"}, "holds a link"),
        ({"extra": 1}, "unknown ['extra']"),
    ],
)
def test_check_case_names_each_schema_breach(change, message):
    problems = check_case({**GOOD_CASE, **change}, "suite.jsonl:7", KNOWN)
    assert any(message in p and p.startswith("suite.jsonl:7") for p in problems), problems


def test_check_case_holds_cases_to_their_readme_row():
    groom = {**GOOD_CASE, "functionality": "grooming_minor", "expect": "flag"}
    assert check_case({**groom, "labels": ["sexual_solicitation"]}, "s:1", KNOWN) == []
    assert any("not listed for it" in p for p in check_case({**groom, "labels": ["bullying"]}, "s:1", KNOWN))
    wrong_order = {**groom, "labels": ["off_platform_redirection", "sexual_solicitation"]}
    assert any("in the order" in p for p in check_case(wrong_order, "s:1", KNOWN))
    assert any(
        "README.md says 'no_flag'" in p
        for p in check_case({**GOOD_CASE, "expect": "flag", "labels": ["bullying"]}, "s:1", KNOWN)
    )


def test_masked_numbers_and_the_fake_link_are_allowed():
    for text in ["wa 0812-0000-xxxx", "rek 1234-xxxx", "join t.me/+xxxx", "tgl 27 november 2024"]:
        assert check_text(text, "s:1") == [], text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"texts": ["a b c", "a b d"]}, "3 to 5 variants"),
        ({"texts": ["halo", "halo", "hai"]}, "must differ"),
        ({"texts": ["halo", "", "hai"]}, "texts[1]: text must be a non-empty string"),
        ({"expect": "flag"}, "expect must be 'same'"),
        ({"functionality": "harmless_open"}, "is a case functionality"),
        ({"labels": []}, "unknown ['labels']"),
    ],
)
def test_check_invariance_names_each_schema_breach(change, message):
    problems = check_invariance({**GOOD_INVARIANCE, **change}, "invariance.jsonl:2", KNOWN)
    assert any(message in p for p in problems), problems


def test_parse_jsonl_reports_broken_lines():
    _, problems = parse_jsonl(b'{"a": 1}\n\nnot json\n[1]\n', "f.jsonl")
    assert problems == [
        "f.jsonl:2: empty line",
        "f.jsonl:3: not JSON (Expecting value)",
        "f.jsonl:4: expected a JSON object, got list",
    ]
    assert parse_jsonl(b'{"text": "caf\xe9"}\n', "f.jsonl") == ([], ["f.jsonl: not valid UTF-8 at byte 13"])
    rows, problems = parse_jsonl('{"text": "kopi ☕"}\n'.encode(), "f.jsonl")
    assert problems == [] and rows == [("f.jsonl:1", {"text": "kopi ☕"})]


def test_near_pairs_finds_copies_and_spares_variants_of_one_line():
    texts = [
        ("a", "jangan percaya yg minta transfer ya guys"),
        ("b", "jangan percaya yg minta transfer ya guys!!"),  # a near-copy of a
        ("c", "𝐉𝐀𝐍𝐆𝐀𝐍 percaya yg minta transfer ya guys"),  # the same under a fancy font
        ("d", "besok ulangan biologi, doain ya"),
        ("d", "besok ulangan kimia, doain ya"),  # a variant of its own line
    ]
    pairs = near_pairs(texts, texts, NEAR_COPY_IN_SUITE, same_side=True)
    assert {(x, y) for x, y, _ in pairs} == {("a", "b"), ("a", "c"), ("b", "c")}
    assert jaccard(trigrams("abcd"), trigrams("abcd")) == 1.0
    assert jaccard(trigrams("abcd"), trigrams("wxyz")) == 0.0


def test_readme_table_parses_and_rejects_duplicates():
    table = "| `harmless_open` | no_flag | none | open PO |\n| `threats` | flag | `bullying` | threats |\n"
    assert readme_functionalities(table) == {
        "harmless_open": ("no_flag", frozenset()),
        "threats": ("flag", frozenset({"bullying"})),
    }
    with pytest.raises(ValueError, match="'threats' twice"):
        readme_functionalities(table + "| `threats` | flag | `bullying` | again |\n")
