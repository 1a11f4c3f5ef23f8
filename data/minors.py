"""``minor_signal``: does a message reveal or target a child? (rules over the normalised text)

Grooming of minors is the gravest harm Tegur sees and the one a moderator most needs escalated, so the
signal is a transparent rule set rather than a fifth learned label: every hit names its evidence, and
its precision and recall are measured on hand-written lines kept out of training
(``data/eval/minors_test.jsonl``; see ``data/ANNOTATION.md``, section on minors).

The signal fires on any of:

- an **age under 18** stated or given ("umur 14", "aku 15 thn", "13yo", "baru 12 tahun");
- a **school level** of a child ("masih SMP", "anak SD", "kelas 8", "kls 2 SMA", "MTs", "pulang sekolah
  dek"): a university "adik tingkat" or "kelas online" is not one;
- **secrecy from parents** ("jangan bilang mama", "rahasia kita berdua ya, ortu gak usah tau");
- an **age or school question aimed at the reader** together with a child address or a grooming cue
  ("umur brp dek?", "kelas berapa? nanti aku kasih pulsa");
- a **child address** ("dek", "adek", "bocil", "nak") together with a grooming cue (a private chat or
  call, a move to another app, gifts, credit or money offered, a photo request).

``grooming_cue`` is reported on its own: the enforcement path escalates a message to a human when the
minor signal co-occurs with a flagged solicitation or redirection, or with a grooming cue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from data.normalize import Normalizer, normalize

_AGE_NUMBER = r"(?:[1-9]|1[0-7])"
_AGE_RE = re.compile(
    rf"\b(?:umur|umurku|umurnya|usia|usiaku|usianya|age)\s*(?:ku|aku|gw|gue|saya|nya)?\s*(?:baru|masih|udah|udh)?\s*"
    rf"{_AGE_NUMBER}\b(?!\s*(?:bulan|bln|hari|minggu|mgg|jam|menit))"
    rf"|\b{_AGE_NUMBER}\s*(?:th|thn|tahun|taun|yo|y\.o|yrs?)\b"
    r"(?!\s*(?:lalu|yg lalu|yang lalu|kerja|nikah|menikah))"
    rf"|\b(?:umur|usia)\w*\s*(?:baru|masih)?\s*{_AGE_NUMBER}\s*an\b|\b{_AGE_NUMBER}\s*y/o\b"
    r"|\blahir\w*\s+(?:tahun\s+|thn\s+|th\s+)?20(?:09|1[0-9]|2[0-6])\b"
    rf"|\b(?:aku|gw|gue|saya|adikku|adek ?ku|anakku|anak ?ku)\s+(?:baru|masih)?\s*{_AGE_NUMBER}"
    r"\s*(?:th|thn|tahun|taun)?\b"
    rf"(?=\s*(?:$|[,.!?]|kak|bang|om|tante|mas|mba|loh|lho|kok|sih|doang|aja))"
)
_SCHOOL_RE = re.compile(
    r"\b(?:masih|anak|murid|siswa|siswi|lulus|baru masuk|kelas|kls)\s*(?:sd|smp|sma|smk|mts|mi|ma|paud|tk)\b"
    r"|\b(?:sd|smp|sma|smk|mts)\s*(?:kelas|kls)\s*[1-9]\b"
    r"|(?<!dulu )(?<!dulu di )\b(?:kelas|kls)\s*"
    r"(?:[1-9]|1[0-2]|satu|dua|tiga|empat|lima|enam|tujuh|delapan|sembilan|sepuluh)\b"
    r"(?!\s*(?:bisnis|online|menulis|masak|yoga|private|privat|karyawan|ekonomi|vip|reguler))"
    r"|\b(?:sdn?|smpn?|sman?|smkn?|mtsn?)\s*(?:negeri\s*)?[0-9]{1,3}\b"
    r"|\b(?:pulang sekolah|belum lulus sekolah|uang jajan|pr sekolah|bolos sekolah|masih sekolah|"
    r"juara kelas|kakak kelas|adik kelas|temen sekelas|teman sekelas|wali kelas|tugas sekolah)\b"
    r"|\bseragam\b(?!\s*(?:kerja|kantor|karyawan|dinas|ojol|satpam|perawat|tentara|polisi|tim|futsal))"
    r"|\b(?:di ?bawah umur|belum cukup umur|anak kecil|bocah|bocil)\b"
    r"|\b(?:rok|baju|tas|sepatu|buku|topi|dasi)\s+sekolah\b"
)
_PARENT = (
    r"(?:mama|mamah|mamamu|papa|papah|papamu|ibu|ibumu|bapak|bapakmu|ayah|ayahmu|ortu|ortumu|orang ?tua|"
    r"orang ?tuamu|emak|mamak|abah|umi|abi|bunda)"
)
_SECRECY_RE = re.compile(
    r"\b(?:jangan|jgn|jngn|gak usah|ga usah|gausah|nggak usah|ngga usah|ndak usah|gk usah)\s+"
    r"(?:bilang|kasih tau|kasih tahu|kasitau|cerita|lapor|ngadu|kasi tau|kabarin)\w*\s+(?:\w+\s+)?"
    r"(?:mama|mamah|mamamu|papa|papah|papamu|ibu|ibumu|bapak|bapakmu|ayah|ayahmu|ortu|ortumu|orang ?tua|"
    r"emak|mamak|abah|umi|abi|bunda|kakakmu|guru)\b"
    r"|\b(?:mama|papa|ibu|bapak|ayah|ortu|orang ?tua|emak)\w*\s+(?:gak|ga|jangan|jgn|nggak|gk)\s+"
    r"(?:boleh|usah|perlu)\s+"
    r"(?:tau|tahu)\b"
    r"|\brahasia\s+(?:kita|berdua|kita berdua)\b|\bchat rahasia\b"
    r"|\b(?:hapus|apus)\w*\s+(?:chat|chatnya|pesan|pesannya|history)\b.{0,30}"
    r"\b(?:ortu|mama|papa|ibu|bapak|orang ?tua)\b"
    rf"|\b{_PARENT}\s+(?:ga|gak|nggak|ngga|jangan|jgn|gk|tidak|tdk|gausah)\s+(?:\w+\s+)?"
    r"(?:liat|lihat|tau|tahu|nanya|tanya|curiga)\b"
    rf"|\b(?:kalo|kalau|klo)\s+{_PARENT}\s+(?:nanya|tanya)\w*\s+bilang\b"
    rf"|\brahasia\w*\s+(?:\w+\s+)?(?:dari|ke)\s+{_PARENT}\b"
    r"|\b(?:jangan|jgn)\s+bilang\w*\s+(?:ke\s+)?(?:siapa2|siapa-siapa|siapa siapa|siapapun|sapa2)\b"
)
_SCHOOL_CONTEXT_RE = re.compile(
    r"\b(?:sekolah|kelas|seragam|tugas|guru|bekal|jajan|ujian|rapor|raport|ekskul|pramuka|upacara)\b"
)
#: Adult life next to "dek": a younger adult sibling or colleague, not a child.
_ADULT_CONTEXT_RE = re.compile(
    r"\b(?:kos|kost|kosan|kuliah|kampus|semester|wisuda|skripsi|kantor|gaji|nikah|suami|istri|ktp|sim)\b"
)
_CHILD_ADDRESS_RE = re.compile(r"\b(?:dek|adek|adk|dik|adik|dedek|dede|bocil|cil|nak|ade)(?:2|-\w+)?\b")
_AGE_QUESTION_RE = re.compile(
    r"\b(?:umur|usia|umurnya|umurmu|usiamu)\s*(?:kamu|km|lu|lo|mu)?\s*(?:berapa|brp|brapa|brpa)\b"
    r"|\b(?:kelas|kls)\s*(?:berapa|brp|brapa)\b|\bsekolah\s*(?:dimana|di mana|dmn|kelas)\b"
    r"|\b(?:masih\s+sekolah|udah\s+lulus)\s*(?:belum|blm|gak|ga)?\s*\?"
)
_GROOMING_CUE_RE = re.compile(
    r"\b(?:om|oom|tante)\s+(?:kasih|kirim|transfer|tf|beliin|jemput|ajak|tunggu|mau|pengen|suka)\w*\b"
    r"|\b(?:pc|dm|inbox|japri|chat aku|chat gw|chat saya|privat|private|berdua(?:an)?|vc|vcs|video ?call|"
    r"call|telpon|telepon|nelpon|pap|foto|fotoin|kirimin foto|buka baju|kamera|cam)\b"
    r"|\b(?:whatsapp|telegram|line|snapchat|instagram|michat|kakaotalk|discord)\b|\[phone\]|\[handle\]"
    r"|\b(?:pulsa|diamond|dm ?ff|skin|top ?up|topup|uang jajan|duit|uang|gift|hadiah|saldo|dana|gopay|ovo|"
    r"voucher|kuota|robux)\b.{0,30}\b(?:kasih|kirim|beliin|dapet|dapat|transfer|tf)\b"
    r"|(?<!terima )\b(?:kasih|kirim|beliin|kuberi|aku beri|ku kasih|tak kasih|dapet|dapat)\w*\b.{0,30}"
    r"\b(?:pulsa|diamond|"
    r"skin|top ?up|topup|uang jajan|duit|uang|gift|hadiah|saldo|kuota|robux|voucher)\b"
)


@dataclass(frozen=True)
class MinorSignal:
    """The decision and what it rests on (``evidence``: the matched pieces of the normalised text)."""

    flag: bool
    grooming_cue: bool
    reasons: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


def _hits(pattern: re.Pattern[str], text: str) -> list[str]:
    return [m.group(0) for m in pattern.finditer(text)]


def minor_signal(text: str, *, normalizer: Normalizer | None = None) -> MinorSignal:
    """Whether ``text`` (raw) reveals or targets a child, with reasons and evidence."""
    normalized = (normalizer(text) if normalizer is not None else normalize(text)).text
    return minor_signal_normalized(normalized)


def minor_signal_normalized(normalized: str) -> MinorSignal:
    """:func:`minor_signal` on text the normaliser already produced (lower-case, placeholders)."""
    text = normalized.lower()
    found: dict[str, list[str]] = {
        "age_under_18": _hits(_AGE_RE, text),
        "school_level": _hits(_SCHOOL_RE, text),
        "secrecy_from_parents": _hits(_SECRECY_RE, text),
    }
    cue = _hits(_GROOMING_CUE_RE, text)
    address = _hits(_CHILD_ADDRESS_RE, text)
    question = _hits(_AGE_QUESTION_RE, text)
    if question and (address or cue):
        found["age_question_to_child"] = question + address
    if address and cue and not _ADULT_CONTEXT_RE.search(text):
        found["child_address_with_grooming_cue"] = address + cue
    school = _hits(_SCHOOL_CONTEXT_RE, text)
    if address and school and not _ADULT_CONTEXT_RE.search(text):
        found["child_address_with_school_context"] = address + school
    reasons = tuple(name for name, hits in found.items() if hits)
    evidence = tuple(dict.fromkeys(hit.strip() for name in reasons for hit in found[name]))
    return MinorSignal(flag=bool(reasons), grooming_cue=bool(cue), reasons=reasons, evidence=evidence)


#: Labels that, next to a minor signal, send a message to a human on the critical path.
ESCALATING_LABELS = frozenset({"sexual_solicitation", "off_platform_redirection"})
#: Reasons that escalate on their own: an adult working on a child even when the classifier is unsure.
_ESCALATING_REASONS = frozenset({"secrecy_from_parents", "child_address_with_grooming_cue"})


def escalates(signal: MinorSignal, flagged: Iterable[str]) -> bool:
    """Whether a message goes to the critical, human-reviewed path (never automated enforcement).

    It does when the minor signal co-occurs with a flagged solicitation or redirection, or when the
    signal itself is secrecy from parents or a child address with a grooming cue.
    """
    if not signal.flag:
        return False
    return bool(ESCALATING_LABELS.intersection(map(str, flagged))) or bool(
        _ESCALATING_REASONS.intersection(signal.reasons)
    )
