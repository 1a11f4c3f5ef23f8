"""One loader per public source, plus the curated-set loader.

A loader reads a source's files exactly as fetched (``data/raw/<source>/``), repairs the encoding quirks
of that file format, and maps the source's columns to Tegur labels as ``data/sources.yaml`` documents.
It never reads personal-data columns (ids, authors, usernames). The text it yields is the raw message
(emoji decoded, anonymisation tokens turned into a mention / link); normalisation is not its job.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import emoji

from data.config import (
    AbusiveOnly,
    DropOrClean,
    IbrohimPlainHs,
    MappingConfig,
    OpinionTopics,
    PartnerRental,
    SmsPromo,
)
from data.sources import Source, SourceFile, verify_file
from data.taxonomy import Label, Surface, parse_labels, parse_surface
from tegur.errors import DataError

CURATED_SOURCE = "curated"
CURATED_LICENSE = "Apache-2.0"

_B = Label.BULLYING
_S = Label.SEXUAL_SOLICITATION
_P = Label.PITY_BAIT
_R = Label.OFF_PLATFORM_REDIRECTION


@dataclass(frozen=True)
class RawRecord:
    """A message as a loader read it, before dedup and splitting.

    ``excluded`` names the mapping rule that leaves the row out (e.g. ``abusive_only=drop``). Excluded rows
    still take part in dedup so that a policy applies to every copy of a message, not only to the copy
    in the source that happens to win.
    """

    id: str
    text: str
    labels: tuple[Label, ...]
    source: str
    surface: Surface
    license: str
    annotated: tuple[Label, ...] | None = None
    family: str | None = None
    augmented: bool = False
    excluded: str | None = None


@dataclass(frozen=True)
class _Context:
    source: Source
    paths: dict[str, Path]  # manifest file name -> path on disk
    mapping: MappingConfig

    def record(
        self,
        file: SourceFile,
        row: int,
        text: str,
        labels: tuple[Label, ...] | None,
        *,
        annotated: tuple[Label, ...] | None = None,
        excluded: str | None = None,
    ) -> RawRecord:
        """``labels=None`` means the mapping drops the row (``excluded`` says why)."""
        return RawRecord(
            id=f"{self.source.name}:{file.name}:{row}",
            text=text,
            labels=_ordered(labels or ()),
            source=self.source.name,
            surface=file.surface or self.source.surface,
            license=self.source.license,
            annotated=_ordered(annotated if annotated is not None else tuple(self.source.annotates)),
            excluded=excluded if labels is None else None,
        )


def _ordered(labels: tuple[Label, ...] | list[Label]) -> tuple[Label, ...]:
    return tuple(label for label in Label if label in labels)


# ---------------------------------------------------------------------------------------------------
# Text repair shared by the Twitter sets


_NON_ASCII_RUN = re.compile(rb"[\x80-\xff][\x80-\xff?]*")
_LITERAL_BYTES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_ANON_USER = re.compile(r"\bUSER\b")
_ANON_URL = re.compile(r"\bURL\b")


def decode_mixed(raw: bytes) -> str:
    """Decode a file that is declared latin-1 but holds stray UTF-8.

    A run of non-ASCII bytes that is valid UTF-8 is decoded as such; a run with ``?`` inside is UTF-8 whose
    C1 bytes were replaced by ``?`` upstream and cannot be recovered (dropped); anything else is latin-1.
    """

    def repl(match: re.Match[bytes]) -> bytes:
        run = match.group(0)
        try:
            return run.decode("utf-8").encode("utf-8")
        except UnicodeDecodeError:
            pass
        if b"?" in run:
            return b" "
        return run.decode("latin-1").encode("utf-8")

    return _NON_ASCII_RUN.sub(repl, raw).decode("utf-8")


def decode_byte_escapes(text: str) -> str:
    r"""Turn literal ``\xf0\x9f\x98\x82`` escape text back into the UTF-8 characters it spells."""

    def repl(match: re.Match[str]) -> str:
        data = bytes(int(h, 16) for h in match.group(0).split("\\x")[1:])
        return data.decode("utf-8", errors="ignore")

    return _LITERAL_BYTES.sub(repl, text)


def clean_tweet(text: str, mapping: MappingConfig) -> str:
    """Undo the storage quirks of the ibrohim / local-abusive tweet files."""
    text = decode_byte_escapes(text)
    text = text.replace("\\n", "\n").replace("\\r", "").replace("\\t", " ")
    if text.endswith("'"):  # residue of a bytes repr b'...' whose prefix was cut
        text = text[:-1]
    if mapping.anonymised_tokens_to_placeholders:
        text = _ANON_USER.sub("@user", text)
        text = _ANON_URL.sub("http://url", text)
    return text.strip()


_CP1252_SPECIALS = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_MOJIBAKE_RUN = re.compile(f"[\u00c2-\u00f4][\u0080-\u00bf{_CP1252_SPECIALS}]+")


def fix_mojibake(text: str) -> str:
    """Repair UTF-8 that was decoded as cp1252 (``ðŸ˜‚`` -> ``😂``), run by run; leave other runs alone."""

    def repl(match: re.Match[str]) -> str:
        run = match.group(0)
        data = bytearray()
        for ch in run:
            try:
                data += ch.encode("cp1252")
            except UnicodeEncodeError:
                data.append(ord(ch))  # bytes cp1252 leaves undefined came through as latin-1
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return run

    return _MOJIBAKE_RUN.sub(repl, text)


# ---------------------------------------------------------------------------------------------------
# Rules (documented in data/sources.yaml and data/DATASHEET.md)

#: A push off the platform: a link, a phone number, a chat app or DM, or a bank account.
CONTACT = re.compile(
    r"""
    https?://(?!(?:www\.)?(?:pic\.)?twitter\.com)\S+
    | \bwww\.\S+
    | \b(?:bit\.ly|wa\.me|t\.me|s\.id|linktr\.ee)/\S*
    | \b[a-z0-9-]+\.(?:com|net|org|co\.id|id|me|ly|info|biz|xyz|site|online|vip|link|webs|blogspot)\b
      (?<!twitter\.com)
    | (?:\+?62\s?|\b0)8\d{1,3}(?:[\s.-]?\d{2,5}){2,3}
    | \b0[2-7]\d{1,2}\s?-?\s?\d{5,8}\b
    | \b(?:wa|whatsapp|whatsap|watsap|telegram|tele|line|bbm|dm|inbox|pin\s*bb)\b
    | \b(?:rek|rekening\w*|norek|no\.?\s*rek)\b | \ba/n\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_PITY_REQUEST = re.compile(
    r"\b(?:tolong|tlg|tlng|tlong|kirim\w*|krm\w*|beli\w*|bli\w*|isi\w*|transfer\w*|pangmeserkeun"
    r"|pangmeulikeun|esian|tukokno)\b",
    re.IGNORECASE,
)
_PITY_GIFT = re.compile(r"\b(?:pulsa\w*|pls|plz|ulsa|uang\w*|duit)\b", re.IGNORECASE)
_PITY_STORY = re.compile(
    r"\b(?:mama\w*|mah|ma|papa|ayah|bapak|bapa|bpa|bpk|ibu|kak|mas|nak|de|sayang|yank|penting|penring"
    r"|penteng|polisi|rumah\s+sakit|kecelakaan|(?:no|nomor|nmr|nomer)\s+bar\w*|baru\w*"
    r"|hp\s+(?:orang|orng|temen|teman|tmn)|pinjam|pnjam)\b",
    re.IGNORECASE,
)
_PROMO = re.compile(
    r"hadiah|pemenang|undian|agen|www|http|klik|daftar|harga|gratis|promo|diskon|bonus|togel|\.com",
    re.IGNORECASE,
)


#: Swear words and insults (Indonesian, Javanese, Sundanese, political slurs). Screens rows of the emotion and
#: sentiment sources, whose annotators never judged abuse, before they are used as clean examples.
PROFANITY = re.compile(
    r"""\b(?:
    anj(?:i|e)n?g\w* | anjir\w* | anjay\w* | bangsat\w* | goblo[kg]\w* | tolol\w* | kontol\w* | babi\w*
    | bego\w* | bodoh\w* | brengsek\w* | bajingan\w* | kampret\w* | asu | asw | jancu?k\w* | cuk | memek\w*
    | ngentot\w* | keparat\w* | sialan\w* | idiot\w* | dungu\w* | tai | taik | bacot\w* | cebong\w*
    | kadrun\w* | lonte\w* | pelacur\w* | sinting\w* | biadab\w* | laknat\w*
    | bangke | belegug | goblog\w* | kunyuk
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)


def is_political(text: str) -> bool:
    return POLITICAL.search(text) is not None


# riccosan_emotion_opinion rules (documented in data/sources.yaml and data/DATASHEET.md)
_STRONG_CONTACT = re.compile(
    r"https?://\S+|\bwww\.\S+|(?:\+?62\s?|\b0)8\d{1,3}(?:[\s.-]?\d{2,5}){2,3}"
    r"|\b(?:pin\s*(?:bb)?|bbm)\s*:?\s*[0-9a-f]{7,8}\b",
    re.IGNORECASE,
)


def _words(*alternatives: str) -> re.Pattern[str]:
    """Case-insensitive match of any of the alternatives as a whole word."""
    return re.compile(rf"\b(?:{'|'.join(alternatives)})\b", re.IGNORECASE)


#: Politics and government: offices, institutions, parties, elections, the 2014-2019 politicians and the
#: partisan nicknames. Keeps the topic-matched rows of the opinion sources; measures the topic skew.
POLITICAL = _words(
    r"presiden\w*",
    r"pemerintah\w*",
    "partai",
    "capres",
    "cawapres",
    "pilpres",
    "pilkada",
    "pemilu",
    "kpu",
    "bawaslu",
    r"dpr\w*",
    "mpr",
    "menteri",
    "kabinet",
    "gubernur",
    "wagub",
    "pejabat",
    "penguasa",
    "rezim",
    "istana",
    "oposisi",
    "kpk",
    "polri",
    "polisi",
    "fpi",
    "hti",
    "pki",
    "khilafah",
    "pdip?",
    "gerindra",
    "pks",
    "demokrat",
    "jokowi",
    "prabowo",
    "ahok",
    "anies",
    r"sandi\w*",
    "sby",
    "ma.ruf",
    "amien",
    "fadli",
    "fahri",
    "megawati",
    "rizieq",
    "hrs",
    "cebong",
    "kampret",
    "kecebong",
)
_COMMERCE = _words(
    r"jual",
    r"jualan\s+\w+",
    r"order\w*",
    "open",
    "ready",
    "fee",
    "payment",
    r"testi\w*",
    "murah",
    "harga",
    r"\d+\s?k",
    r"rp\.?",
    "wts",
    "garansi",
    "diskon",
    r"slot\w*",
    r"daftar\w*",
    "joki",
    "hubungi",
    "e-wallet",
    "ovo",
    "gopay",
    "proses",
    "trusted",
    "minat",
    "dp",
)
_CUSTOMER_SERVICE = _words(
    r"sobat\s+\w+",
    "bpk/ibu",
    "bapak/ibu",
    r"mohon\s+maaf",
    r"mohon\s+kesediaan",
    r"akun\s+resmi",
    "mengatasnamakan",
    r"data\s+rahasia",
    r"kami\s+respon",
    r"centang\s+biru",
    r"privasi\s+pelanggan",
    r"ketidaknyaman\w*",
    "hati-hati",
)
_RENTAL = _words(
    r"avail\w*",
    "available",
    "dirent",
    "rent",
    "hourly",
    r"carrd\w*",
    r"regular\s+only",
    "faceclaim",
    r"side\s+fc\w*",
    "convobuild",
    "talkactive",
    "talkative",
)
_RENTAL_ROLE = _words(
    "sender",
    r"pacar\w*",
    "date",
    "partner",
    r"pasangan\w*",
    "pda",
    "nsfw",
    "bucin",
    "convobuild",
    "clingy",
    "agensi",
    "faceclaim",
    r"fc\w*",
    "mami",
    "gxg",
    "bxb",
    "rls",
    "relationship",
    r"carrd\w*",
    "card",
)
_CARRD = _words(r"carrd\w*")
_SEXUAL_OFFER = _words(
    "nsfw",
    r"dirty\s*talk",
    "dirtytalk",
    "frontal",
    "sexting",
    "vcs",
    r"open\s*bo",
    "bo",
    "include",
    "exclude",
)
# kiipiiin_judol_livechat: togel promos the source labelled 0, viewers' complaints it labelled 1
_LIVECHAT_PROMO = re.compile(r"angka\s*terbalik\s*di\s*bayar|^\W*100\s*rb\s*geratis", re.IGNORECASE)
_LIVECHAT_COMPLAINT = _words(r"blokir\w*", "jangan", r"m?eng?ganggu", "menganggu", "asu+", "nggawe", "spam")


def has_profanity(text: str) -> bool:
    return PROFANITY.search(text) is not None


def is_partner_rental_ad(text: str) -> bool:
    """A rent-a-partner roleplay ad ("avail hari ini", "hourly rent", "cek carrd aku", "regular only")."""
    return bool(_RENTAL.search(text) and _RENTAL_ROLE.search(text))


def offers_sex(text: str) -> bool:
    return _SEXUAL_OFFER.search(text) is not None


def is_promo_with_contact(text: str) -> bool:
    """Sells something and pushes a contact: a number, PIN or link, or a chat app / DM next to a sales word.

    The sales word is needed because "wa", "line" and "dm" are everyday words in tweets.
    """
    if not pushes_off_platform(text) or _CUSTOMER_SERVICE.search(text):
        return False
    return bool(_STRONG_CONTACT.search(text) or _COMMERCE.search(text))


def pushes_off_platform(text: str) -> bool:
    return CONTACT.search(text) is not None


def is_pity_bait_sms(text: str) -> bool:
    """The "mama minta pulsa" scam: a request for credit/money, a kin or trouble cue, no promo marker."""
    return bool(
        _PITY_REQUEST.search(text)
        and _PITY_GIFT.search(text)
        and _PITY_STORY.search(text)
        and not _PROMO.search(text)
    )


def _abusive_only(mapping: MappingConfig) -> tuple[tuple[Label, ...] | None, str | None]:
    if mapping.abusive_only is AbusiveOnly.BULLYING:
        return (_B,), None
    if mapping.abusive_only is AbusiveOnly.CLEAN:
        return (), None
    return None, "abusive_only=drop"


def _drop_or_clean(
    ctx: _Context, file: SourceFile, row: int, text: str, policy: DropOrClean, rule: str
) -> RawRecord:
    if policy is DropOrClean.DROP:
        return ctx.record(file, row, text, None, excluded=f"{rule}=drop")
    return _unjudged_clean(ctx, file, row, text)


def _unjudged_clean(
    ctx: _Context, file: SourceFile, row: int, text: str, *, annotated: tuple[Label, ...] | None = None
) -> RawRecord:
    """A row of a source that labels emotion or sentiment, not abuse, and that the mapping calls clean."""
    if ctx.mapping.profanity_screen and has_profanity(text):
        return ctx.record(file, row, text, None, excluded="profanity_screen")
    if ctx.mapping.opinion_topics is OpinionTopics.POLITICAL and not is_political(text):
        return ctx.record(file, row, text, None, excluded="opinion_topics=political")
    return ctx.record(file, row, text, (), annotated=annotated)


_EMOJI_CODE = re.compile(r":([a-z0-9_]+):")


def _emoji_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for char, data in emoji.EMOJI_DATA.items():
        for name in (data["en"], *data.get("alias", [])):
            table.setdefault(re.sub(r"[^a-z0-9]+", "_", name.strip(":").lower()).strip("_"), char)
    return table


_EMOJI_BY_NAME: dict[str, str] = {}


def decode_emoji_codes(text: str) -> str:
    """``:fire:`` / ``:smiling_face_with_heart_eyes:`` (YouTube's export) -> the emoji; unknown codes stay."""
    if not _EMOJI_BY_NAME:
        _EMOJI_BY_NAME.update(_emoji_table())
    return _EMOJI_CODE.sub(lambda m: _EMOJI_BY_NAME.get(m.group(1), m.group(0)), text)


_TOKENISED_PUNCT = re.compile(r" ([.,!?;:)\]%])|([(\[]) ")


def detokenise(text: str) -> str:
    """Undo the spacing around punctuation of a tokenised corpus ("enak , murah ." -> "enak, murah.")."""
    return _TOKENISED_PUNCT.sub(lambda m: m.group(1) or m.group(2), text).strip()


# ---------------------------------------------------------------------------------------------------
# File readers


def _read_text(path: Path, encoding: str = "utf-8") -> str:
    raw = path.read_bytes()
    if encoding == "mixed":
        return decode_mixed(raw)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid {encoding} ({exc.reason} at byte {exc.start})") from None


def _csv_rows(
    path: Path,
    columns: tuple[str, ...],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    quoting: int = csv.QUOTE_MINIMAL,
    header: tuple[str, ...] | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (data row number, row) with the named columns; fail naming file and row on a malformed row.

    ``header`` names the columns of a file that has no header line.
    """
    reader = csv.reader(
        io.StringIO(_read_text(path, encoding), newline=""), delimiter=delimiter, quoting=quoting
    )
    if header is None:
        first = next(reader, None)
        if first is None:
            raise DataError(f"{path}: empty file, expected a header with {', '.join(columns)}")
        header = tuple(h.strip().lstrip("\ufeff") for h in first)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: header {list(header)} lacks column(s) {', '.join(missing)}")
    index = {c: header.index(c) for c in columns}
    for row_no, row in enumerate(reader, start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:row {row_no}: expected {len(header)} fields, got {len(row)}")
        yield row_no, {c: row[i] for c, i in index.items()}


def _flag(value: str, *, path: Path, row: int, column: str, allowed: tuple[str, ...] = ("0", "1")) -> str:
    value = value.strip()
    if value not in allowed:
        raise DataError(
            f"{path}:row {row}: column {column!r} is {value!r}; expected one of {', '.join(allowed)}"
        )
    return value


# ---------------------------------------------------------------------------------------------------
# Loaders


#: ibrohim2019 hate-speech categories about who the target is (HS_Other is "anything else").
IBROHIM_IDENTITY_COLUMNS = ("HS_Religion", "HS_Race", "HS_Physical", "HS_Gender")


def _load_ibrohim2019(ctx: _Context) -> Iterator[RawRecord]:
    columns = ("Tweet", "HS", "Abusive", *IBROHIM_IDENTITY_COLUMNS)
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        for row_no, row in _csv_rows(path, columns, encoding="mixed"):
            hs = _flag(row["HS"], path=path, row=row_no, column="HS")
            abusive = _flag(row["Abusive"], path=path, row=row_no, column="Abusive")
            identity = [_flag(row[c], path=path, row=row_no, column=c) for c in IBROHIM_IDENTITY_COLUMNS]
            text = clean_tweet(row["Tweet"], ctx.mapping)
            if hs == "1" and abusive == "0" and "1" not in identity:
                yield _ibrohim_plain_hs(ctx, file, row_no, text)
            elif hs == "1":
                yield ctx.record(file, row_no, text, (_B,))
            elif abusive == "1":
                labels, why = _abusive_only(ctx.mapping)
                yield ctx.record(file, row_no, text, labels, excluded=why)
            else:
                yield ctx.record(file, row_no, text, ())


def _ibrohim_plain_hs(ctx: _Context, file: SourceFile, row_no: int, text: str) -> RawRecord:
    policy = ctx.mapping.ibrohim_plain_hs
    if policy is IbrohimPlainHs.BULLYING:
        return ctx.record(file, row_no, text, (_B,))
    if policy is IbrohimPlainHs.CLEAN:
        return ctx.record(file, row_no, text, ())
    return ctx.record(file, row_no, text, None, excluded="ibrohim_plain_hs=drop")


def _load_ibrohim2018(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        for row_no, row in _csv_rows(path, ("Label", "Tweet")):
            label = _flag(row["Label"], path=path, row=row_no, column="Label", allowed=("1", "2", "3"))
            text = clean_tweet(row["Tweet"], ctx.mapping)
            if label == "3":
                yield ctx.record(file, row_no, text, (_B,))
            elif label == "2":
                labels, why = _abusive_only(ctx.mapping)
                yield ctx.record(file, row_no, text, labels, excluded=why)
            else:
                yield ctx.record(file, row_no, text, ())


def _load_local_abusive(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        for row_no, row in _csv_rows(path, ("isi_tweet", "uk", "hs")):
            hs = _flag(row["hs"], path=path, row=row_no, column="hs")
            uk = _flag(row["uk"], path=path, row=row_no, column="uk")
            text = clean_tweet(row["isi_tweet"], ctx.mapping)
            if hs == "1":
                yield ctx.record(file, row_no, text, (_B,))
            elif uk == "1":
                labels, why = _abusive_only(ctx.mapping)
                yield ctx.record(file, row_no, text, labels, excluded=why)
            else:
                yield ctx.record(file, row_no, text, ())


def _load_blob(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        folder = file.path.split("/")[-2]
        labels: tuple[Label, ...]
        if folder == "negative_impact":
            labels = (_B,)
        elif folder == "normal":
            labels = ()
        else:
            raise DataError(f"{file.path}: unknown blob_toxic_chat folder {folder!r}")
        for line_no, line in enumerate(_read_text(ctx.paths[file.name]).splitlines(), start=1):
            if line.strip():
                yield ctx.record(file, line_no, line.strip(), labels)


def _load_hs_longtext(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        for row_no, row in _csv_rows(path, ("text", "label")):
            label = _flag(row["label"], path=path, row=row_no, column="label")
            yield ctx.record(file, row_no, row["text"].strip(), (_B,) if label == "1" else ())


def _load_sms_rahmi(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        for row_no, row in _csv_rows(path, ("teks", "label")):
            label = _flag(row["label"], path=path, row=row_no, column="label", allowed=("0", "1", "2"))
            text = row["teks"].strip()
            if label == "0":
                yield ctx.record(file, row_no, text, ())
            elif label == "1":
                if ctx.mapping.pity_bait_rule and is_pity_bait_sms(text):
                    yield ctx.record(file, row_no, text, (_P,))
                elif pushes_off_platform(text):
                    yield ctx.record(file, row_no, text, (_R,))
                else:
                    yield ctx.record(file, row_no, text, None, excluded="fraud_without_push")
            else:
                yield _sms_promo(ctx, file, row_no, text)


def _sms_promo(ctx: _Context, file: SourceFile, row_no: int, text: str) -> RawRecord:
    policy = ctx.mapping.sms_promo
    if policy is SmsPromo.DROP:
        return ctx.record(file, row_no, text, None, excluded="sms_promo=drop")
    if policy is SmsPromo.REDIRECTION or (
        policy is SmsPromo.REDIRECTION_IF_CONTACT and pushes_off_platform(text)
    ):
        return ctx.record(file, row_no, text, (_R,))
    return ctx.record(file, row_no, text, ())


def _load_sms_bopbi(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        text = _read_text(ctx.paths[file.name]).strip()
        if not text:
            continue
        if pushes_off_platform(text):
            yield ctx.record(file, 1, text, (_R,))
        else:
            yield ctx.record(file, 1, text, None, excluded="spam_without_push")


def _load_judol(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        # comment_id and author are personal data: not even read into a variable.
        for row_no, row in _csv_rows(path, ("comment_text", "label")):
            label = _flag(row["label"], path=path, row=row_no, column="label")
            yield ctx.record(file, row_no, row["comment_text"].strip(), (_R,) if label == "1" else ())


def _load_prostitution(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        # id, date and username are personal data: not read.
        for row_no, row in _csv_rows(path, ("tweet", "status")):
            status = _flag(row["status"], path=path, row=row_no, column="status")
            text = fix_mojibake(row["tweet"]).strip()
            if status == "1":
                labels: tuple[Label, ...] = (_S,)
                if ctx.mapping.solicitation_redirection_rule and pushes_off_platform(text):
                    labels = (_S, _R)
                yield ctx.record(file, row_no, text, labels)
            else:
                yield ctx.record(file, row_no, text, (), annotated=(_S,))


_SAPUTRI_CLEAN = ("happy", "sadness", "fear", "love")
_SAPUTRI_TOKENS = (("[USERNAME]", "@user"), ("[URL]", "http://url"))


def _load_saputri(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        for row_no, row in _csv_rows(path, ("label", "tweet")):
            label = _flag(
                row["label"], path=path, row=row_no, column="label", allowed=("anger", *_SAPUTRI_CLEAN)
            )
            text = row["tweet"].strip()
            if ctx.mapping.anonymised_tokens_to_placeholders:
                for token, placeholder in _SAPUTRI_TOKENS:
                    text = text.replace(token, placeholder)
            if label == "anger":
                yield _drop_or_clean(ctx, file, row_no, text, ctx.mapping.emotion_anger, "emotion_anger")
            else:
                yield _unjudged_clean(ctx, file, row_no, text)


def _load_riccosan(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        emotion = Path(file.path).stem.removesuffix("Data")  # AngerData.csv -> Anger
        rows = _csv_rows(path, ("Tweet", "Label"), delimiter="\t", quoting=csv.QUOTE_NONE)
        for row_no, row in rows:
            _flag(row["Label"], path=path, row=row_no, column="Label", allowed=(emotion,))
            text = row["Tweet"].strip()
            if emotion == "Anger":
                yield _drop_or_clean(ctx, file, row_no, text, ctx.mapping.emotion_anger, "emotion_anger")
            else:
                yield _riccosan_row(ctx, file, row_no, text)


def _riccosan_row(ctx: _Context, file: SourceFile, row_no: int, text: str) -> RawRecord:
    mapping = ctx.mapping
    # a carrd is a link-in-bio page: "cek carrd aku" sends the reader off the platform like "cek bio"
    pushes = pushes_off_platform(text) or _CARRD.search(text) is not None
    offer = (_S, _R) if pushes else (_S,)
    every = tuple(Label)
    if is_partner_rental_ad(text):
        if mapping.partner_rental is PartnerRental.SOLICITATION or (
            mapping.partner_rental is PartnerRental.SOLICITATION_IF_NSFW and offers_sex(text)
        ):
            return ctx.record(file, row_no, text, offer, annotated=every)
        return ctx.record(file, row_no, text, None, excluded=f"partner_rental={mapping.partner_rental.value}")
    if mapping.opinion_promo_rule and is_promo_with_contact(text):
        if offers_sex(text):  # "yg mau bo ... dm aja", "ready slot include/exclude"
            return ctx.record(file, row_no, text, offer, annotated=every)
        return ctx.record(file, row_no, text, (_R,), annotated=(_B, _R))
    return _unjudged_clean(ctx, file, row_no, text)


_SENTIMENT = {"positive": "clean", "neutral": "clean", "negative": "negative"}


def _sentiment_row(ctx: _Context, file: SourceFile, row_no: int, text: str, polarity: str) -> RawRecord:
    if _SENTIMENT[polarity] == "negative":
        return _drop_or_clean(ctx, file, row_no, text, ctx.mapping.sentiment_negative, "sentiment_negative")
    return _unjudged_clean(ctx, file, row_no, text)


def _load_smsa(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        rows = _csv_rows(
            path, ("text", "label"), delimiter="\t", quoting=csv.QUOTE_NONE, header=("text", "label")
        )
        for row_no, row in rows:
            label = _flag(row["label"], path=path, row=row_no, column="label", allowed=tuple(_SENTIMENT))
            yield _sentiment_row(ctx, file, row_no, detokenise(row["text"]), label)


_POSNEG = {"1": "positive", "0": "neutral", "-1": "negative"}


def _load_rayendito(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        for row_no, row in _csv_rows(path, ("norm", "posneg")):
            value = _flag(
                row["posneg"].removesuffix(".0"),
                path=path,
                row=row_no,
                column="posneg",
                allowed=tuple(_POSNEG),
            )
            yield _sentiment_row(ctx, file, row_no, row["norm"].strip(), _POSNEG[value])


_SENTIMEN = {"positif": "positive", "netral": "neutral", "negatif": "negative"}


def _load_habibul08(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        for row_no, row in _csv_rows(path, ("sentimen", "tweet")):
            value = _flag(row["sentimen"], path=path, row=row_no, column="sentimen", allowed=tuple(_SENTIMEN))
            yield _sentiment_row(ctx, file, row_no, fix_mojibake(row["tweet"]).strip(), _SENTIMEN[value])


def _load_judol_livechat(ctx: _Context) -> Iterator[RawRecord]:
    for file in ctx.source.data_files():
        path = ctx.paths[file.name]
        # datetime and author_name (YouTube display names) are personal data: not read.
        for row_no, row in _csv_rows(path, ("message", "label")):
            label = _flag(row["label"], path=path, row=row_no, column="label")
            text = row["message"].strip()
            if ctx.mapping.emoji_shortcodes:
                text = decode_emoji_codes(text)
            promo = label == "1"
            if ctx.mapping.livechat_promo_relabel:
                if promo and _LIVECHAT_COMPLAINT.search(text):
                    promo = False
                elif not promo and _LIVECHAT_PROMO.search(text):
                    promo = True
            yield ctx.record(file, row_no, text, (_R,) if promo else ())


LOADERS: dict[str, Callable[[_Context], Iterator[RawRecord]]] = {
    "ibrohim2019": _load_ibrohim2019,
    "ibrohim2018": _load_ibrohim2018,
    "local_abusive_jv_su": _load_local_abusive,
    "blob_toxic_chat": _load_blob,
    "hs_longtext_nofaulia": _load_hs_longtext,
    "sms_spam_rahmi": _load_sms_rahmi,
    "sms_spam_bopbi": _load_sms_bopbi,
    "judol_gbennnn": _load_judol,
    "prostitution_twitter_laksito": _load_prostitution,
    "saputri_emotion_twitter": _load_saputri,
    "riccosan_emotion_opinion": _load_riccosan,
    "indonlu_smsa": _load_smsa,
    "rayendito_vaccine_tweets": _load_rayendito,
    "habibul08_pilpres2019_tweets": _load_habibul08,
    "kiipiiin_judol_livechat": _load_judol_livechat,
}


def load_source(
    source: Source, raw_dir: str | Path, mapping: MappingConfig, *, verify: bool = True
) -> list[RawRecord]:
    """Read one source's data files from ``raw_dir/<source>/`` and map them to Tegur labels.

    Raises:
        DataError: A file is missing (run ``tegur data fetch``), fails its checksum or is malformed.
    """
    loader = LOADERS.get(source.name)
    if loader is None:
        raise DataError(f"no loader for source {source.name!r}; known: {', '.join(LOADERS)}")
    folder = Path(raw_dir) / source.name
    paths: dict[str, Path] = {}
    for file in source.data_files():
        path = folder / file.name
        if not path.is_file():
            raise DataError(
                f"{path} not found: fetch the sources first (tegur data fetch --mirror ../shared/data), "
                "or point data.raw_dir at the folder that holds them"
            )
        if verify:
            verify_file(path, file.sha256, what=str(path))
        paths[file.name] = path
    return list(loader(_Context(source, paths, mapping)))


# ---------------------------------------------------------------------------------------------------
# Curated set


def load_curated(curated_dir: str | Path) -> list[RawRecord]:
    """Read every ``*.jsonl`` of the curated folder (sorted by name).

    Each line: ``id``, ``text``, ``labels`` (label names), ``surface``, ``family`` and optionally
    ``augmented``. Raises :class:`DataError` naming file and line on the first bad line or duplicate id.
    """
    curated_dir = Path(curated_dir)
    if not curated_dir.is_dir():
        raise DataError(f"curated folder not found: {curated_dir} (set data.curated_dir, or null for none)")
    records: list[RawRecord] = []
    seen: dict[str, str] = {}
    for path in sorted(curated_dir.glob("*.jsonl")):
        with open(path, "rb") as fh:
            for line_no, raw in enumerate(fh, start=1):
                where = f"{path}:{line_no}"
                if not raw.strip():
                    continue
                record = _parse_curated(raw, where)
                if record.id in seen:
                    raise DataError(f"{where}: duplicate id {record.id!r} (first at {seen[record.id]})")
                seen[record.id] = where
                records.append(record)
    return records


def _parse_curated(raw: bytes, where: str) -> RawRecord:
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not valid UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("id", "text", "labels", "family"):
        if key not in row:
            raise DataError(f"{where}: missing {key!r}")
    if not isinstance(row["id"], str) or not row["id"].strip():
        raise DataError(f"{where}: 'id' must be a non-empty string, got {row['id']!r}")
    if not isinstance(row["text"], str) or not row["text"].strip():
        raise DataError(f"{where}: 'text' must be a non-empty string")
    if not isinstance(row["family"], str) or not row["family"].strip():
        raise DataError(f"{where}: 'family' must be a non-empty string, got {row['family']!r}")
    augmented = row.get("augmented", False)
    if not isinstance(augmented, bool):
        raise DataError(f"{where}: 'augmented' must be true or false, got {augmented!r}")
    return RawRecord(
        id=f"{CURATED_SOURCE}:{row['id']}",
        text=row["text"],
        labels=tuple(parse_labels(row["labels"], where=where)),
        source=CURATED_SOURCE,
        surface=parse_surface(row.get("surface", Surface.COMMENT.value), where=where),
        license=CURATED_LICENSE,
        annotated=None,
        family=row["family"].strip(),
        augmented=augmented,
    )
