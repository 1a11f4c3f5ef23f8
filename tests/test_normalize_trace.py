"""Normalizer.trace: the offset map from normalised back to raw text, and the findings with raw spans.

The plain normaliser's output must not change (no retraining): a digest of its output over every
corpus-like fixture in the repository, written by normaliser v2 before tracing existed, pins it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.normalize import (
    MAX_INPUT_CHARS,
    NORMALIZER_VERSION,
    FindingKind,
    Normalizer,
    Obfuscation,
    load_slang_map,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "fixtures" / "normalize" / "golden_v2.json"
SLANG_FILES = [Path(__file__).parent / "fixtures" / "normalize" / "slang_a.csv"]


def corpus_texts(root: Path) -> dict[str, list[str]]:
    """Texts per fixture file: curated, functional and held-out lines, and the raw source fixtures."""
    out: dict[str, list[str]] = {}
    for folder in ("data/curated", "data/functional", "data/eval"):
        for path in sorted((root / folder).glob("*.jsonl")):
            texts = []
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    row = json.loads(line)
                    texts.extend(row["texts"] if "texts" in row else [row["text"]])
            out[path.relative_to(root).as_posix()] = texts
    for path in sorted((root / "tests/fixtures/sources").rglob("*")):
        if path.is_file() and path.suffix in (".csv", ".tsv", ".txt"):
            with path.open(encoding="utf-8", errors="replace") as handle:
                out[path.relative_to(root).as_posix()] = handle.read().splitlines()
    return out


def output_digest(normalizer: Normalizer, texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        result = normalizer(text)
        digest.update(json.dumps([result.text, result.features.to_dict()], ensure_ascii=False).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def builtin() -> Normalizer:
    return Normalizer()


@pytest.fixture(scope="module")
def with_slang() -> Normalizer:
    return Normalizer(load_slang_map(SLANG_FILES))


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_plain_output_is_unchanged_on_the_corpus_fixtures(builtin, with_slang, golden) -> None:
    assert golden["normalizer_version"] == NORMALIZER_VERSION
    texts = corpus_texts(ROOT)
    changed = []
    for name, expected in golden["files"].items():
        if name not in texts:  # a file added or removed since: not part of the pin
            continue
        got = [output_digest(builtin, texts[name]), output_digest(with_slang, texts[name])]
        if got != expected:
            changed.append(name)
    assert len(golden["files"]) >= 20
    assert not changed, f"normalised output changed on {changed}: bump NORMALIZER_VERSION and retrain"


def test_trace_gives_the_plain_output_on_the_corpus_fixtures(builtin, with_slang) -> None:
    texts = [t for batch in corpus_texts(ROOT).values() for t in batch]
    assert len(texts) > 3000
    for normalizer in (builtin, with_slang):
        for text in texts:
            trace = normalizer.trace(text)
            assert trace.normalized == normalizer(text), text
            assert not trace.approximate, text
            assert len(trace.offsets) == len(trace.normalized.text)


@pytest.mark.parametrize(
    ("raw", "kind", "value", "covered"),
    [
        ("kamu t3l3gr4m aja", FindingKind.APP, "telegram", "t3l3gr4m"),
        ("kamu t3l3gr4m aja", FindingKind.OBFUSCATION, Obfuscation.LEET, "t3l3gr4m"),
        ("chat w.a aku", FindingKind.APP, "whatsapp", "w.a"),
        ("ᴛᴇʟᴇ aja", FindingKind.APP, "telegram", "ᴛᴇʟᴇ"),
        ("T E L E gram kak", FindingKind.APP, "telegram", "T E L E gram"),
        ("T E L E gram kak", FindingKind.OBFUSCATION, Obfuscation.SPLIT_LETTERS, "T E L E gram"),
        ("no 0812 3456 7890 ya", FindingKind.PHONE, "[PHONE]", "0812 3456 7890"),
        ("hub 0813-xxxx-xxxx", FindingKind.PHONE, "[PHONE]", "0813-xxxx-xxxx"),
        (
            "kosong lapan satu dua tiga empat lima enam tujuh lapan sembilan ya",
            FindingKind.PHONE,
            "[PHONE]",
            "kosong lapan satu dua tiga empat lima enam tujuh lapan sembilan",
        ),
        ("0️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣9️⃣ aktif", FindingKind.PHONE, "[PHONE]", "0️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣9️⃣"),
        ("cek wa.me/6281234567890 ya", FindingKind.URL, "[URL]", "wa.me/6281234567890"),
        ("cek wa.me/6281234567890 ya", FindingKind.APP, "whatsapp", "wa.me/6281234567890"),
        ("klik bit(.)ly/abc kak", FindingKind.URL, "[URL]", "bit(.)ly/abc"),
        ("klik bit(.)ly/abc kak", FindingKind.OBFUSCATION, Obfuscation.LINK, "(.)"),
        ("follow @budi_x ya", FindingKind.HANDLE, "[HANDLE]", "@budi_x"),
        ("mail ke a.b@gmail.com", FindingKind.EMAIL, "[EMAIL]", "a.b@gmail.com"),
        ("💬 ijo aku", FindingKind.APP, "whatsapp", "💬 ijo"),
        ("ВОКЕР murah", FindingKind.OBFUSCATION, Obfuscation.HOMOGLYPH, "ВОКЕР"),
        ("𝐒𝐋𝐎𝐓𝟖𝟖 gacor", FindingKind.OBFUSCATION, Obfuscation.FANCY_UNICODE, "𝐒𝐋𝐎𝐓𝟖𝟖"),
        ("s̶l̶o̶t̶ gacor", FindingKind.OBFUSCATION, Obfuscation.COMBINING_MARKS, "s̶l̶o̶t̶"),
        ("vi ci es yuk", FindingKind.OBFUSCATION, Obfuscation.SPLIT_LETTERS, "vi ci es"),
    ],
)
def test_findings_have_the_raw_span_of_their_evidence(builtin, raw, kind, value, covered) -> None:
    trace = builtin.trace(raw)
    start = raw.index(covered)
    spans = [(f.start, f.end) for f in trace.findings if f.kind == kind and f.value == value]
    assert spans, f"no {kind} {value} in {trace.findings}"
    # together the findings cover what produced them (combining marks: each mark, after its letter)
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    assert first <= start + (kind == FindingKind.OBFUSCATION) and start + len(covered) - 1 <= last
    assert all(0 <= s < e <= len(raw) for s, e in spans)


def test_invisible_characters_are_found_where_they_are(builtin) -> None:
    raw = "t\u200be\u200bl\u200be"
    trace = builtin.trace(raw)
    invisible = [f for f in trace.findings if f.value == Obfuscation.INVISIBLE]
    assert [raw[f.start : f.end] for f in invisible] == ["\u200b"] * 3
    assert [(f.start, f.end) for f in trace.findings if f.kind == FindingKind.APP] == [(0, len(raw))]


def test_unchanged_words_map_to_themselves(builtin) -> None:
    raw = "Halo   KAKAK, mantap"
    trace = builtin.trace(raw)
    assert trace.normalized.text == "halo kakak, mantap"
    for word in ("halo", "kakak", "mantap"):
        i = trace.normalized.text.index(word)
        assert trace.raw_span(i, i + len(word)) == (
            raw.lower().index(word),
            raw.lower().index(word) + len(word),
        )


def test_findings_serialise_with_the_raw_text(builtin) -> None:
    raw = "wa 0812 3456 7890"
    payload = [f.to_dict(raw) for f in builtin.trace(raw).findings]
    assert {"kind": "phone", "value": "[PHONE]", "start": 3, "end": 17, "text": "0812 3456 7890"} in payload
    assert all(p["text"] == raw[p["start"] : p["end"]] for p in payload)


def test_trace_rejects_non_str(builtin) -> None:
    with pytest.raises(TypeError, match="expects a str"):
        builtin.trace(b"bytes")  # type: ignore[arg-type]


def test_trace_of_a_capped_message_stays_in_the_kept_part(builtin) -> None:
    raw = "wa " * (MAX_INPUT_CHARS // 2)
    trace = builtin.trace(raw)
    assert trace.normalized == builtin(raw)
    assert all(0 <= s < e <= MAX_INPUT_CHARS for s, e in trace.offsets)


# --- properties ----------------------------------------------------------------------------------------

# Characters the normaliser rewrites heavily: fancy Unicode, keycaps, look-alikes, invisibles, marks,
# leet digits, separators, symbols for letters, emoji that stand for apps, placeholders' brackets.
_HEAVY = (
    "abcdeilostw0123456789 .-_*|~+@$!/:()[]"
    "𝐒𝐋𝐎𝐓𝟖ｆｕⓐ🅐ᴛᴇʟ❶🔟\u20e3\ufe0f🇼🇦ВОКЕРаеорс\u200b\u00ad\u202e\x00\n\u0336\u0301é💬✈🔗📞ΣİＡ"
)
_WORDS = [
    "wa",
    "tele",
    "gram",
    "ig",
    "08",
    "0812",
    "62",
    "kosong",
    "lapan",
    "satu",
    "dua",
    "dot",
    "com",
    "me",
    "x",
]
heavy_text = st.lists(
    st.one_of(st.text(alphabet=_HEAVY, max_size=8), st.sampled_from(_WORDS)), max_size=12
).map(" ".join)


def _check_trace(normalizer: Normalizer, raw: str) -> None:
    trace = normalizer.trace(raw)
    assert trace.normalized == normalizer(raw)
    assert len(trace.offsets) == len(trace.normalized.text)
    for start, end in trace.offsets:
        assert 0 <= start <= end <= len(raw)
    for finding in trace.findings:
        assert 0 <= finding.start < finding.end <= len(raw)
        assert raw[finding.start : finding.end].strip(), finding  # evidence is never only whitespace
    for i, char in enumerate(trace.normalized.text):
        start, end = trace.offsets[i]
        if char.isalnum() and char.isascii():
            assert start < end and raw[start:end].strip(), (char, raw[start:end])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), heavy_text))
def test_every_span_is_in_bounds_for_any_string(raw: str) -> None:
    _check_trace(_builtin(), raw)


_PIECES = {
    # raw piece -> (finding kind, value) it must produce, wherever it stands in a message
    "t3l3gr4m": (FindingKind.APP, "telegram"),
    "w.a": (FindingKind.APP, "whatsapp"),
    "ᴛᴇʟᴇ": (FindingKind.APP, "telegram"),
    "0812 3456 7890": (FindingKind.PHONE, "[PHONE]"),
    "0857-1122-3344": (FindingKind.PHONE, "[PHONE]"),
    "https://bit.ly/abc": (FindingKind.URL, "[URL]"),
    "@budi_x": (FindingKind.HANDLE, "[HANDLE]"),
    "𝐒𝐋𝐎𝐓": (FindingKind.OBFUSCATION, Obfuscation.FANCY_UNICODE),
}
_FILLER = ["kak", "ya", "dong", "halo", "cek", "aku", "😊", "mantap!!", "yuk", "sini"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_FILLER), max_size=4),
    st.sampled_from(sorted(_PIECES)),
    st.lists(st.sampled_from(_FILLER), max_size=4),
    st.sampled_from([" ", "  ", ", ", "\n"]),
)
def test_findings_cover_the_characters_that_produced_them(before, piece, after, sep) -> None:
    head = sep.join(before) + (sep if before else "")
    raw = head + piece + (sep if after else "") + sep.join(after)
    _check_trace(_builtin(), raw)
    kind, value = _PIECES[piece]
    start, end = len(head), len(head) + len(piece)
    found = [f for f in _builtin().trace(raw).findings if f.kind == kind and f.value == value]
    assert any(f.start <= start and end <= f.end for f in found), (raw, found)
    # and the span does not run into the filler: it stays inside the piece and its separators
    assert all(re.fullmatch(r"[\s,]*", raw[f.start : start] + raw[end : f.end]) for f in found)


_BUILTIN: list[Normalizer] = []


def _builtin() -> Normalizer:
    if not _BUILTIN:
        _BUILTIN.append(Normalizer())
    return _BUILTIN[0]
