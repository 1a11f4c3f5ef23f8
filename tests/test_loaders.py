from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from data.config import (
    AbusiveOnly,
    DropOrClean,
    IbrohimPlainHs,
    MappingConfig,
    OpinionTopics,
    PartnerRental,
    SmsPromo,
)
from data.loaders import (
    CURATED_LICENSE,
    LOADERS,
    RawRecord,
    decode_byte_escapes,
    decode_emoji_codes,
    decode_mixed,
    detokenise,
    fix_mojibake,
    has_profanity,
    is_partner_rental_ad,
    is_pity_bait_sms,
    is_promo_with_contact,
    load_curated,
    load_source,
    pushes_off_platform,
)
from data.sources import Manifest, load_manifest
from data.taxonomy import Label, Surface
from tegur.errors import DataError

B, S, P, R = Label.BULLYING, Label.SEXUAL_SOLICITATION, Label.PITY_BAIT, Label.OFF_PLATFORM_REDIRECTION


@pytest.fixture(scope="module")
def sources_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "sources"


@pytest.fixture(scope="module")
def manifest(sources_dir: Path) -> Manifest:
    return load_manifest(sources_dir / "manifest.yaml")


def _load(manifest: Manifest, sources_dir: Path, name: str, **mapping: object) -> list[RawRecord]:
    return load_source(manifest.get(name), sources_dir, MappingConfig(**mapping))


def _opinion(manifest: Manifest, sources_dir: Path, name: str, **mapping: object) -> list[RawRecord]:
    """An emotion / sentiment source with every topic kept (the default keeps political rows only)."""
    return _load(manifest, sources_dir, name, **{"opinion_topics": OpinionTopics.ALL, **mapping})


def _by_row(records: list[RawRecord]) -> dict[str, RawRecord]:
    return {r.id.rsplit(":", 1)[1] if r.id.count(":") == 2 else r.id: r for r in records}


def test_every_manifest_source_has_a_loader():
    assert set(LOADERS) == set(load_manifest().names)


# --- text repair ---------------------------------------------------------------------------------


def test_decode_byte_escapes_restores_emoji_and_quotes():
    assert decode_byte_escapes(r"lucu \xf0\x9f\x98\x82\xf0\x9f\x98\x82") == "lucu 😂😂"
    assert decode_byte_escapes(r"\xe2\x80\x9cya\xe2\x80\x9d") == "“ya”"
    # a truncated sequence (tweet cut mid-emoji) is dropped, not turned into mojibake
    assert decode_byte_escapes(r"habis \xf0\x9f") == "habis "


def test_decode_mixed_keeps_utf8_reads_latin1_and_drops_corrupted_runs():
    assert decode_mixed("ok ²".encode()) == "ok ²"
    assert decode_mixed(b"Caf\xe9") == "Café"
    assert decode_mixed(b"menang \xf0??!") == "menang  !"


def test_fix_mojibake_repairs_cp1252_decoded_utf8_only():
    assert fix_mojibake("lucu ðŸ˜‚") == "lucu 😂"
    assert fix_mojibake("DPDÂ\xa0Partai") == "DPD\xa0Partai"
    assert fix_mojibake("Café biasa 😂") == "Café biasa 😂"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Minat chat WA 0812 0000 2222", True),
        ("cek di bit.ly/contoh", True),
        ("info klik www.contoh.com", True),
        ("DM aja kak", True),
        ("transfer ke rek BANK CONTOH a/n Fulan", True),
        ("rapat jam 08.00 - 09.00 di kantor", False),
        ("Sisa kuota anda 500MB", False),
        ("lihat fotonya pic.twitter.com/AbCdEf", False),
    ],
)
def test_pushes_off_platform(text, expected):
    assert pushes_off_platform(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ini nomor baru mama, tolong belikan pulsa 20rb, mama di kantor polisi", True),
        ("Yank tolong isiin pulsa di no ini, penting", True),
        ("Berkat isi ulang pulsa no anda pemenang hadiah, klik www.contoh.com", False),
        ("Agen pulsa murah, daftar ketik INFO", False),
    ],
)
def test_pity_bait_rule(text, expected):
    assert is_pity_bait_sms(text) is expected


# --- one test per source, on the hand-written fixtures ------------------------------------------


def test_ibrohim2019_latin1_escapes_and_mapping(manifest, sources_dir):
    rows = _by_row(_load(manifest, sources_dir, "ibrohim2019"))
    assert rows["1"].text == "@user dasar muka tembok lu gak tau malu 😡"
    assert rows["1"].labels == (B,)
    assert rows["1"].annotated == (B,)
    assert rows["1"].license == "CC-BY-NC-SA-4.0"
    assert rows["3"].text == "Ngakak anjir liat kucing jatuh dari kursi, lucu banget\nasli deh"
    assert rows["3"].excluded == "abusive_only=drop"  # Abusive=1, HS=0
    assert rows["4"].text == "Selamat pagi semua, jangan lupa sarapan ya http://url"
    assert rows["4"].labels == ()
    assert rows["6"].text == "Kopi di kafe itu enak, namanya Café Senja"
    assert rows["7"].text == "Tim kita menang lagi malam ini"
    assert all(not r.text.endswith("'") and "\\x" not in r.text for r in rows.values())


@pytest.mark.parametrize(
    ("policy", "labels", "excluded"),
    [
        (AbusiveOnly.DROP, (), "abusive_only=drop"),
        (AbusiveOnly.CLEAN, (), None),
        (AbusiveOnly.BULLYING, (B,), None),
    ],
)
def test_abusive_only_policy(manifest, sources_dir, policy, labels, excluded):
    for name, row in (("ibrohim2019", "3"), ("ibrohim2018", "3"), ("local_abusive_jv_su", "2")):
        records = _load(manifest, sources_dir, name, abusive_only=policy)
        record = next(r for r in records if r.id.endswith(f":{row}") and "Sundanese" not in r.id)
        assert (record.labels, record.excluded) == (labels, excluded), name


def test_anonymised_tokens_switch(manifest, sources_dir):
    rows = _by_row(_load(manifest, sources_dir, "ibrohim2019", anonymised_tokens_to_placeholders=False))
    assert rows["1"].text.startswith("USER dasar")
    assert rows["4"].text.endswith("sarapan ya URL")


def test_ibrohim2018_three_labels(manifest, sources_dir):
    rows = _by_row(_load(manifest, sources_dir, "ibrohim2018"))
    assert rows["1"].labels == () and rows["1"].excluded is None
    assert rows["2"].text == "@user muka lu kayak pantat panci gosong"
    assert rows["2"].labels == (B,)
    assert rows["3"].text == "Anjir macet banget jalanan pagi ini 😭"
    assert rows["4"].text == "Besok libur, mau jalan ke pantai bareng keluarga\n\nsiapa ikut?"


def test_local_abusive_javanese_and_sundanese(manifest, sources_dir):
    records = _load(manifest, sources_dir, "local_abusive_jv_su")
    assert len(records) == 7
    by_id = {r.id: r for r in records}
    assert by_id["local_abusive_jv_su:Javanese.csv:1"].labels == (B,)
    assert by_id["local_abusive_jv_su:Javanese.csv:2"].text == "Asu jaringane lemot meneh 😤"
    assert by_id["local_abusive_jv_su:Javanese.csv:2"].excluded == "abusive_only=drop"
    assert by_id["local_abusive_jv_su:Sundanese.csv:3"].labels == ()
    assert (
        by_id["local_abusive_jv_su:Sundanese.csv:1"].text == "@user maneh teh belegug pisan, teu boga uteuk"
    )


def test_blob_folder_is_label_and_discord_is_live_chat(manifest, sources_dir):
    records = _load(manifest, sources_dir, "blob_toxic_chat")
    assert len(records) == 10
    toxic = [r for r in records if "negative_impact" in r.id]
    assert len(toxic) == 5 and all(r.labels == (B,) for r in toxic)
    assert all(r.labels == () for r in records if "normal__" in r.id)
    assert {r.surface for r in records if "discord" in r.id} == {Surface.LIVE_CHAT}
    assert {r.surface for r in records if "discord" not in r.id} == {Surface.COMMENT}


def test_hs_longtext_keeps_multiline_posts(manifest, sources_dir):
    rows = _by_row(_load(manifest, sources_dir, "hs_longtext_nofaulia"))
    assert rows["1"].labels == () and rows["1"].text.count("\n") == 3
    assert rows["2"].labels == (B,)


def test_sms_rahmi_mapping(manifest, sources_dir):
    rows = _by_row(_load(manifest, sources_dir, "sms_spam_rahmi"))
    assert rows["1"].labels == ()
    assert rows["3"].labels == (P,)  # "mama minta pulsa" scam
    assert rows["4"].labels == (R,)  # prize fraud with a link
    assert rows["5"].labels == (R,)  # transfer to a bank account
    assert rows["6"].excluded == "fraud_without_push"
    assert rows["7"].labels == (R,)  # promo with a link
    assert rows["8"].labels == ()  # promo without a push
    assert rows["3"].annotated == (P, R)


def test_sms_rahmi_switches(manifest, sources_dir):
    rows = _by_row(
        _load(manifest, sources_dir, "sms_spam_rahmi", pity_bait_rule=False, sms_promo=SmsPromo.DROP)
    )
    assert rows["3"].labels == (R,)
    assert rows["7"].excluded == "sms_promo=drop"
    rows = _by_row(_load(manifest, sources_dir, "sms_spam_rahmi", sms_promo=SmsPromo.REDIRECTION))
    assert rows["8"].labels == (R,)


def test_sms_bopbi_spam_with_a_push_is_redirection(manifest, sources_dir):
    by_id = {r.id: r for r in _load(manifest, sources_dir, "sms_spam_bopbi")}
    assert by_id["sms_spam_bopbi:loan/1.txt:1"].labels == (R,)
    assert by_id["sms_spam_bopbi:prize/1.txt:1"].labels == (R,)
    assert by_id["sms_spam_bopbi:premium-sms/1.txt:1"].excluded == "spam_without_push"
    assert by_id["sms_spam_bopbi:loan/1.txt:1"].license == "CC0-1.0"


def test_judol_drops_personal_columns(manifest, sources_dir):
    records = _load(manifest, sources_dir, "judol_gbennnn")
    assert len(records) == 8
    assert sum(r.labels == (R,) for r in records) == 4
    dumped = json.dumps([r.__dict__ for r in records], default=str, ensure_ascii=False)
    assert "@penonton" not in dumped and "Ugx0000" not in dumped
    assert records[2].text == "Gimana caranya ⭐𝐒𝐈𝐓𝐔𝐒𝟕𝟕⭐ bisa se-populer ini? Hebat!"


def test_prostitution_buckets_and_redirection_rule(manifest, sources_dir):
    by_id = {r.id: r for r in _load(manifest, sources_dir, "prostitution_twitter_laksito")}
    pos = "prostitution_twitter_laksito:twitter-prostitute.csv"
    neg = "prostitution_twitter_laksito:twitter-not-prostitute.csv"
    assert by_id[f"{pos}:1"].labels == (S, R)  # WA number
    assert by_id[f"{pos}:2"].labels == (S, R)  # DM
    assert by_id[f"{pos}:3"].labels == (S,)
    assert by_id[f"{neg}:1"].labels == () and by_id[f"{neg}:1"].annotated == (S,)
    assert by_id[f"{neg}:1"].text == "Lucu banget kucingku tidur di atas laptop 😂"  # mojibake repaired
    dumped = json.dumps([r.__dict__ for r in by_id.values()], default=str)
    assert "akun_contoh" not in dumped
    off = {
        r.id: r
        for r in _load(
            manifest, sources_dir, "prostitution_twitter_laksito", solicitation_redirection_rule=False
        )
    }
    assert off[f"{pos}:1"].labels == (S,)


@pytest.mark.parametrize(
    ("policy", "labels", "excluded"),
    [
        (IbrohimPlainHs.DROP, (), "ibrohim_plain_hs=drop"),
        (IbrohimPlainHs.CLEAN, (), None),
        (IbrohimPlainHs.BULLYING, (B,), None),
    ],
)
def test_ibrohim2019_plain_hs_switch(manifest, sources_dir, policy, labels, excluded):
    rows = _by_row(_load(manifest, sources_dir, "ibrohim2019", ibrohim_plain_hs=policy))
    # HS=1, Abusive=0, only HS_Other: a demand that the government resign
    assert (rows["9"].labels, rows["9"].excluded) == (labels, excluded)
    # HS=1, Abusive=0 but HS_Race, and HS=1 with Abusive=1: bullying whatever the switch says
    assert rows["10"].labels == (B,) and rows["2"].labels == (B,)


# --- the emotion and sentiment sets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dasar g0blok", False),  # the screen is on raw words; the normaliser's job is not repeated here
        ("dasar goblok lu", True),
        ("Anjirrr lucu banget", True),
        ("pemerintah harus lebih cepat", False),
        ("asupan gizi anak", False),  # "asu" only as a word
    ],
)
def test_profanity_screen_words(text, expected):
    assert has_profanity(text) is expected


def test_saputri_emotions_tokens_and_profanity_screen(manifest, sources_dir):
    rows = _by_row(_opinion(manifest, sources_dir, "saputri_emotion_twitter"))
    assert rows["1"].text == "Seneng banget ketemu teman lama @user, fotonya di http://url"
    assert rows["1"].labels == () and rows["1"].annotated == (B,)
    assert rows["2"].excluded == "emotion_anger=drop"
    assert rows["3"].labels == () and rows["3"].license == "CC-BY-NC-SA-4.0"
    assert rows["4"].excluded == "profanity_screen"  # sadness, but swears
    assert rows["5"].text == "Takut liat berita banjir\nsemoga semua aman"
    clean = _by_row(
        _opinion(
            manifest,
            sources_dir,
            "saputri_emotion_twitter",
            emotion_anger=DropOrClean.CLEAN,
            profanity_screen=False,
            anonymised_tokens_to_placeholders=False,
        )
    )
    assert clean["2"].labels == () and clean["2"].excluded is None
    assert clean["4"].labels == () and clean["4"].excluded is None
    assert clean["1"].text.startswith("Seneng banget ketemu teman lama [USERNAME]")


def _riccosan(manifest, sources_dir, **mapping) -> dict[str, RawRecord]:
    return {
        r.id.removeprefix("riccosan_emotion_opinion:"): r
        for r in _opinion(manifest, sources_dir, "riccosan_emotion_opinion", **mapping)
    }


def test_riccosan_neutral_promos_rentals_and_bank_replies(manifest, sources_dir):
    rows = _riccosan(manifest, sources_dir)
    assert rows["AngerData.csv:1"].excluded == "emotion_anger=drop"
    neutral = {k.split(":")[1]: v for k, v in rows.items() if k.startswith("NeutralData")}
    assert neutral["1"].labels == () and neutral["1"].annotated == (B,)
    assert neutral["2"].text == '"katanya" hari ini hujan, bawa payung ya'  # quotes are text, not CSV
    assert neutral["3"].labels == (R,) and neutral["3"].annotated == (B, R)  # app reseller, "dm atau wa"
    assert neutral["4"].labels == (R,)  # WhatsApp number
    assert neutral["5"].labels == () and neutral["5"].annotated == (B,)  # bank reply: a scam warning
    assert neutral["6"].excluded == "partner_rental=solicitation_if_nsfw"  # "regular only"
    assert neutral["7"].labels == ()  # "wa" without anything for sale
    assert neutral["8"].excluded == "profanity_screen"
    love = {k.split(":")[1]: v for k, v in rows.items() if k.startswith("LoveData")}
    assert love["1"].labels == ()
    assert love["2"].labels == (S, R) and love["2"].annotated == tuple(Label)  # nsfw rental, "dm aku"
    assert love["3"].labels == (S, R)  # "include/exclude ... order by dm"


def test_riccosan_switches(manifest, sources_dir):
    rows = _riccosan(
        manifest, sources_dir, partner_rental=PartnerRental.SOLICITATION, opinion_promo_rule=False
    )
    assert rows["NeutralData.csv:6"].labels == (S, R)
    assert rows["NeutralData.csv:3"].labels == () and rows["NeutralData.csv:3"].annotated == (B,)
    rows = _riccosan(
        manifest, sources_dir, partner_rental=PartnerRental.DROP, emotion_anger=DropOrClean.CLEAN
    )
    assert rows["LoveData.csv:2"].excluded == "partner_rental=drop"
    assert rows["AngerData.csv:1"].labels == () and rows["AngerData.csv:1"].excluded is None


def test_opinion_topics_political_keeps_only_political_clean_rows(manifest, sources_dir):
    smsa = {
        r.id.rsplit(":", 1)[1]: r for r in _load(manifest, sources_dir, "indonlu_smsa") if "train" in r.id
    }
    assert smsa["1"].excluded == "opinion_topics=political"  # a venue review
    assert smsa["2"].labels == () and smsa["2"].excluded is None  # "presiden meresmikan jalan tol ..."
    assert smsa["3"].excluded == "sentiment_negative=drop"  # the negative rule still names itself
    ricco = {
        r.id.removeprefix("riccosan_emotion_opinion:"): r
        for r in _load(manifest, sources_dir, "riccosan_emotion_opinion")
    }
    assert ricco["NeutralData.csv:1"].excluded == "opinion_topics=political"
    assert ricco["NeutralData.csv:3"].labels == (R,)  # rule-labelled rows are not topic-filtered


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jual akun premium 10k, minat dm ya", True),
        ("pesan di wa 0812-0000-3333", True),
        ("lagi males bales wa", False),
        ("akun resmi kami hanya whatsapp 0812-0000-4444, hati-hati penipuan", False),
    ],
)
def test_promo_with_contact(text, expected):
    assert is_promo_with_contact(text) is expected


def test_partner_rental_ad():
    assert is_partner_rental_ad("halo sender, aku avail hari ini, cek carrd aku")
    assert not is_partner_rental_ad("aku available jam 3 buat rapat")  # no roleplay-partner cue


def test_detokenise_closes_punctuation_spacing():
    assert detokenise("enak , murah ( banget ) !") == "enak, murah (banget)!"


def test_smsa_tokenised_tsv_without_header(manifest, sources_dir):
    by_id = {r.id: r for r in _opinion(manifest, sources_dir, "indonlu_smsa")}
    train = "indonlu_smsa:train_preprocess.tsv"
    assert by_id[f"{train}:1"].text == "tempat nya nyaman, makanan nya enak."
    assert by_id[f"{train}:2"].labels == () and by_id[f"{train}:2"].license == "Apache-2.0"
    assert by_id[f"{train}:3"].excluded == "sentiment_negative=drop"
    assert by_id[f"{train}:4"].text == '"enak" kata teman saya (dan benar)!'
    assert by_id[f"{train}:5"].excluded == "profanity_screen"  # positive, but insults the council
    assert by_id["indonlu_smsa:test_preprocess.tsv:1"].labels == ()
    negative_clean = _opinion(manifest, sources_dir, "indonlu_smsa", sentiment_negative=DropOrClean.CLEAN)
    assert {r.id: r for r in negative_clean}[f"{train}:3"].labels == ()


def test_rayendito_polarity_and_norm_text(manifest, sources_dir):
    rows = _by_row(_opinion(manifest, sources_dir, "rayendito_vaccine_tweets"))
    assert rows["1"].text == "udh vaksin kedua alhamdulillah lancar"  # `norm`, not the `formal` rewrite
    assert rows["1"].labels == () and rows["3"].labels == ()
    assert rows["2"].excluded == "sentiment_negative=drop"
    assert rows["4"].excluded == "profanity_screen"


def test_habibul08_repairs_mojibake(manifest, sources_dir):
    rows = _by_row(_opinion(manifest, sources_dir, "habibul08_pilpres2019_tweets"))
    assert rows["1"].text == "Debat tadi malam seru, semoga pemilu damai 👍"
    assert rows["2"].text.endswith("http://example.com/berita\xa0 …")
    assert rows["3"].excluded == "sentiment_negative=drop"
    assert rows["4"].labels == () and rows["4"].annotated == (B,)
    assert all("ð" not in r.text and "Â" not in r.text for r in rows.values())


def test_livechat_relabels_promos_decodes_emoji_and_drops_authors(manifest, sources_dir):
    rows = _by_row(_load(manifest, sources_dir, "kiipiiin_judol_livechat"))
    assert {r.surface for r in rows.values()} == {Surface.LIVE_CHAT}
    assert rows["1"].text == "halo jogja ❤️" and rows["1"].labels == ()
    assert rows["1"].annotated == (R,)
    assert rows["2"].labels == (R,)
    assert rows["3"].text == "🔥ANGKA TERBALIK DI BAYAR🔥" and rows["3"].labels == (R,)  # labelled 0
    assert rows["4"].labels == ()  # labelled 1: a viewer asking to block the spam
    assert rows["5"].labels == ()
    assert rows["6"].text == "mantap :hand-pink-waving:"  # a channel emoji has no Unicode form
    assert rows["7"].labels == (R,)
    dumped = json.dumps([r.__dict__ for r in rows.values()], default=str, ensure_ascii=False)
    assert "Budi Contoh" not in dumped and "Penonton" not in dumped and "2024-10-07" not in dumped
    raw = _by_row(
        _load(
            manifest,
            sources_dir,
            "kiipiiin_judol_livechat",
            livechat_promo_relabel=False,
            emoji_shortcodes=False,
        )
    )
    assert raw["3"].labels == () and raw["3"].text.startswith(":fire:")
    assert raw["4"].labels == (R,)


def test_decode_emoji_codes():
    assert decode_emoji_codes(":smiling_face_with_heart_eyes: :thumbs_up: :yt: 10:30:") == "😍 👍 :yt: 10:30:"


# --- errors ----------------------------------------------------------------------------------------


def test_missing_raw_file_says_to_fetch(manifest, tmp_path):
    with pytest.raises(DataError, match=r"re_dataset\.csv not found: fetch the sources first"):
        load_source(manifest.get("ibrohim2019"), tmp_path, MappingConfig())


def test_checksum_mismatch_names_file_and_hashes(manifest, sources_dir, tmp_path):
    shutil.copytree(sources_dir / "sms_spam_rahmi", tmp_path / "sms_spam_rahmi")
    path = tmp_path / "sms_spam_rahmi" / "dataset_sms_spam_v1.csv"
    path.write_bytes(path.read_bytes() + b"Tambahan,0\n")
    expected = manifest.get("sms_spam_rahmi").files[0].sha256
    with pytest.raises(
        DataError, match=f"sha256 mismatch for {path}: expected {expected}, got [0-9a-f]{{64}}"
    ):
        load_source(manifest.get("sms_spam_rahmi"), tmp_path, MappingConfig())
    # the same file passes when verification is off
    assert load_source(manifest.get("sms_spam_rahmi"), tmp_path, MappingConfig(), verify=False)


def test_malformed_row_names_file_and_row(manifest, tmp_path):
    folder = tmp_path / "sms_spam_rahmi"
    folder.mkdir()
    (folder / "dataset_sms_spam_v1.csv").write_text("teks,label\nhalo,0\nrusak,0,extra\n")
    with pytest.raises(DataError, match=r"dataset_sms_spam_v1\.csv:row 2: expected 2 fields, got 3"):
        load_source(manifest.get("sms_spam_rahmi"), tmp_path, MappingConfig(), verify=False)
    (folder / "dataset_sms_spam_v1.csv").write_text("teks,label\nhalo,5\n")
    with pytest.raises(DataError, match=r"row 1: column 'label' is '5'; expected one of 0, 1, 2"):
        load_source(manifest.get("sms_spam_rahmi"), tmp_path, MappingConfig(), verify=False)


@pytest.mark.parametrize(
    ("source", "file", "content", "message"),
    [
        (
            "saputri_emotion_twitter",
            "Twitter_Emotion_Dataset.csv",
            "label,tweet\nhappy,senang\nsurprise,kaget\n",
            r"Twitter_Emotion_Dataset\.csv:row 2: column 'label' is 'surprise'; expected one of anger, happy",
        ),
        (
            "riccosan_emotion_opinion",
            "NeutralData.csv",
            "Tweet\tLabel\r\nbiasa aja\tNeutral\r\nsenang\tJoy\r\n",
            r"NeutralData\.csv:row 2: column 'Label' is 'Joy'; expected one of Neutral",
        ),
        (
            "indonlu_smsa",
            "train_preprocess.tsv",
            "enak .\tpositive\nenak\tpositive\textra\n",
            r"train_preprocess\.tsv:row 2: expected 2 fields, got 3",
        ),
        (
            "rayendito_vaccine_tweets",
            "id_vaccines_tweets.csv",
            ",norm,formal,subjektif,posneg\n0,a,a,0.0,2.0\n",
            r"id_vaccines_tweets\.csv:row 1: column 'posneg' is '2'",
        ),
        (
            "habibul08_pilpres2019_tweets",
            "tweet.csv",
            ",sentimen,tweet\n0,positif,bagus\n1,positive,bagus\n",
            r"tweet\.csv:row 2: column 'sentimen' is 'positive'; expected one of positif, netral, negatif",
        ),
        (
            "kiipiiin_judol_livechat",
            "youtube_chat_jogja_clean.csv",
            "datetime,author_name,message,cleaned_message,label\n2024-10-07,A,halo,halo\n",
            r"youtube_chat_jogja_clean\.csv:row 1: expected 5 fields, got 4",
        ),
    ],
)
def test_new_sources_name_file_and_row_of_a_bad_row(manifest, tmp_path, source, file, content, message):
    folder = tmp_path / source
    folder.mkdir()
    for other in manifest.get(source).data_files():
        (folder / other.name).write_text(
            content if other.name == file else _header_only(source), encoding="utf-8"
        )
    with pytest.raises(DataError, match=message):
        load_source(manifest.get(source), tmp_path, MappingConfig(), verify=False)


def _header_only(source: str) -> str:
    return {"riccosan_emotion_opinion": "Tweet\tLabel\r\n", "indonlu_smsa": ""}[source]


# --- curated ---------------------------------------------------------------------------------------


def _curated(tmp_path: Path, lines: list[object]) -> Path:
    folder = tmp_path / "curated"
    folder.mkdir(exist_ok=True)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    (folder / "a.jsonl").write_text(text, encoding="utf-8")
    return folder


def _line(i: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": f"c-{i}",
        "text": f"kak tolong gift dong aku lagi sakit {i}",
        "labels": ["pity_bait"],
        "surface": "live_chat",
        "family": "fam",
    }
    row.update(kw)
    return row


def test_curated_loader_reads_labels_family_and_license(tmp_path):
    folder = _curated(tmp_path, [_line(1), _line(2, labels=[], augmented=True, surface="comment")])
    first, second = load_curated(folder)
    assert first.id == "curated:c-1" and first.labels == (P,) and first.family == "fam"
    assert first.annotated is None and first.license == CURATED_LICENSE and first.surface is Surface.LIVE_CHAT
    assert second.augmented and second.labels == () and second.surface is Surface.COMMENT


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_line(2, labels=["spam"]), r"a\.jsonl:2: unknown label 'spam'"),
        ("{not json", r"a\.jsonl:2: not valid JSON"),
        ({k: v for k, v in _line(2).items() if k != "family"}, r"a\.jsonl:2: missing 'family'"),
        (_line(2, text="  "), r"a\.jsonl:2: 'text' must be a non-empty string"),
        (_line(2, surface="dm"), r"a\.jsonl:2: unknown surface 'dm'"),
        (_line(2, augmented="yes"), r"a\.jsonl:2: 'augmented' must be true or false"),
        (_line(1), r"a\.jsonl:2: duplicate id 'curated:c-1' \(first at .*a\.jsonl:1\)"),
    ],
)
def test_curated_errors_name_file_and_line(tmp_path, bad, message):
    folder = _curated(tmp_path, [_line(1), bad])
    with pytest.raises(DataError, match=message):
        load_curated(folder)


def test_missing_curated_folder(tmp_path):
    with pytest.raises(DataError, match="curated folder not found"):
        load_curated(tmp_path / "nope")
