"""The text normaliser shared by training and inference.

Obfuscation is how these harms get past filters: 𝐒𝐋𝐎𝐓𝟖𝟖, ｆｕｌｌ-ｗｉｄｔｈ letters, 0️⃣8️⃣1️⃣2️⃣ keycaps,
t3l3gr4m, "T E L E", "w.a", zero-width characters, "bangeeeet", alay slang. :class:`Normalizer` undoes
them and returns the model input (:attr:`Normalized.text`) next to the untouched raw text and a few
features (:class:`TextFeatures`).

What ``text`` is, step by step:

1. Unicode: NFKC compatibility folding, done as NFKD, accent stripping and NFC (mathematical,
   full-width, circled, squared letters and digits become ASCII), plus what NFKC misses: keycaps
   (``8️⃣`` -> ``8``, ``🔟`` -> ``10``), negative circled / squared letters and dingbat digits, lone
   regional-indicator letters (``🇼 🇦``; a pair is a flag and is kept), small capitals, every Unicode
   decimal digit (``٠٨١٢`` Arabic-Indic, ``०८`` Devanagari), and look-alike letters of other scripts
   (the Unicode TR39 confusables plus a hand-written table): a word is folded when all its letters
   read as ASCII (``ВОКЕР``, ``вса`` -> ``bca``), or when a Cyrillic / Greek word, read by look and
   by sound, spells a word the normaliser knows (``теле``, ``τελεγραμ``); ``привет`` stays.
   Zero-width and other format characters,
   variation selectors (so ZWJ emoji sequences fall apart into their emoji), control characters and
   lone surrogates are removed; accents are stripped (``é`` -> ``e``). Emoji are kept.
2. Lowercase; whitespace collapsed to single spaces; a punctuation mark or emoji repeated 4+ times
   is cut to 3.
3. Leetspeak is decoded only inside words that mix letters and digits, with the digits inside the
   word (``t3l3gr4m``, ``s3x``) or a leading zero (``0rder``), so that numbers, prices and codes
   (``50rb``, ``10k``, ``slot88``, ``hati2``, ``toto4d``, ``2024``) survive. It runs before contacts
   are looked for, so that a digit that stands for a letter is not read as part of a number.
4. Contacts become placeholders (personal data stays out of the model input): e-mail addresses
   ``[EMAIL]``, links ``[URL]`` (a link to a chat app keeps the app's name: ``wa.me/62..`` ->
   ``whatsapp [URL]``), Indonesian mobile numbers and ``+`` international numbers ``[PHONE]``
   (digits may be split by spaces, dots or dashes, spelled out with colloquial words: "kosong lapan
   se dua ...", mixed with digits: "08 satu dua 3 ...", or partly masked: "0813-xxxx-xxxx",
   "+62 8xx xxx xxx", "0812****5678"; a run of number words is a phone only when it reads as an
   08.. / 628.. number of 10-13 digits, so "satu dua orang" stays), a number of 7-15 digits after
   📞 ☎ 📱 ``[PHONE]`` too, ``@handles`` ``[HANDLE]`` (``ig@budi``: the app, then the handle).
   The literal placeholders are kept, so normalised text normalises to itself.
5. Words: single letters split by spaces, dots, dashes, underscores, ``*``, ``|``, ``~`` or ``+`` are
   joined when at least two letters run together (``T E L E`` -> ``tele``, ``v.c.s`` -> ``vcs``);
   symbols that stand for letters are decoded (``b@ngsat``, ``telegr@m``, ``vc$``, ``$lot``, ``b!o``,
   ``s|ot``, ``€nak``; see :meth:`Normalizer._decode_symbols`: handles, prices, ``mantap!!`` and
   emoticons stay); leetspeak is decoded once more (``t 3 l 3`` is only now a word); then every
   whole token goes through one word map: chat-app aliases to a canonical name (``wa``/``w.a``/
   ``watsap`` -> ``whatsapp``, ``tele``/``tg`` -> ``telegram``, ``ig`` -> ``instagram``) and alay
   slang to standard Indonesian (``yg`` -> ``yang``). A token is what spaces and punctuation
   delimit; letters joined by a symbol that can hide or censor a letter (``! @ $ | ' * ~``) are one
   token, so ``wa'alaikum`` or ``d!e`` are never mapped piece by piece. Slang never writes a sexual
   word that its key does not spell (``vcs`` stays ``vcs``: see :data:`_EXPLICIT_WORDS`). A letter
   repeated 3+ times is cut to 2 (``maaaaf`` -> ``maaf``), or to 1
   where that gives a known word (``bangeeeet`` -> ``banget``, ``gakkk`` -> ``gak`` -> ``tidak``);
   doubled letters as written are left alone (``saat``, ``massa``). Apps said aloud or spelled
   loosely become their names as whole tokens only (``w/a``, ``we a``, ``wa es`` -> ``whatsapp``;
   ``mi-chat``; ``vi ci es`` -> ``vcs``; never inside ``wanita`` or ``teleskop``). Emoji become words
   only next to what names the app (``💬 ijo`` -> ``whatsapp``, ``✈ @budi`` -> ``telegram [HANDLE]``;
   ``✈️ otw bali`` stays) or where they have one sense (``🔗`` -> ``link``). Links, e-mail addresses
   and handles that only the decoded words reveal become placeholders too, and the word steps run
   again until the text settles (:meth:`Normalizer._settle`).

The function is idempotent (``N(N(x).text).text == N(x).text``), never raises on a ``str`` and caps
its work at :data:`MAX_INPUT_CHARS` characters per message.
"""

from __future__ import annotations

import csv
import functools
import itertools
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from data.offsets import Span, TrackedText, merge, union
from data.unicode_tables import TRANSLITERATION, confusable_table, digit_table
from tegur.errors import DataError

logger = logging.getLogger(__name__)

#: Bump whenever the output of :class:`Normalizer` changes; stored in model artifacts.
NORMALIZER_VERSION = "2"

#: Only the first this many characters of a message are normalised (a LIVE chat line is at most a few
#: hundred); ``features.truncated`` says when the rest was dropped. ``text`` never exceeds it either.
MAX_INPUT_CHARS = 10_000


class Placeholder(StrEnum):
    """Tokens that replace contact details in :attr:`Normalized.text`."""

    PHONE = "[PHONE]"
    URL = "[URL]"
    HANDLE = "[HANDLE]"
    EMAIL = "[EMAIL]"


class Obfuscation(StrEnum):
    """Kinds of obfuscation the normaliser undid; any of them sets :attr:`TextFeatures.obfuscated`."""

    FANCY_UNICODE = "fancy_unicode"  # mathematical, full-width, circled, small-capital letters or digits
    KEYCAP = "keycap"  # 0️⃣8️⃣ digits
    INVISIBLE = "invisible"  # zero-width, format or control characters inside a word
    HOMOGLYPH = "homoglyph"  # Cyrillic / Greek look-alike letters in a Latin word
    COMBINING_MARKS = "combining_marks"  # strike-through, enclosing or stacked marks (z̶a̶l̶g̶o̶)
    LEET = "leet"  # t3l3gr4m
    SPLIT_LETTERS = "split_letters"  # T E L E, w.a, tele gram
    LINK = "link"  # bit(.)ly, wa dot me
    NUMBER_WORDS = "number_words"  # a phone number spelled out in words
    EMOJI_WORD = "emoji_word"  # an emoji for an app or a link: 💬 ijo, ✈ @handle, 🔗


#: Canonical chat-app names and the spellings (after de-obfuscation) that mean them.
APP_ALIASES: Mapping[str, tuple[str, ...]] = {
    "whatsapp": (
        "wa", "whatsapp", "whatsap", "watsapp", "watsap", "wasap", "wassap", "whatapp", "watshap",
        "whatshap", "wazap", "whasapp", "whassap", "wasapp", "wtsp",
    ),
    "telegram": (
        "tele", "telegram", "telegrm", "telgram", "tlgrm", "tlgr", "tg", "tgram", "telegrem", "tlgram",
        "telgrm",
    ),
    "line": ("line",),
    "instagram": ("ig", "insta", "instagram", "instagrm", "instgram", "instag"),
    "michat": ("michat", "mchat", "micat", "michet", "micet"),
    "facebook": ("fb", "facebook", "fesbuk", "fbook"),
    "twitter": ("twitter", "twiter", "twt"),
    "snapchat": ("snapchat",),
    "discord": ("discord",),
    "wechat": ("wechat",),
    "onlyfans": ("onlyfans",),
    "youtube": ("youtube", "yt", "yutub"),
    "bigo": ("bigo",),
    "tinder": ("tinder",),
}  # fmt: skip

#: Link hosts that belong to a chat app: the link becomes ``<app> [URL]``.
_URL_HOST_APPS: Mapping[str, str] = {
    "wa.me": "whatsapp", "api.whatsapp.com": "whatsapp", "chat.whatsapp.com": "whatsapp",
    "whatsapp.com": "whatsapp", "wa.link": "whatsapp",
    "t.me": "telegram", "telegram.me": "telegram", "telegram.org": "telegram", "telegram.dog": "telegram",
    "line.me": "line", "lin.ee": "line",
    "instagram.com": "instagram", "instagr.am": "instagram",
    "facebook.com": "facebook", "fb.com": "facebook", "fb.me": "facebook", "m.me": "facebook",
    "twitter.com": "twitter", "x.com": "twitter",
    "discord.gg": "discord", "discord.com": "discord",
    "onlyfans.com": "onlyfans",
    "youtube.com": "youtube", "youtu.be": "youtube",
}  # fmt: skip

#: The built-in alay / chat slang map, used when no external map is given. Conventions follow the
#: public alay dictionaries (``gw`` -> ``gue``, ``tp`` -> ``tetapi``) so that a map merged from them
#: stays consistent; slurs are expanded, not censored, because they are the signal.
BUILTIN_SLANG: Mapping[str, str] = {
    # negation and common function words
    "gk": "tidak", "ga": "tidak", "gak": "tidak", "ngga": "tidak", "nggak": "tidak", "engga": "tidak",
    "enggak": "tidak", "kagak": "tidak", "tdk": "tidak", "g": "tidak", "gaada": "tidak ada",
    "gpp": "tidak apa apa", "yg": "yang", "dgn": "dengan", "dg": "dengan", "utk": "untuk",
    "untk": "untuk", "blm": "belum", "udh": "sudah", "udah": "sudah", "sdh": "sudah", "dah": "sudah",
    "krn": "karena", "karna": "karena", "tp": "tetapi", "tpi": "tetapi", "jg": "juga", "aja": "saja",
    "aj": "saja", "sj": "saja", "bs": "bisa", "bsa": "bisa", "gmn": "bagaimana", "gimana": "bagaimana",
    "knp": "kenapa", "kpn": "kapan", "dmn": "dimana", "sm": "sama", "sma": "sama", "lg": "lagi",
    "lgi": "lagi", "klo": "kalau", "kalo": "kalau", "klu": "kalau", "trs": "terus", "trus": "terus",
    "bkn": "bukan", "jd": "jadi", "jdi": "jadi", "skrg": "sekarang", "skrng": "sekarang",
    "bsk": "besok", "kmrn": "kemarin", "msh": "masih", "masi": "masih", "emg": "memang",
    "emang": "memang", "dr": "dari", "dri": "dari", "d": "di", "n": "dan", "y": "iya", "cm": "cuma",
    "cuman": "cuma", "kyk": "kayak", "kek": "kayak", "gitu": "begitu", "gt": "begitu", "gtu": "begitu",
    "gini": "begini", "sblm": "sebelum", "stlh": "setelah", "sampe": "sampai", "ntar": "nanti",
    "nnti": "nanti", "bntr": "sebentar", "bentar": "sebentar", "slalu": "selalu", "bnyk": "banyak",
    "byk": "banyak", "bgt": "banget", "bngt": "banget", "bener": "benar", "bnr": "benar",
    # people and address
    "sy": "saya", "aq": "aku", "ak": "aku", "gw": "gue", "gua": "gue", "lu": "kamu", "lo": "kamu",
    "elu": "kamu", "km": "kamu", "kmu": "kamu", "u": "kamu", "kk": "kakak", "kak": "kakak",
    "bg": "abang", "org": "orang", "orng": "orang", "ortu": "orang tua", "tmn": "teman",
    "temen": "teman", "syg": "sayang", "yank": "sayang", "cwk": "cewek", "cowo": "cowok",
    "cwo": "cowok", "adm": "admin",
    # verbs and requests
    "mw": "mau", "mo": "mau", "pgn": "ingin", "pengen": "ingin", "pingin": "ingin", "liat": "lihat",
    "lht": "lihat", "pake": "pakai", "pke": "pakai", "bls": "balas", "bales": "balas",
    "pls": "tolong", "plis": "tolong", "tlg": "tolong", "bantuin": "bantu", "tau": "tahu",
    "makasih": "terima kasih", "makasi": "terima kasih", "mksh": "terima kasih", "thx": "terima kasih",
    "tq": "terima kasih", "trims": "terima kasih",
    # contact, money and promotion
    "nmr": "nomor", "nomer": "nomor", "norek": "nomor rekening", "hp": "handphone", "tf": "transfer",
    "trf": "transfer", "ib": "inbox", "lnk": "link", "wd": "withdraw", "depo": "deposit",
    "jp": "jackpot",
    # "vcs" is not expanded: it also reads "version control system" (see _EXPLICIT_WORDS)
    "vc": "video call",
    # insults written short to dodge filters
    "ajg": "anjing", "anjg": "anjing", "bgst": "bangsat", "bgsd": "bangsat", "kntl": "kontol",
    "mmk": "memek", "gblk": "goblok", "goblog": "goblok", "tll": "tolol", "bdh": "bodoh",
}  # fmt: skip

#: Known words beyond the slang map: the leet decoder prefers them when a ``1`` could be ``i`` or ``l``
#: (``s1ot`` -> ``slot``), and an elongated word is cut down onto them (``slooot`` -> ``slot``).
_LEXICON = frozenset({
    "slot", "link", "klik", "login", "online", "live", "lonte", "jual", "bokep", "kontol", "colmek",
    "lendir", "bio", "follow", "like", "saldo", "gratis", "pulsa", "hadiah", "bonus", "deposit", "withdraw",
    "gacor", "maxwin", "jackpot", "judi", "togel", "scatter", "admin", "sange", "open", "booking", "video",
    "call", "sex", "sakit", "tolong", "sumbang", "donasi", "gift", "sawer", "saweran", "kasihan", "lapar",
    "miskin", "utang", "hutang", "biaya", "berobat", "operasi", "rumah", "kamar", "hotel", "janda", "tante",
    "om", "daftar", "promo", "diskon", "cuan", "modal", "mantap", "anjing", "babi", "goblok", "tolol",
    "bodoh", "jelek", "mati", "ngentot", "entot", "memek", "pepek", "jembut", "perek", "coli", "crot",
    "bangsat", "kampret", "bajingan", "telanjang", "bugil", "desah", "montok", "toket", "pijat", "plus",
    "vcs", "kiss", "girl",
})  # fmt: skip

#: Sexual words. A slang entry may write one only where its key already spells it, consonants in
#: order (``kntl`` -> ``kontol``, ``snge`` -> ``sange``): an abbreviation or a lookalike word that
#: also has an innocent reading must not put an explicit word into innocent text (``vcs`` is also
#: "version control system", ``eww`` is disgust, not ``ngewe``). Such keys stay as written and the
#: model learns them from context. The rule holds for the built-in map and for every external one.
_EXPLICIT_WORDS = frozenset({
    "sex", "seks", "seksual", "sexy", "kontol", "memek", "pepek", "puki", "ngentot", "entot", "ngewe",
    "ewe", "bokep", "coli", "colmek", "crot", "toket", "tetek", "telanjang", "bugil", "sange", "horny",
    "porno", "porn", "bercinta", "mesum", "pelacur", "lonte", "perek", "jablay", "bispak", "jembut",
    "penis", "vagina", "payudara", "onani", "masturbasi", "desah",
})  # fmt: skip

# --- Unicode tables ------------------------------------------------------------------------------------

# Private-use characters that stand for the placeholders while the text is worked on. They are not
# word characters, so no later step can glue them to a word.
_SENTINEL = {
    Placeholder.PHONE: "\ue000",
    Placeholder.URL: "\ue001",
    Placeholder.HANDLE: "\ue002",
    Placeholder.EMAIL: "\ue003",
}
_SENTINELS = "".join(_SENTINEL.values())
_SENTINEL_RE = re.compile(f"[{_SENTINELS}]")
_LITERAL_PLACEHOLDER_RE = re.compile(r"\[(PHONE|URL|HANDLE|EMAIL)\]")

# Format characters (Unicode category Cf: zero-width space / joiners, bidi marks, soft hyphen, word
# joiner, BOM, tag characters, ...), variation selectors and the combining grapheme joiner.
_FORMAT_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180B, 0x180F), (0x200B, 0x200F),
    (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    (0xE0100, 0xE01EF),
)  # fmt: skip
# Control characters that are not whitespace (whitespace controls become spaces).
_CONTROL_RANGES = ((0x00, 0x08), (0x0E, 0x1B), (0x7F, 0x84), (0x86, 0x9F))
_WHITESPACE_CONTROLS = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85"


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


_INVISIBLE_CLASS = _char_class((*_FORMAT_RANGES, *_CONTROL_RANGES))
_INVISIBLE_IN_WORD_RE = re.compile(f"(?<=[^\\W_])[{_INVISIBLE_CLASS}]+(?=[^\\W_])")
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


_SMALL_CAPITALS = {
    ord(c): letter for c, letter in zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz", strict=True)
}


def _build_translation() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for lo, hi in (*_FORMAT_RANGES, *_CONTROL_RANGES, (0xD800, 0xDFFF)):
        table.update(dict.fromkeys(range(lo, hi + 1)))
    table.update({ord(c): " " for c in _WHITESPACE_CONTROLS})
    for i, letter in enumerate("abcdefghijklmnopqrstuvwxyz"):
        table[0x1F150 + i] = letter  # negative circled 🅐
        table[0x1F170 + i] = letter  # negative squared 🅰
    table.update(_SMALL_CAPITALS)
    for i in range(10):
        table[0x2776 + i] = str(i + 1)  # dingbat negative circled ❶
        table[0x2780 + i] = str(i + 1)  # dingbat circled sans-serif ➀
        table[0x278A + i] = str(i + 1)  # dingbat negative circled sans-serif ➊
        table[0x24EB + i] = str(i + 11)  # negative circled ⓫
    table[0x24FF] = "0"  # negative circled ⓿
    table[0x1F51F] = "10"  # keycap ten 🔟
    return table


_TRANSLATION = _build_translation()
_ASCII_TABLE = {i: _TRANSLATION[i] for i in range(0x80) if i in _TRANSLATION}
_FANCY_TAGS = ("<font>", "<wide>", "<circle>", "<square>", "<narrow>", "<small>")

_KEYCAP_RE = re.compile("([0-9#*])\ufe0f?\u20e3")
_REGIONAL = "\U0001f1e6-\U0001f1ff"
_REGIONAL_RE = re.compile(f"[{_REGIONAL}]")
_LONE_REGIONAL_RE = re.compile(f"(?<![{_REGIONAL}])[{_REGIONAL}](?![{_REGIONAL}])")

# Cyrillic and Greek letters that look like Latin ones, on top of the Unicode confusables
# (:func:`data.unicode_tables.confusable_table`), which this table overrides where they differ. A
# word is folded only when every letter of it reads as ASCII, or when its look-alike or phonetic
# reading is a word the normaliser knows (see :meth:`Normalizer._fold_script_word`), so that genuine
# Cyrillic or Greek words are left alone.
_HOMOGLYPHS = str.maketrans(
    "АВЕКМНОРСТУХІЈЅҮҺӀԀԚԜаеорсухіјѕһԁԛԝӏкмтΑΒΕΖΗΙΚΜΝΟΡΤΥΧοικνρτυχ",
    "ABEKMHOPCTYXIJSYHIDQWaeopcyxijshdqwlkmtABEZHIKMNOPTYXoikvptux",
)
_WORD_RE = re.compile(r"[^\W_]+")
_CYRILLIC_GREEK_RE = re.compile("[\u0370-\u03ff\u0400-\u04ff]")
_CYRILLIC_GREEK_RUN_RE = re.compile("[\u0370-\u03ff\u0400-\u04ff]+")


@functools.cache
def _unicode_tables() -> tuple[dict[int, str | None], dict[int, str], frozenset[str]]:
    """The full translation table (with every Unicode digit), the look-alike table and its letters."""
    translation = {**digit_table(), **_TRANSLATION}
    homoglyphs = {**confusable_table(), **{code: chr(letter) for code, letter in _HOMOGLYPHS.items()}}
    # a set, not a character class: a class of 1,400 scattered letters is slow to search
    return translation, homoglyphs, frozenset(map(chr, homoglyphs))


_STRIPPED_MARKS = "\u0300-\u036f\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_MARKS_RE = re.compile(f"[{_STRIPPED_MARKS}]+")
_ZALGO_RE = re.compile(f"[\u0334-\u0338\u20dd-\u20e4]|[{_STRIPPED_MARKS}]{{2,}}")

_REPEATED_SYMBOL_RE = re.compile(f"([^\\w\\s{_SENTINELS}])\\1{{3,}}")

# --- Contacts ------------------------------------------------------------------------------------------

_TLDS = (
    "com|net|org|id|me|ly|io|gg|cc|xyz|link|site|online|top|vip|info|biz|app|live|club|store|shop|tv|to|"
    "pro|ee|gl|gd|ws|asia|fun|win|bet|games|casino|mobi|tk|cloud|space|website|icu|cfd|sbs|lat|buzz|"
    "monster|cyou|click|pw|best|bond|today|world|tech"
)
_URL_CHARS = f"[^\\s<>\"'{_SENTINELS}]"
_URL_RE = re.compile(
    f"(?:(?:https?|ftp)://|www\\.){_URL_CHARS}+"
    f"|(?<![\\w@./\\-])(?:[a-z0-9\\-]+\\.)+(?:{_TLDS})(?![\\w\\-])(?!\\.[a-z0-9])(?:[/?#]{_URL_CHARS}*)?"
)
# Cheap tests that skip the costly patterns on the common message that has nothing for them.
_URL_HINT_RE = re.compile(r"\.[a-z0-9]|://")
# What the two patterns below cannot match without: one search instead of two substitutions.
_LINK_HINT_CHARS = ("(", "[", "{", "<", "dot", "titik")
_LINK_HINT_RE = re.compile(r"[(\[{<]\s?(?:\.|dot|titik)|\s(?:dot|titik)\s")
_SHORTLINK_HINT_RE = re.compile(r"\.\s?(?:me|id|ly|ee|link)\s?/")
_URL_TRAILING = ".,!?;:)]}'\"*"
_URL_HOST_RE = re.compile(r"(?:[a-z]+://)?(?:www\.)?([^/?#:@]*)")
_BRACKETED_DOT_RE = re.compile(
    r"(?<=[a-z0-9])\s?(?:[(\[{<]\s?(?:\.|dot|titik)\s?[)\]}>]"
    f"|\\s(?:dot|titik)\\s(?=(?:{_TLDS})(?:/|\\s|$)))\\s?(?=[a-z0-9])"
)
_SPACED_SHORTLINK_RE = re.compile(
    r"(?<![a-z0-9])(wa|t|s|bit|lynk|heylink|linktr|lin|line)\s?\.\s?(me|id|ly|ee|link)\s?/\s?(?=[a-z0-9])"
)
_EMAIL_RE = re.compile(
    r"(?<![a-z0-9._%+\-])[a-z0-9._%+\-]{1,64}@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,24}(?![a-z0-9\-])"
)
_APP_ALIAS = "|".join(sorted({a for aliases in APP_ALIASES.values() for a in aliases}, key=len, reverse=True))
_APP_HANDLE_RE = re.compile(f"(?<![a-z0-9])({_APP_ALIAS})@(?=[a-z0-9_])")
# "@a@b" is matched whole: a lookbehind on the first handle's last letter would hide the second.
_HANDLE_RE = re.compile(r"(?<![\w@.])@[a-z0-9_.]+(?:@[a-z0-9_.]*)*")
# A run of digit groups: "0812-3456-7890", "+62 (812) 345 678", "0 8 1 2 ...".
_DIGIT_RUN_RE = re.compile(r"(?<![0-9])\(?\+?[0-9]+\)?(?:[ .\-]{1,2}\(?[0-9]+\)?)*")
_DIGIT_GROUP_RE = re.compile(r"\(?(\+?[0-9]+)\)?")
_MOBILE_RE = re.compile(r"(?:0|62)8[0-9]{8,11}")
# Digits as said in chat, colloquial forms included ("kosong lapan", "se"): a run of them is a phone
# number only when it reads as one (08.. / 628.., 10-13 digits), so "satu dua orang" stays words.
_NUMBER_WORDS = {
    "nol": "0", "kosong": "0", "nul": "0", "satu": "1", "se": "1", "siji": "1", "dua": "2", "tiga": "3",
    "empat": "4", "pat": "4", "lima": "5", "enam": "6", "nem": "6", "tujuh": "7", "tuju": "7",
    "delapan": "8", "lapan": "8", "dlapan": "8", "sembilan": "9", "smbilan": "9",
}  # fmt: skip
_NUMBER_WORD = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_NUMBER_TOKEN = f"(?:(?:{_NUMBER_WORD})(?![a-z])|[0-9])"
_SPELLED_NUMBER_RE = re.compile(
    f"(?<![a-z0-9]){_NUMBER_TOKEN}(?:[ .,\\-]{{0,2}}{_NUMBER_TOKEN}){{8,15}}(?![a-z0-9])"
)
_SPELLED_TOKEN_RE = re.compile(_NUMBER_TOKEN)
# Cheap tests: every Indonesian mobile number starts with 0 (or 62) and 8, spelled out or in digits.
_SPELLED_HINT_WORDS = ("nol", "kosong", "nul", "lapan", "enam")
_SPELLED_HINT_RE = re.compile(r"(?<![a-z])(?:nol|kosong|nul|d?e?lapan|dlapan|enam)(?![a-z])")
_NUMBER_WORD_RE = re.compile(f"(?<![a-z])(?:{_NUMBER_WORD})(?![a-z])")
# A number with masked digits, as curated or quoted lines write one: "0813-xxxx-xxxx",
# "+62 8xx xxx xxx", "0812****5678". It is matched before repeated symbols are cut ("****"), and
# not inside a link ("wa.me/62813000xxxx" is a link to a number: [URL]).
_MASK = "x*#•●×"
_MASKED_PHONE_RE = re.compile(
    f"(?<![/=#?&%])(?:\\+62|(?<![0-9+])62|(?<![0-9+])0)[ .\\-]?8[0-9{_MASK}]*(?:[ .\\-]{{1,2}}[0-9{_MASK}]+)*"
    f"(?![a-z0-9{_MASK}])"
)
_MASK_HINT_RE = re.compile(f"8[0-9 .\\-]*[{_MASK}]")

# --- Words ---------------------------------------------------------------------------------------------

# Symbols that stand for letters (b@ngsat, vc$, b!o, s|ot, €nak, $lot). The strong ones are rarely
# punctuation between two letters; "!" and "|" often are ("iya!kak"), so they stand for a letter only
# where that spells a known word, or ("!") in a short word with a one-letter piece ("b!o", "d!e").
_STRONG_SYMBOLS = {"@": "a", "$": "s", "€": "e", "¢": "c", "©": "c", "®": "r", "¥": "y", "¡": "i"}
_WEAK_SYMBOLS = {"!": ("i",), "|": ("l", "i")}
_SYMBOLS = "".join((*_STRONG_SYMBOLS, *_WEAK_SYMBOLS))
_LEADING_SYMBOLS = frozenset("$€¢©¡")  # "@" leads a handle, "!" and "|" are punctuation there
_SYM = re.escape(_SYMBOLS)
_SYMBOL_TOKEN_RE = re.compile(
    f"(?<![a-z0-9{_SYM}])[a-z0-9{_SYM}]*(?:[a-z][{_SYM}]|[{_SYM}][a-z])[a-z0-9{_SYM}]*"
)
_SYMBOL_HINT_RE = re.compile(f"[{_SYM}]")
_AMOUNT_AFTER_RE = re.compile(r"\s?[0-9]")
_DOLLAR_PREFIXES = frozenset({"us", "s", "a", "au", "c", "ca", "hk", "nt", "nz", "sg", "r"})  # US$ 5
_SEP = r"[ ._\-*|~+]"
# A letter glued to a word by a symbol-for-a-letter is part of that word ("kl!k l!nk" is two words).
_IN_WORD_SYMBOL = re.escape("!@$€¢©®¥¡'’")
_SINGLE_LETTER = f"[a-z](?![a-z0-9])(?![{_IN_WORD_SYMBOL}]+[a-z0-9])"
_SINGLE = f"[a-z0-9](?![a-z0-9])(?![{_IN_WORD_SYMBOL}]+[a-z0-9])"
# Two or more single letters (digits allowed inside: "t 3 l 3") split by separators. A run glued to a
# word by a dot or dash ("wa.m.e") is left alone: joining it could make a link appear.
_SPLIT_RUN_RE = re.compile(
    f"(?<![a-z0-9])(?<![a-z0-9][._\\-*|~+{_IN_WORD_SYMBOL}]){_SINGLE_LETTER}(?:{_SEP}{{1,3}}{_SINGLE})*"
    f"{_SEP}{{1,3}}{_SINGLE_LETTER}(?![._\\-*|~+]{{1,3}}[a-z0-9])"
)
_ALNUM_RE = re.compile("[a-z0-9]")
# Drinks and dishes after "es" (ice): "wa es teh" is not "wa es" (WhatsApp said aloud).
_ICE_DISHES = (
    "teh|jeruk|krim|cream|campur|batu|kelapa|buah|cendol|doger|dawet|degan|cincau|kopi|susu|teler|puter|oyen"
)
_MULTIWORD_APP_RE = re.compile(
    r"(?<![a-z0-9])(?:"
    r"(?P<whatsapp>(?:whats|wats|whts)'?\s?(?:app|ap)|w\s?/\s?a(?:pp)?|we[\s.\-]a|wa\s(?:sap|sapp|tsap)"
    f"|wa[\\s.\\-]es(?!\\s(?:{_ICE_DISHES})(?![a-z])))"
    r"|(?P<telegram>tele[\s.\-](?:gram|grm|grem))"
    r"|(?P<instagram>insta[\s.\-](?:gram|grm))"
    r"|(?P<michat>mi[\s.\-]?(?:chat|cat|cet|chet))"
    r"|(?P<facebook>face\s(?:book|bok))"
    r"|(?P<onlyfans>only\s?fans)"
    r"|(?P<snapchat>snap\s?chat)"
    r")(?![a-z0-9])"
)
_MULTIWORD_HINT_RE = re.compile(r"wh|wat|w\s?/|we[\s.\-]a|wa[\s.\-]|tele|insta|mi|face|only|snap")
# Letter names said aloud: "vi ci es" / "pi ci es" (how "VCS" sounds), "ve ce" (VC).
_LETTER_NAMES_RE = re.compile(
    r"(?<![a-z0-9])(?:(?P<vcs>(?:vi|fi|ve|fe|pi)[\s.\-](?:ci|si|ce)[\s.\-]es)"
    r"|(?P<vc>(?:vi|fi|ve|fe)[\s.\-](?:ci|si|ce)))(?![a-z0-9])"
)
_LETTER_NAMES_HINT_RE = re.compile(r"[vfp][ie][\s.\-][cs][ie]")
# Emoji as words. An emoji alone is never an app name ("✈️ otw bali" is travel): it becomes one only
# next to what names the app. 💬 beside "ijo"/"hijau"/💚 (the green chat app) is WhatsApp; ✈ 🛩 🛫
# beside a handle or the word "telegram" is Telegram (the plane is Telegram's logo). 🔗 always reads
# "link" (it has no other sense); 📞 ☎ 📱 📲 before a number of 7-15 digits make it [PHONE] even when it
# is not a mobile number (a landline, a number without its 0).
_GREEN = "ijo|hijau|ijoo|💚|🟢"
_PLANE = "[\u2708\U0001f6e9\U0001f6eb]"
_PLANES_BEFORE = f"(?:{_PLANE}\\s*[:\\-]?\\s*)+"  # "✈️: @budi", "✈✈ tele"
_PLANES_AFTER = f"(?:\\s*[:\\-]?\\s*{_PLANE})+"
_HANDLE_SENTINEL = _SENTINEL[Placeholder.HANDLE]
_EMOJI_WORD_RE = re.compile(
    f"(?P<whatsapp>(?:💬\\s*)+(?:{_GREEN})(?![a-z0-9])|(?<![a-z0-9])(?:{_GREEN})(?:\\s*💬)+)"
    f"|(?P<telegram>{_PLANES_BEFORE}(?={_HANDLE_SENTINEL})|(?<={_HANDLE_SENTINEL}){_PLANES_AFTER})"
    # the word is already there: "✈ telegram", "🔗 link"
    f"|(?P<same>{_PLANES_BEFORE}(?=telegram(?![a-z0-9]))|(?<=telegram){_PLANES_AFTER}"
    "|(?:🔗\\s*)+(?=link(?![a-z0-9]))|(?<=link)(?:\\s*🔗)+)"
    "|(?P<link>🔗(?:\\s*🔗)*)"
)
_EMOJI_WORD_HINT_RE = re.compile(f"[💬🔗]|{_PLANE}")
_PHONE_EMOJI = "📞☎📱📲"
_PHONE_EMOJI_NUMBER_RE = re.compile(
    f"([{_PHONE_EMOJI}])\\s*[:\\-]?\\s*(\\(?\\+?[0-9][0-9 .\\-()]{{5,20}}[0-9])(?![0-9])"
)
_HAS_DIGIT_RE = re.compile("[0-9]")
_LETTER_DIGIT_RE = re.compile("[0-9](?:(?<=[a-z][0-9])|(?=[a-z]))")  # starts with a digit: scans fast
_MIXED_TOKEN_RE = re.compile(r"(?<![a-z0-9])[a-z0-9]*(?:[a-z][0-9]|[0-9][a-z])[a-z0-9]*")
# The word map sees whole tokens only: letters joined by a symbol that can hide or censor a letter
# are one token ("d!e", "wa'alaikum", "anj*ng"), never two words to map on their own.
_GLUE = re.escape(_SYMBOLS + "'’*~^")
# Letters of any script count: "vc" inside "ƭvcƣ" is no word either.
_TOKEN_SPLIT_RE = re.compile(f"([^\\W_]+(?:[{_GLUE}]+[^\\W_]+)*)")
_DIGITS_RE = re.compile("[0-9]+")
_TRIPLE_LETTER_RE = re.compile(r"([a-z])\1\1+")
_LEET = str.maketrans("013456789", "oieasgtbg")  # 2 is left alone: "hati2" is reduplication
_LEET_DIGITS = frozenset("013456789")
_UNITS = frozenset({"km", "kg", "rb", "jt", "gb", "mb", "ml", "mm", "cm", "pm", "am"})
_CURRENCY_PREFIXES = ("rp", "idr", "usd")
_CODE_SUFFIXES = ("3d", "4d")  # lottery draws in gambling brands: "visi4d", "ton4d"


@dataclass(frozen=True)
class TextFeatures:
    """What the normaliser found in a message (counts over the normalised part of it)."""

    phone_numbers: int = 0
    urls: int = 0
    handles: int = 0
    emails: int = 0
    app_mentions: tuple[str, ...] = ()  # canonical names from :data:`APP_ALIASES`, sorted
    obfuscations: tuple[Obfuscation, ...] = ()  # kinds undone, sorted
    truncated: bool = False  # the message was longer than MAX_INPUT_CHARS

    @property
    def obfuscated(self) -> bool:
        """True when the message hid words or numbers (fancy Unicode, keycaps, leet, split letters ...)."""
        return bool(self.obfuscations)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready view, including ``obfuscated``."""
        return {
            "phone_numbers": self.phone_numbers,
            "urls": self.urls,
            "handles": self.handles,
            "emails": self.emails,
            "app_mentions": list(self.app_mentions),
            "obfuscated": self.obfuscated,
            "obfuscations": [str(kind) for kind in self.obfuscations],
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class Normalized:
    """A message as written (``raw``), as the model sees it (``text``) and what was found in it."""

    raw: str
    text: str
    features: TextFeatures


class FindingKind(StrEnum):
    """What a :class:`Finding` is."""

    APP = "app"  # a chat app named, however it was written: its canonical name is the value
    PHONE = "phone"
    URL = "url"
    HANDLE = "handle"
    EMAIL = "email"
    OBFUSCATION = "obfuscation"  # an obfuscation undone: its :class:`Obfuscation` is the value


_PLACEHOLDER_KINDS = {
    Placeholder.PHONE: FindingKind.PHONE,
    Placeholder.URL: FindingKind.URL,
    Placeholder.HANDLE: FindingKind.HANDLE,
    Placeholder.EMAIL: FindingKind.EMAIL,
}


@dataclass(frozen=True)
class Finding:
    """Something the normaliser found, with the ``[start, end)`` span of the raw text it came from."""

    kind: FindingKind
    value: str  # the app's canonical name, the placeholder ("[PHONE]") or the obfuscation kind
    start: int
    end: int

    def to_dict(self, raw: str) -> dict[str, object]:
        """JSON-ready view, with the raw characters the span covers."""
        return {
            "kind": str(self.kind),
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "text": raw[self.start : self.end],
        }


@dataclass(frozen=True)
class Trace:
    """A message normalised (:attr:`normalized`), with where each part of the result came from.

    ``offsets[i]`` is the ``[start, end)`` span of :attr:`Normalized.raw` that produced character ``i``
    of :attr:`Normalized.text` (see :mod:`data.offsets`).
    """

    normalized: Normalized
    offsets: tuple[Span, ...]
    findings: tuple[Finding, ...]
    approximate: bool = False  # some stretch could only be mapped coarsely (spans still cover it)

    def raw_span(self, start: int, end: int) -> Span | None:
        """The raw span of normalised characters ``[start, end)``; None for an empty range."""
        return union(self.offsets[start:end])


class _TraceState:
    """The tracked text and the obfuscations noted while :meth:`Normalizer.trace` runs."""

    __slots__ = ("notes", "tracked")

    def __init__(self, tracked: TrackedText) -> None:
        self.tracked = tracked
        self.notes: list[tuple[Obfuscation, Span]] = []

    def noter(self, kind: Obfuscation) -> Callable[[Span], None]:
        return lambda span: self.notes.append((kind, span))


# Set only while Normalizer.trace runs (a context variable: one normaliser serves many threads). The
# step helpers below do the plain operation when it is unset, and the tracked twin when it is set.
_TRACE: ContextVar[_TraceState | None] = ContextVar("tegur_normalizer_trace", default=None)


def _subn(
    pattern: re.Pattern[str],
    repl: str | Callable[[re.Match[str]], str],
    text: str,
    kind: Obfuscation | None = None,
) -> tuple[str, int]:
    state = _TRACE.get()
    if state is None:
        return pattern.subn(repl, text)
    return state.tracked.subn(pattern, repl, text, state.noter(kind) if kind is not None else None)


def _sub(
    pattern: re.Pattern[str],
    repl: str | Callable[[re.Match[str]], str],
    text: str,
    kind: Obfuscation | None = None,
) -> str:
    if _TRACE.get() is None:
        return pattern.sub(repl, text)
    return _subn(pattern, repl, text, kind)[0]


def _translate(text: str, table: Mapping[int, str | None]) -> str:
    state = _TRACE.get()
    whole = text.translate(table)
    return whole if state is None else state.tracked.per_char(text, lambda c: c.translate(table), whole)


def _lower(text: str) -> str:
    state = _TRACE.get()
    whole = text.lower()
    return whole if state is None else state.tracked.per_char(text, str.lower, whole)


def _nfkd(text: str) -> str:
    state = _TRACE.get()
    whole = unicodedata.normalize("NFKD", text)
    if state is None:
        return whole
    return state.tracked.per_char(text, lambda c: unicodedata.normalize("NFKD", c), whole)


def _nfc(text: str) -> str:
    state = _TRACE.get()
    whole = unicodedata.normalize("NFC", text)
    return whole if state is None else state.tracked.nfc(text, whole)


def _collapse(text: str) -> str:
    state = _TRACE.get()
    return " ".join(text.split()) if state is None else state.tracked.collapse(text)


def _cut(text: str, end: int) -> str:
    state = _TRACE.get()
    return text[:end] if state is None else state.tracked.cut(text, end)


def _replace(text: str, old: str, new: str) -> str:
    state = _TRACE.get()
    if state is None:
        return text.replace(old, new)
    return state.tracked.subn(re.compile(re.escape(old)), lambda _: new, text)[0]


def _note(kind: Obfuscation, match: re.Match[str]) -> None:
    """Record, while tracing, that ``match`` (in the text being rewritten) undid ``kind``."""
    state = _TRACE.get()
    if state is not None:
        span = state.tracked.raw_span(*match.span())
        if span is not None:
            state.notes.append((kind, span))


def _note_all(kind: Obfuscation, pattern: re.Pattern[str], text: str) -> None:
    if _TRACE.get() is not None:
        for match in pattern.finditer(text):
            _note(kind, match)


def _note_chars(kind: Obfuscation, text: str, predicate: Callable[[str], bool]) -> None:
    state = _TRACE.get()
    if state is not None:
        state.tracked.check(text)
        state.notes.extend((kind, state.tracked.spans[i]) for i, c in enumerate(text) if predicate(c))


_APP_WORD_RE = re.compile("[a-z]+")


def _findings(
    normalized: Normalized,
    tracked: TrackedText,
    notes: Iterable[tuple[Obfuscation, Span]],
    apps: set[str],
    kinds: set[Obfuscation],
) -> tuple[Finding, ...]:
    found: list[Finding] = []
    text = normalized.text
    for match in _LITERAL_PLACEHOLDER_RE.finditer(text):
        span = tracked.raw_span(*match.span())
        if span is not None:
            found.append(Finding(_PLACEHOLDER_KINDS[Placeholder(match.group())], match.group(), *span))
    if apps:
        for match in _APP_WORD_RE.finditer(text):
            if match.group() in apps:
                span = tracked.raw_span(*match.span())
                if span is not None:
                    found.append(Finding(FindingKind.APP, match.group(), *span))
    by_kind: dict[Obfuscation, list[Span]] = {}
    for kind, span in notes:
        if kind in kinds:
            by_kind.setdefault(kind, []).append(span)
    for kind, spans in by_kind.items():
        found.extend(Finding(FindingKind.OBFUSCATION, str(kind), s, e) for s, e in merge(spans))
    return tuple(sorted(found, key=lambda f: (f.start, f.end, f.kind, f.value)))


@functools.lru_cache(maxsize=8192)
def _is_fancy(char: str) -> bool:
    """Whether ``char`` is a styled letter or digit (𝐒, ｆ, ⓐ, ᴛ, 🅐 ...) rather than a plain symbol."""
    if ord(char) in _TRANSLATION:
        replacement = _TRANSLATION[ord(char)]
        return bool(replacement) and replacement.isalnum()
    if unicodedata.category(char) == "Nd":  # ٠٨١٢ Arabic-Indic, ०८ Devanagari ... digits
        return True
    tag = unicodedata.decomposition(char).split(" ", 1)[0]
    if tag in _FANCY_TAGS or (tag in ("<super>", "<sub>") and char.isalpha()):
        folded = unicodedata.normalize("NFKD", char)
        return folded.isascii() and folded.isalnum()
    return False


def _is_phone(digits: str) -> bool:
    if digits.startswith("+"):  # international: any country, Indonesia's own numbers checked closer
        body = digits[1:]
        if not body.isdigit():
            return False
        if body.startswith("62"):
            return _MOBILE_RE.fullmatch(body) is not None or 10 <= len(body) <= 13
        return 8 <= len(body) <= 15
    return _MOBILE_RE.fullmatch(digits) is not None


def _unspace_links(text: str, kinds: set[Obfuscation]) -> str:
    """``bit(.)ly``, ``wa dot me``, ``s . id / x`` written as links again."""
    if (any(c in text for c in _LINK_HINT_CHARS) and _LINK_HINT_RE.search(text)) or (
        "." in text and _SHORTLINK_HINT_RE.search(text)
    ):
        unspaced = _sub(
            _SPACED_SHORTLINK_RE,
            r"\1.\2/",
            _sub(_BRACKETED_DOT_RE, ".", text, Obfuscation.LINK),
            Obfuscation.LINK,
        )
        if unspaced != text:
            kinds.add(Obfuscation.LINK)
            return unspaced
    return text


def _masked_phone(match: re.Match[str]) -> str:
    """A phone number with some digits masked, as [PHONE]; a short or unmasked run is left alone."""
    run = match.group()
    chars = [c for c in run if c.isdigit() or c in _MASK]
    if not any(c in _MASK for c in chars) or sum(c.isdigit() for c in chars) < 2:
        return run
    length = len(chars) - 2 if run.lstrip("+").startswith("62") else len(chars) - 1  # after the 0 / 62
    if not 9 <= length <= 12:
        return run
    return f" {_SENTINEL[Placeholder.PHONE]} "


def _spells(key: str, word: str) -> bool:
    """Whether ``key`` has the consonants of ``word`` in order (``kntl``: ``kontol``; ``vcs``: not ``sex``)"""
    consonants = _REPEAT_RE.sub(r"\1", re.sub("[aeiou]", "", word)) or word
    rest = iter(key)
    return all(c in rest for c in consonants)


def _decode_leet(token: str, vocabulary: frozenset[str]) -> str:
    """Decode a word that mixes letters and digits, or return it unchanged when it reads as a number."""
    original = token
    token = _TRIPLE_LETTER_RE.sub(r"\1\1", token)  # decide as the word map will see it on a second pass
    if token.startswith(_CURRENCY_PREFIXES) or token.endswith(_CODE_SUFFIXES):
        return original
    runs = list(_DIGITS_RE.finditer(token))
    # Digits read as letters when they sit inside a short word, or several inside a long one, one at a
    # time ("s3x", "t3l3gr4m", "b00k1ng"), or as a leading zero ("0rder"). Anything else is a number, a
    # unit, a code or an English "4" ("50rb", "slot88", "jam7", "3x", "0km", "toto4d", "ready4bo"), unless
    # decoding it spells a known word ("b10" -> "bio", "t3legram" -> "telegram").
    plain = all(r.group() == "00" or (len(r.group()) == 1 and r.group() in _LEET_DIGITS) for r in runs)
    interior = any(r.start() > 0 and r.end() < len(token) for r in runs)
    leading_zero = len(runs) == 1 and runs[0].group() == "0" and runs[0].start() == 0
    letter_like = (
        plain
        and (interior or (leading_zero and len(token) >= 3 and token[1:] not in _UNITS))
        and (len(token) <= 6 or len(runs) >= 2)
    )
    if not all(c in _LEET_DIGITS for r in runs for c in r.group()):
        return original
    decoded = token.translate(_LEET)
    ones = [i for i, c in enumerate(token) if c == "1"]
    if ones and len(ones) <= 3 and decoded not in vocabulary:
        # "1" reads as "i" unless "l" spells a known word ("s1ot" -> "slot")
        for mask in range(1, 1 << len(ones)):
            chars = list(decoded)
            for bit, pos in enumerate(ones):
                if mask >> bit & 1:
                    chars[pos] = "l"
            candidate = "".join(chars)
            if candidate in vocabulary:
                decoded = candidate
                break
    if not letter_like and (len(token) < 3 or decoded not in vocabulary):
        return original
    return _TRIPLE_LETTER_RE.sub(r"\1\1", decoded)


class Normalizer:
    """Turns raw chat text into model input; see the module docstring for every step.

    Build it once and call it per message: all tables are built here and shared by every call, and a
    call keeps no state, so one instance can serve many threads.

    Args:
        slang: Alay-slang map (word -> standard word or words). ``None`` uses :data:`BUILTIN_SLANG`.
            Entries are normalised like text (keys must be one word, values must not contain digits
            or one-letter words, chains such as ``a -> b -> c`` are resolved, app aliases win); the
            effective map is :attr:`slang`, which rebuilds an identical normaliser.

    Raises:
        TypeError: ``slang`` is not a mapping of strings to strings.
    """

    def __init__(self, slang: Mapping[str, str] | None = None) -> None:
        self._apps: dict[str, str] = {alias: app for app, aliases in APP_ALIASES.items() for alias in aliases}
        self._translation, self._homoglyphs, self._homoglyph_chars = _unicode_tables()
        # What a Cyrillic or Greek word may be read as while the slang keys are canonicalised; replaced
        # by the full vocabulary below.
        self._vocabulary = frozenset(_LEXICON) | frozenset(self._apps)
        self._slang = self._canonical_slang(BUILTIN_SLANG if slang is None else slang)
        self._slang_apps = {
            key: tuple(sorted({w for w in value.split() if w in APP_ALIASES}))
            for key, value in self._slang.items()
        }
        vocabulary = set(_LEXICON) | set(self._apps) | set(self._slang)
        for value in self._slang.values():
            vocabulary.update(value.split())
        self._vocabulary = frozenset(vocabulary)
        self._mapped_words = frozenset(self._apps) | frozenset(self._slang)

    @property
    def slang(self) -> dict[str, str]:
        """The effective slang map (a copy) for ``json.dump``; ``Normalizer(n.slang)`` rebuilds ``n``."""
        return dict(self._slang)

    def __repr__(self) -> str:
        return f"Normalizer(version={NORMALIZER_VERSION!r}, slang_entries={len(self._slang)})"

    def __call__(self, text: str) -> Normalized:
        """Normalise one message.

        Args:
            text: The message as written.

        Returns:
            The raw text, the model input and the features found.

        Raises:
            TypeError: ``text`` is not a ``str``.
        """
        if not isinstance(text, str):
            raise TypeError(f"Normalizer expects a str, got {type(text).__name__}: decode bytes first")
        return self._run(text, set(), set())

    def trace(self, text: str) -> Trace:
        """Normalise one message and say where every part of the result came from.

        The same normalisation as calling the normaliser (``trace(x).normalized == self(x)``), plus the
        raw span of each character of the normalised text and the findings (apps, contacts, the
        obfuscations undone) with their raw spans. Slower than a plain call: for explanations.

        Raises:
            TypeError: ``text`` is not a ``str``.
        """
        if not isinstance(text, str):
            raise TypeError(f"Normalizer expects a str, got {type(text).__name__}: decode bytes first")
        state = _TraceState(TrackedText.identity(text))
        apps: set[str] = set()
        kinds: set[Obfuscation] = set()
        token = _TRACE.set(state)
        try:
            normalized = self._run(text, kinds, apps)
        finally:
            _TRACE.reset(token)
        tracked = state.tracked
        tracked.check(normalized.text)
        return Trace(
            normalized=normalized,
            offsets=tuple(tracked.spans),
            findings=_findings(normalized, tracked, state.notes, apps, kinds),
            approximate=tracked.approximate,
        )

    def _run(self, text: str, kinds: set[Obfuscation], apps: set[str]) -> Normalized:
        raw = text
        truncated = len(text) > MAX_INPUT_CHARS
        if truncated:
            text = _cut(text, MAX_INPUT_CHARS)

        is_ascii = text.isascii()
        if not is_ascii:
            text = _sub(_SENTINEL_RE, "", text)
        if "[" in text:
            text = _sub(_LITERAL_PLACEHOLDER_RE, lambda m: f" {_SENTINEL[Placeholder(m.group())]} ", text)
        if is_ascii:
            if _ASCII_CONTROL_RE.search(text):
                if _INVISIBLE_IN_WORD_RE.search(text):
                    kinds.add(Obfuscation.INVISIBLE)
                    _note_all(Obfuscation.INVISIBLE, _INVISIBLE_IN_WORD_RE, text)
                text = _translate(text, _ASCII_TABLE)
            text = _lower(text)
        else:
            text = self._fold_unicode(text, kinds)
        text = _collapse(text)
        if _MASK_HINT_RE.search(text):
            text = _sub(_MASKED_PHONE_RE, _masked_phone, text)
        text = _sub(_REPEATED_SYMBOL_RE, r"\1\1\1", text)

        # Leet first: a digit that is really a letter must not pass for part of a number ("t3l3+62...").
        text = self._decode_leet(text, kinds)
        text = self._replace_contacts(text, kinds, apps)
        text = self._normalise_words(text, kinds, apps)
        text = self._settle(text, kinds, apps)

        features = TextFeatures(
            phone_numbers=text.count(_SENTINEL[Placeholder.PHONE]),
            urls=text.count(_SENTINEL[Placeholder.URL]),
            handles=text.count(_SENTINEL[Placeholder.HANDLE]),
            emails=text.count(_SENTINEL[Placeholder.EMAIL]),
            app_mentions=tuple(sorted(apps)),
            obfuscations=tuple(sorted(kinds)),
            truncated=truncated,
        )
        for placeholder, sentinel in _SENTINEL.items():
            text = _replace(text, sentinel, f" {placeholder} ")
        text = _collapse(text)
        if len(text) > MAX_INPUT_CHARS:  # slang expansion can lengthen a capped message
            cut = text.rfind(" ", 0, MAX_INPUT_CHARS + 1)
            text = _cut(text, cut if cut > 0 else MAX_INPUT_CHARS)
        return Normalized(raw=raw, text=text, features=features)

    # --- steps ----------------------------------------------------------------------------------------

    def _settle(self, text: str, kinds: set[Obfuscation], apps: set[str]) -> str:
        """Repeat the steps that the decoded words can trigger again, until nothing changes.

        Decoded words and emoji can complete a link (``a(.)$a``, ``x dot 🔗``) or an address
        (``x.c0m@a``), or show a handle after an app name (``wa es@slot``); a placeholder or the word
        map can leave a new word edge, so symbols and words are looked at again (``w/a$`` ->
        ``whatsapp$`` -> ``whatsapps``, ``ig|tele dot 🔗`` -> ``ig| [URL]`` -> ``instagram| [URL]``),
        so the word steps run again. Without this a second pass over the output would change it.
        """
        text = _collapse(text)
        for _ in range(4):  # each round only ever removes symbols or adds placeholders: it settles fast
            before = text
            if not text.isascii() and _CYRILLIC_GREEK_RE.search(text):  # glued on: "л0" + "http" -> "лo"
                text = _sub(_WORD_RE, self._fold_script_word, text, Obfuscation.HOMOGLYPH)
            text = _unspace_links(self._decode_symbols_in(text, kinds), kinds)
            if _URL_HINT_RE.search(text):
                if "@" in text:
                    text = _sub(_EMAIL_RE, f" {_SENTINEL[Placeholder.EMAIL]} ", text)
                text = _sub(_URL_RE, lambda m: self._url(m, apps), text)
            if "@" in text:
                text = _sub(_HANDLE_RE, self._handles, _sub(_APP_HANDLE_RE, r"\1 @", text))
            text = _collapse(text)
            if text == before:
                break
            text = _collapse(self._normalise_words(text, kinds, apps))
        return text

    def _fold_unicode(self, text: str, kinds: set[Obfuscation]) -> str:
        if any(_is_fancy(c) for c in set(text) if not c.isascii()):
            kinds.add(Obfuscation.FANCY_UNICODE)
            _note_chars(Obfuscation.FANCY_UNICODE, text, _is_fancy)
        text = _nfkd(text)
        if "\u20e3" in text:
            text, n = _subn(_KEYCAP_RE, r"\1", text, Obfuscation.KEYCAP)
            if n:
                kinds.add(Obfuscation.KEYCAP)
        if _INVISIBLE_IN_WORD_RE.search(text):
            kinds.add(Obfuscation.INVISIBLE)
            _note_all(Obfuscation.INVISIBLE, _INVISIBLE_IN_WORD_RE, text)
        text = _translate(text, self._translation)
        if _REGIONAL_RE.search(text):
            text, n = _subn(
                _LONE_REGIONAL_RE,
                lambda m: chr(ord(m.group()) - 0x1F1E6 + ord("a")),
                text,
                Obfuscation.FANCY_UNICODE,
            )
            if n:
                kinds.add(Obfuscation.FANCY_UNICODE)
        # Lowercasing can yield decomposable characters (İ -> i + dot), small capitals (Ʀ -> ʀ) and
        # look-alikes (Ɠ -> ɠ), so look-alikes are folded after it.
        text = _translate(_nfkd(_lower(text)), _SMALL_CAPITALS)
        if _MARKS_RE.search(text):
            if _ZALGO_RE.search(text):
                kinds.add(Obfuscation.COMBINING_MARKS)
                _note_all(Obfuscation.COMBINING_MARKS, _ZALGO_RE, text)
            text = _sub(_MARKS_RE, "", text)
        # after the marks are gone: an accent must not split a word ("καλημέρα")
        if not self._homoglyph_chars.isdisjoint(text) or _CYRILLIC_GREEK_RE.search(text):
            folded = _sub(_WORD_RE, self._fold_script_word, text, Obfuscation.HOMOGLYPH)
            if folded != text:
                kinds.add(Obfuscation.HOMOGLYPH)
                text = folded
        return _nfc(text)

    def _fold_script_word(self, match: re.Match[str]) -> str:
        """A word with look-alike or Cyrillic / Greek letters, in Latin letters where it reads as one.

        Every letter a look-alike of an ASCII one (``ВОКЕР``, ``вса``): the look-alikes. Otherwise a
        Cyrillic or Greek word is read letter by letter, look-alike first and then by sound (``теле``:
        ``т`` looks like ``t``, ``л`` sounds like ``l``), or by sound alone (``телеграм``); a reading
        is taken only when it is a word this normaliser knows, so ``привет`` stays Cyrillic.
        """
        word = match.group()
        folded = word.translate(self._homoglyphs)
        if folded.isascii():
            return folded
        if not _CYRILLIC_GREEK_RE.search(word):
            return word
        reading = self._known_reading(word)
        if reading is not None:
            return reading
        # each Cyrillic / Greek run on its own: a placeholder could cut it off ("@aтеле", "вса" + "теле")
        runs = _CYRILLIC_GREEK_RUN_RE.sub(self._fold_script_run, word)
        folded = runs.translate(self._homoglyphs)
        return folded if folded.isascii() else runs

    def _fold_script_run(self, match: re.Match[str]) -> str:
        run = match.group()
        folded = run.translate(self._homoglyphs)
        return folded if folded.isascii() else self._known_reading(run) or run

    def _known_reading(self, word: str) -> str | None:
        by_look = "".join(self._homoglyphs.get(ord(c)) or TRANSLITERATION.get(c, c) for c in word)
        by_sound = "".join(TRANSLITERATION.get(c) or self._homoglyphs.get(ord(c), c) for c in word)
        for reading in (by_look, by_sound):
            if (
                len(reading) >= 2  # one letter is too little to go on ("δ" is no "d" -> "di")
                and reading.isascii()
                and _TRIPLE_LETTER_RE.sub(r"\1\1", reading) in self._vocabulary
            ):
                return reading
        return None

    def _replace_contacts(self, text: str, kinds: set[Obfuscation], apps: set[str]) -> str:
        has_at = "@" in text
        text = _unspace_links(text, kinds)
        if has_at:
            text = _sub(_EMAIL_RE, f" {_SENTINEL[Placeholder.EMAIL]} ", text)
        if _URL_HINT_RE.search(text):
            text = _sub(_URL_RE, lambda m: self._url(m, apps), text)
        if (any(w in text for w in _SPELLED_HINT_WORDS) and _SPELLED_HINT_RE.search(text)) or (
            ("08" in text or "62" in text) and _NUMBER_WORD_RE.search(text)
        ):
            text = _sub(_SPELLED_NUMBER_RE, lambda m: self._spelled_phone(m, kinds), text)
        if _HAS_DIGIT_RE.search(text):
            text = _sub(_DIGIT_RUN_RE, self._phones, text)
            if not text.isascii() and any(e in text for e in _PHONE_EMOJI):
                text = _sub(_PHONE_EMOJI_NUMBER_RE, self._emoji_phone, text)
        if has_at:
            text = _sub(_APP_HANDLE_RE, r"\1 @", text)  # "ig@budi": the app, then the handle
            text = _sub(_HANDLE_RE, self._handles, text)
        return text

    @staticmethod
    def _url(match: re.Match[str], apps: set[str]) -> str:
        url = match.group()
        stripped = url.rstrip(_URL_TRAILING)
        trailing = url[len(stripped) :]
        host = _URL_HOST_RE.match(stripped).group(1)  # type: ignore[union-attr]  # always matches
        app = _URL_HOST_APPS.get(host)
        if app is None and host.endswith(".whatsapp.com"):
            app = "whatsapp"
        sentinel = _SENTINEL[Placeholder.URL]
        if app is None:
            return f" {sentinel} {trailing}"
        apps.add(app)
        return f" {app} {sentinel} {trailing}"

    @staticmethod
    def _spelled_phone(match: re.Match[str], kinds: set[Obfuscation]) -> str:
        spelled = match.group()
        tokens = _SPELLED_TOKEN_RE.findall(spelled)
        if all(t.isdigit() for t in tokens):
            return spelled  # plain digits: the digit-run step handles them
        if not _is_phone("".join(_NUMBER_WORDS.get(t, t) for t in tokens)):
            return spelled
        kinds.add(Obfuscation.NUMBER_WORDS)
        _note(Obfuscation.NUMBER_WORDS, match)
        return f" {_SENTINEL[Placeholder.PHONE]} "

    @staticmethod
    def _phones(match: re.Match[str]) -> str:
        run = match.group()
        if len(run) < 9:
            return run
        groups = [(g.start(), g.end(), g.group(1)) for g in _DIGIT_GROUP_RE.finditer(run)]
        out: list[str] = []
        pos = 0
        i = 0
        while i < len(groups):
            digits = ""
            last = -1
            for j in range(i, len(groups)):
                digits += groups[j][2]
                if len(digits) > 16:
                    break
                # the longest reading wins, but a short trailing group after a complete number is
                # another number ("0812 3456 7890 2 orang"), unless every digit stands alone
                if _is_phone(digits) and (last < 0 or len(groups[j][2]) >= 3 or len(digits) == j - i + 1):
                    last = j
            if last < 0:
                i += 1
                continue
            out.append(run[pos : groups[i][0]])
            out.append(f" {_SENTINEL[Placeholder.PHONE]} ")
            pos = groups[last][1]
            i = last + 1
        if not out:
            return run
        out.append(run[pos:])
        return "".join(out)

    @staticmethod
    def _emoji_phone(match: re.Match[str]) -> str:
        digits = sum(c.isdigit() for c in match.group(2))
        if not 7 <= digits <= 15:
            return match.group()
        return f"{match.group(1)} {_SENTINEL[Placeholder.PHONE]} "

    @staticmethod
    def _handles(match: re.Match[str]) -> str:
        out = []
        for part in match.group().split("@")[1:]:
            name = part.rstrip(".")
            out.append(f" {_SENTINEL[Placeholder.HANDLE]} {part[len(name) :]}" if name else f"@{part}")
        return "".join(out)

    def _decode_leet(self, text: str, kinds: set[Obfuscation]) -> str:
        if not _LETTER_DIGIT_RE.search(text):
            return text
        decoded = _sub(
            _MIXED_TOKEN_RE, lambda m: _decode_leet(m.group(), self._vocabulary), text, Obfuscation.LEET
        )
        if decoded != text:
            kinds.add(Obfuscation.LEET)
        return decoded

    def _normalise_words(self, text: str, kinds: set[Obfuscation], apps: set[str]) -> str:
        text, n = _subn(
            _SPLIT_RUN_RE, lambda m: "".join(_ALNUM_RE.findall(m.group())), text, Obfuscation.SPLIT_LETTERS
        )
        if n:
            kinds.add(Obfuscation.SPLIT_LETTERS)
        # again: joined letters ("t 3 l 3 g r 4 m") and words that a placeholder cut off ("a1b0812...")
        text = self._decode_leet(text, kinds)
        text = self._decode_symbols_in(text, kinds)  # after the split letters: "t|e|l|e" is not "tlelele"
        if _MULTIWORD_HINT_RE.search(text):
            text = _sub(_MULTIWORD_APP_RE, lambda m: self._multiword_app(m, kinds, apps), text)
        if _LETTER_NAMES_HINT_RE.search(text):
            text, n = _subn(_LETTER_NAMES_RE, lambda m: m.lastgroup or "", text, Obfuscation.SPLIT_LETTERS)
            if n:
                kinds.add(Obfuscation.SPLIT_LETTERS)
        text = self._map_words(text, apps)
        if _MULTIWORD_HINT_RE.search(text):  # again: the word map can reveal one ("mii chat" -> "mi chat")
            text = _sub(_MULTIWORD_APP_RE, lambda m: self._multiword_app(m, kinds, apps), text)
        if not text.isascii() and _EMOJI_WORD_HINT_RE.search(text):
            replaced = _sub(_EMOJI_WORD_RE, lambda m: self._emoji_word(m, kinds, apps), text)
            if replaced != text:  # a new word edge: "wa*ijo💬" is "wa*" and WhatsApp
                text = self._map_words(replaced, apps)
        return text

    @staticmethod
    def _emoji_word(match: re.Match[str], kinds: set[Obfuscation], apps: set[str]) -> str:
        kind = match.lastgroup
        if kind == "same":  # the word is already there: "✈ telegram", "🔗 link"
            return " "
        if kind == "link":  # how "link" is written, not a disguise
            return " link "
        kinds.add(Obfuscation.EMOJI_WORD)
        _note(Obfuscation.EMOJI_WORD, match)
        apps.add(kind or "")
        return f" {kind} "

    def _decode_symbols_in(self, text: str, kinds: set[Obfuscation]) -> str:
        if not _SYMBOL_HINT_RE.search(text):
            return text
        decoded = _sub(_SYMBOL_TOKEN_RE, self._decode_symbols, text, Obfuscation.LEET)
        if decoded == text:
            return text
        kinds.add(Obfuscation.LEET)
        return self._decode_leet(decoded, kinds)  # a decoded word can mix letters and digits

    def _decode_symbols(self, match: re.Match[str]) -> str:
        """A word with symbols for letters, decoded: ``b@ngsat``, ``vc$``, ``$lot``, ``b!o``, ``s|ot``.

        A symbol stands for a letter between two letters, or ``$ € ¢ © ¡`` before the first letter
        (``$lot``), or ``$`` after the last (``vc$``, but not ``us$`` or ``bo$ 5``); a run of symbols
        (``mantap!!``), one at the edge of a word (``beneran!``, ``@budi``) or next to a digit (``$5``)
        is punctuation, a handle or a price.
        """
        token = match.group()
        start = len(token) - len(token.lstrip(_SYMBOLS))
        end = len(token.rstrip(_SYMBOLS))
        head, core, tail = token[:start], token[start:end], token[end:]
        if head in _LEADING_SYMBOLS and core[:1].isalpha():
            head = _STRONG_SYMBOLS[head]
        if (
            tail == "$"
            and core.isalpha()
            and core not in _DOLLAR_PREFIXES
            and not _AMOUNT_AFTER_RE.match(match.string, match.end())
        ):
            tail = "s"
        return head + self._decode_inner_symbols(core) + tail

    def _decode_inner_symbols(self, core: str) -> str:
        core = _TRIPLE_LETTER_RE.sub(r"\1\1", core)  # decide as the word map will see it on a second pass
        positions = [i for i, c in enumerate(core) if c in _SYMBOLS]
        if not positions or not all(
            0 < i < len(core) - 1 and core[i - 1].isalpha() and core[i + 1].isalpha() for i in positions
        ):
            return core
        chars = [_STRONG_SYMBOLS.get(c, c) for c in core]
        weak = [i for i in positions if core[i] in _WEAK_SYMBOLS]
        if len(weak) > 3:  # a row of "a!a!a!a": punctuation, and too many readings to try
            return core
        first = None
        for choice in itertools.product(*(_WEAK_SYMBOLS[core[i]] for i in weak)):
            for i, letter in zip(weak, choice, strict=True):
                chars[i] = letter
            candidate = "".join(chars)
            first = first or candidate
            if _TRIPLE_LETTER_RE.sub(r"\1\1", candidate) in self._vocabulary:
                return candidate
        assert first is not None  # product() of no options yields one empty choice
        if not weak:
            return first if len(core) <= 6 or len(positions) >= 2 else core
        pieces = re.split(f"[{_SYM}]", core)
        if all(core[i] == "!" for i in weak) and len(core) <= 5 and min(map(len, pieces)) == 1:
            return first
        return core

    @staticmethod
    def _multiword_app(match: re.Match[str], kinds: set[Obfuscation], apps: set[str]) -> str:
        if " " in match.group():
            kinds.add(Obfuscation.SPLIT_LETTERS)
            _note(Obfuscation.SPLIT_LETTERS, match)
        app = match.lastgroup or ""
        apps.add(app)
        return app

    def _map_words(self, text: str, apps: set[str]) -> str:
        # A plain loop, not re.sub with a callback: most words need nothing and cost one set lookup.
        elongated = _TRIPLE_LETTER_RE.search(text) is not None
        if _TRACE.get() is not None:  # the same mapping as a substitution, so that it can be tracked
            return _sub(
                _TOKEN_SPLIT_RE,
                lambda m: (
                    self._map_word(m.group(), apps)
                    if m.group() in self._mapped_words or (elongated and _TRIPLE_LETTER_RE.search(m.group()))
                    else m.group()
                ),
                text,
            )
        parts = _TOKEN_SPLIT_RE.split(text)  # odd positions hold the words
        for i in range(1, len(parts), 2):
            word = parts[i]
            if word in self._mapped_words or (elongated and _TRIPLE_LETTER_RE.search(word)):
                parts[i] = self._map_word(word, apps)
        return "".join(parts)

    def _map_word(self, word: str, apps: set[str]) -> str:
        mapped = self._lookup(word, apps)
        if mapped is not None:
            return mapped
        if not _TRIPLE_LETTER_RE.search(word):
            return word
        # An elongated word: cut each run to two letters ("maaaaf" -> "maaf"), or to one where that
        # spells a known word ("bangeeeet" -> "banget"). Only runs of 3+ count as elongation, so the
        # output, which has none, maps to itself on a second pass.
        collapsed = _TRIPLE_LETTER_RE.sub(r"\1\1", word)
        mapped = self._lookup(collapsed, apps)
        if mapped is not None:
            return mapped
        single = _TRIPLE_LETTER_RE.sub(r"\1", word)
        if collapsed in self._vocabulary or len(single) < 2 or single in self._apps:
            return collapsed  # "waaa" is a cry, not WhatsApp
        mapped = self._lookup(single, apps)
        if mapped is not None:
            return mapped
        return single if single in self._vocabulary else collapsed

    def _lookup(self, word: str, apps: set[str]) -> str | None:
        app = self._apps.get(word)
        if app is not None:
            apps.add(app)
            return app
        value = self._slang.get(word)
        if value is not None:
            apps.update(self._slang_apps[word])
        return value

    # --- slang map ------------------------------------------------------------------------------------

    def _canonical_word(self, word: str) -> str | None:
        """``word`` as the word pipeline would leave it before the word map, or None if not one word."""
        text = self._fold_unicode(word, set()) if not word.isascii() else word.lower()
        text = _TRIPLE_LETTER_RE.sub(r"\1\1", text.strip())
        if not re.fullmatch("[a-z0-9]+", text) or not re.search("[a-z]", text):
            return None
        if _MIXED_TOKEN_RE.fullmatch(text):
            # the vocabulary does not exist yet, so "1" is always "i" here
            text = _decode_leet(text, frozenset())
        return text

    def _canonical_slang(self, slang: Mapping[str, str]) -> dict[str, str]:
        if not isinstance(slang, Mapping):
            raise TypeError(f"slang must be a mapping of str to str, got {type(slang).__name__}")
        entries: dict[str, list[str]] = {}
        for key, value in slang.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"slang must map str to str, got {key!r}: {value!r}")
            canonical_key = self._canonical_word(key)
            words = [self._canonical_word(w) for w in value.split()]
            if canonical_key is None or canonical_key in self._apps or not words:
                continue
            if any(w is None or len(w) < 2 or _HAS_DIGIT_RE.search(w) for w in words):
                continue  # digits or one-letter words in the output could be re-read by a second pass
            entries[canonical_key] = [w for w in words if w is not None]

        resolved: dict[str, str] = {}
        for key in entries:
            words = self._resolve(key, entries, depth=0)
            if words is None or words == [key]:
                continue
            if any(w in _EXPLICIT_WORDS and not _spells(key, w) for w in words):
                continue  # "vcs" -> "video call sex", "eww" -> "ngewe": ambiguous, left as written
            resolved[key] = " ".join(words)
        return resolved

    def _resolve(self, word: str, entries: dict[str, list[str]], depth: int) -> list[str] | None:
        """Expand ``word`` through the map until every word is final; None for cycles or deep chains."""
        if depth > 8:
            return None
        out: list[str] = []
        for w in entries[word]:
            if w in self._apps:
                out.append(self._apps[w])
            elif w in entries and w != word:
                sub = self._resolve(w, entries, depth + 1)
                if sub is None:
                    return None
                out.extend(sub)
            elif w == word:
                return None  # "a -> a b" never settles
            else:
                out.append(w)
        return out


@functools.cache
def _default_normalizer() -> Normalizer:
    return Normalizer()


def normalize(text: str) -> Normalized:
    """Normalise ``text`` with the built-in slang map (see :class:`Normalizer`).

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    return _default_normalizer()(text)


_DEDUP_PLACEHOLDERS = {p.value: p.name[0] for p in Placeholder}  # uppercase: normalised text has none
_DEDUP_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in _DEDUP_PLACEHOLDERS))
_NON_WORD_RE = re.compile(r"[\W_]+")
_REPEAT_RE = re.compile(r"(.)\1+")


def dedup_key(text: str, *, normalizer: Normalizer | None = None) -> str:
    """An aggressive key under which template variants of one message collide.

    The normalised text with placeholders kept (as one capital letter each), every digit run
    collapsed to ``0``, punctuation, emoji and whitespace removed and repeated characters squeezed:
    "Main di SLOT88 pasti JP!!" and "main di slot99 pasti jp" share a key. A message with no letters
    or digits keys on its emoji and symbols instead, so that emoji-only lines do not all collide.

    Args:
        text: The message as written.
        normalizer: The normaliser to apply; default: :func:`normalize`'s.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    normalized = (normalizer or _default_normalizer())(text).text
    key = _DEDUP_PLACEHOLDER_RE.sub(lambda m: _DEDUP_PLACEHOLDERS[m.group()], normalized)
    key = _DIGITS_RE.sub("0", key)
    words = _NON_WORD_RE.sub("", key)
    return _REPEAT_RE.sub(r"\1", words or "".join(key.split()))


def load_slang_map(paths: Iterable[Path]) -> dict[str, str]:
    """Read alay-slang CSV files (``slang,standard`` per line, no header, latin-1).

    This is the format of the public ``kamusalay.csv`` / ``new_kamusalay.csv`` dictionaries. Both
    columns are lowercased; rows whose key is not one plain ASCII word (mis-encoded emoji, phrases, dates) or
    whose value is not plain words are skipped. Later files override earlier ones.

    Args:
        paths: CSV files, read in order.

    Returns:
        Lowercase slang word -> standard word(s).

    Raises:
        DataError: a file is missing or unreadable, or a row does not have exactly two columns.
    """
    slang: dict[str, str] = {}
    for name in paths:
        path = Path(name)
        skipped = 0
        try:
            with path.open(encoding="latin-1", newline="") as handle:
                for line_number, row in enumerate(csv.reader(handle), start=1):
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue
                    if len(row) != 2:
                        raise DataError(
                            f"{path}:{line_number}: expected 2 columns (slang,standard), got {len(row)}; "
                            "fix or delete the row"
                        )
                    key = row[0].strip().lower()
                    value = " ".join(row[1].lower().split())
                    if not re.fullmatch("[a-z0-9]+", key) or not re.fullmatch("[a-z0-9 ]+", value):
                        skipped += 1
                        continue
                    if key != value:
                        slang[key] = value
        except OSError as exc:
            raise DataError(f"cannot read slang map {path}: {exc.strerror or exc}; check the path") from exc
        except csv.Error as exc:
            raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
        if skipped:
            logger.debug("%s: skipped %d rows that are not one plain word -> plain words", path, skipped)
    return slang
