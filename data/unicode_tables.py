"""Unicode tables for the normaliser that are too large to write by hand.

* :func:`digit_table`: every Unicode decimal digit (``٠٨١٢`` Arabic-Indic, ``०८`` Devanagari, ``๐๘``
  Thai, ...) to its ASCII digit. NFKC folds full-width and mathematical digits but not these.
* :func:`confusable_table`: letters of other scripts (Cyrillic, Greek, Armenian, Cherokee, Latin
  extensions such as ``ɑ`` or ``ı``) that look like one ASCII letter, from the Unicode TR39 confusables
  data shipped with the ``confusable-homoglyphs`` package.
* :data:`TRANSLITERATION`: the sound of each Cyrillic and Greek letter in Latin (``л`` -> ``l``,
  ``λ`` -> ``l``), for words written in those alphabets that no look-alike table can fold (``теле``).

The tables are built on first use (the confusables data takes about 0.1 s to load) and cached.
"""

from __future__ import annotations

import functools
import unicodedata

from confusable_homoglyphs.confusables import confusables_data

_SMALL_CAPITALS = str.maketrans("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz")

#: Cyrillic and Greek letters (lowercase) by sound; letters that carry no sound of their own map to "".
TRANSLITERATION: dict[str, str] = {
    **dict(zip("абвгдезийклмнопрстуфхцыэіїєґ", "abvgdezijklmnoprstufhcyeiieg", strict=True)),
    "ё": "e", "ж": "zh", "ч": "ch", "ш": "sh", "щ": "sh", "ю": "yu", "я": "ya", "ъ": "", "ь": "",
    **dict(zip("αβγδεζηικλμνξοπρσςτυφω", "abgdeziiklmnxoprsstufo", strict=True)),
    "θ": "th", "χ": "ch", "ψ": "ps",
}  # fmt: skip


@functools.cache
def digit_table() -> dict[int, str]:
    """Non-ASCII decimal digits (Unicode category Nd) -> ASCII digit."""
    table: dict[int, str] = {}
    for code in range(0x80, 0x20000):  # no decimal digit lies beyond U+1FBF9
        char = chr(code)
        if unicodedata.category(char) == "Nd":
            table[code] = str(unicodedata.decimal(char))
    return table


def _ascii_letter(glyph: str) -> str | None:
    """The one ASCII letter ``glyph`` reads as (``ᴛ`` -> ``t``, ``𝐚`` -> ``a``), or None."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", glyph) if not unicodedata.combining(c))
    folded = folded.translate(_SMALL_CAPITALS).lower().translate(_SMALL_CAPITALS)
    return folded if len(folded) == 1 and folded.isascii() and folded.isalpha() else None


@functools.cache
def confusable_table() -> dict[int, str]:
    """Non-ASCII letters that look like one ASCII letter -> that letter (lowercase).

    Only letters (Unicode category L*) are mapped, and only onto letters: ``б`` looks like ``6``, but
    a digit would be read as a number or leetspeak.
    """
    table: dict[int, str] = {}
    for char, glyphs in confusables_data.items():
        if len(char) != 1 or char.isascii() or not unicodedata.category(char).startswith("L"):
            continue
        for glyph in glyphs:
            letter = _ascii_letter(glyph["c"])
            if letter is not None:
                table[ord(char)] = letter
                break
    # The normaliser folds look-alikes after lowercasing: "Ь" is listed, its lowercase "ь" is not.
    for code, letter in list(table.items()):
        lower = chr(code).lower()
        if len(lower) == 1 and not lower.isascii():
            table.setdefault(ord(lower), letter)
    return table
