"""``minor_signal``: age, school level, secrecy from parents and child address with a grooming cue."""

from __future__ import annotations

import pytest

from data.minors import minor_signal

SIGNALS = [
    ("umurku 13 kak, boleh ikut giveaway?", "age_under_18"),
    ("aku br 14 thn kak jgn dimarahin", "age_under_18"),
    ("masih SMP kak aku, kls 8", "school_level"),
    ("anak SD kok udah live jam segini", "school_level"),
    ("jgn bilang2 ke mama ya, ini rahasia", "secrecy_from_parents"),
    ("rahasia kita berdua ya cantik", "secrecy_from_parents"),
    ("dek umur brp? sini aku ajarin", "age_question_to_child"),
    ("kamu kelas brp dek?", "age_question_to_child"),
    ("pc aku dong dek, nanti aku kasih pulsa 50rb", "child_address_with_grooming_cue"),
    ("v!d30 c4ll yuk d3k, bentar aja", "child_address_with_grooming_cue"),
    ("dek pindah ke wa aja 0812 3456 7890", "child_address_with_grooming_cue"),
]

CLEAN = [
    "udah 15 tahun kerja di pabrik ini",
    "anakku umur 7 bulan udah bisa tengkurep",
    "besok kelas online jam 8 jangan telat",
    "makasih kak giftnya, sehat selalu",
    "aku 25 thn kak, udah kerja",
    "ikut kelas yoga tiap minggu pagi",
    "dek, tolong ambilin piring di dapur",  # a child address with no grooming cue
    "kak kapan live lagi? kangen",
]


@pytest.mark.parametrize(("text", "reason"), SIGNALS)
def test_signals_fire_with_their_reason(text: str, reason: str) -> None:
    result = minor_signal(text)
    assert result.flag, text
    assert reason in result.reasons
    assert result.evidence


@pytest.mark.parametrize("text", CLEAN)
def test_adult_or_harmless_text_gives_no_signal(text: str) -> None:
    result = minor_signal(text)
    assert not result.flag, (text, result)
    assert result.reasons == () and result.evidence == ()


def test_grooming_cue_is_reported_apart_from_the_signal() -> None:
    assert minor_signal("nanti kakak kirimin pulsa ya").grooming_cue
    assert not minor_signal("nanti kakak kirimin pulsa ya").flag
    assert not minor_signal("terima kasih giftnya").grooming_cue


def test_obfuscated_ages_and_apps_are_read_after_normalisation() -> None:
    assert "age_under_18" in minor_signal("USIAKU 16th").reasons
    assert minor_signal("dek, ke t3l3gr4m yuk").flag


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("aku lahir 2012 kak", True),
        ("aku lahir tahun 1995", False),
        ("umurku 12an kak", True),
        ("yg masih pake seragam putih biru jgn begadang", True),
        ("seragam kerja baru dong", False),
        ("biar mama ga liat chatnya ya dek", True),
        ("dulu kelas 12 ipa sekarang kerja di bank", False),
        ("dek uang kos bulan ini udah kakak transfer ya", False),  # an adult sibling
        ("adek2 jangan lupa bawa bekal ke sekolah", True),  # a teacher: signal, not grooming
    ],
)
def test_more_signals_and_their_adult_counterparts(text: str, flag: bool) -> None:
    assert minor_signal(text).flag is flag, minor_signal(text)
