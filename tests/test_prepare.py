from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from data.config import DataConfig, LabelConflict, SourceOptions
from data.dataset import SPLITS, read_split
from data.loaders import RawRecord
from data.normalize import dedup_key
from data.prepare import deduplicate, near_duplicate_pairs, prepare
from data.sources import fetch, load_manifest
from data.taxonomy import LABEL_NAMES, Label, Surface
from tegur.config import TegurConfig, load_config
from tegur.errors import ConfigError, DataError

B, S, P, R = Label.BULLYING, Label.SEXUAL_SOLICITATION, Label.PITY_BAIT, Label.OFF_PLATFORM_REDIRECTION
# 64 made-up words, so that curated test lines share few tokens (no accidental near-duplicates).
_WORDS = [
    a + b
    for a in ("ba", "ki", "mu", "se", "to", "la", "pe", "ro")
    for b in ("dan", "rik", "sul", "mon", "tap", "gel", "wis", "kur")
]
_LABEL_CYCLE = (["bullying"], ["sexual_solicitation"], ["pity_bait"], ["off_platform_redirection"], [])


@pytest.fixture(scope="module")
def sources_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "sources"


def write_curated(folder: Path, *, families: int = 30, per_family: int = 4, augmented: int = 0) -> Path:
    """Curated lines with distinct word salads; the last ``augmented`` lines of each family are augmented."""
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for f in range(families):
        labels = _LABEL_CYCLE[f % len(_LABEL_CYCLE)]
        for j in range(per_family):
            lines.append(
                {
                    "id": f"t-{f}-{j}",
                    "text": " ".join(rng.sample(_WORDS, 6)),
                    "labels": labels,
                    "surface": "live_chat",
                    "family": f"fam-{f}",
                    "augmented": j >= per_family - augmented,
                }
            )
    (folder / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in lines), encoding="utf-8")
    return folder


def make_config(sources_dir: Path, tmp_path: Path, name: str = "t", **overrides: Any) -> TegurConfig:
    data: dict[str, Any] = {
        "manifest": sources_dir / "manifest.yaml",
        "raw_dir": sources_dir,
        "curated_dir": tmp_path / "curated",
        "output_dir": tmp_path / f"out-{name}",
        "allow_non_commercial": True,
        "allow_unlicensed": True,
        "test_fraction": 0.3,
        "validation_fraction": 0.2,
        "min_test_positives": 0,
    }
    data.update(overrides)
    if "curated_dir" not in overrides and not (tmp_path / "curated").exists():
        write_curated(tmp_path / "curated")
    return TegurConfig(name=name, data=DataConfig(**data))


def split_of(result_dir: Path) -> dict[str, str]:
    return {ex.id: split for split in SPLITS for ex in read_split(result_dir, split)}


# --- the whole run ---------------------------------------------------------------------------------


def test_prepare_writes_readable_splits_and_stats(sources_dir, tmp_path):
    result = prepare(make_config(sources_dir, tmp_path))
    out = result.output_dir
    assert sorted(p.name for p in out.iterdir()) == [
        "stats.json",
        "stats.md",
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]
    examples = {ex.id: ex for split in SPLITS for ex in read_split(out, split)}
    ex = examples["ibrohim2019:re_dataset.csv:1"]
    assert ex.text == "@user dasar muka tembok lu gak tau malu 😡"  # raw text, not the normalised one
    assert ex.labels == (B,) and ex.annotated == (B,) and ex.license == "CC-BY-NC-SA-4.0"
    assert examples["curated:t-0-0"].annotated is None and examples["curated:t-0-0"].license == "Apache-2.0"
    assert examples["curated:t-0-0"].surface is Surface.LIVE_CHAT
    stats = json.loads((out / "stats.json").read_text())
    assert stats["splits"]["test"]["examples"] == len(result.splits["test"])
    assert sum(stats["splits"][s]["examples"] for s in SPLITS) == len(examples)
    md = (out / "stats.md").read_text()
    assert "| source | label | train | validation | test | total |" in md
    assert "| judol_gbennnn | MIT | yes | yes |" in md
    # the rows a mapping rule drops are counted, not written
    assert stats["dedup"]["dropped_by_mapping_rule"]["sms_spam_rahmi:fraud_without_push"] == 1
    assert "sms_spam_rahmi:dataset_sms_spam_v1.csv:6" not in examples


def test_no_message_in_two_splits_and_cross_source_copies_merged(sources_dir, tmp_path):
    result = prepare(make_config(sources_dir, tmp_path))
    split_of_key: dict[str, str] = {}
    for split, examples in result.splits.items():
        for ex in examples:
            key = dedup_key(ex.text)
            assert split_of_key.setdefault(key, split) == split, ex.text
    texts = [ex.text for examples in result.splits.values() for ex in examples]
    # the same tweet is in ibrohim2019 and ibrohim2018: one copy, from the higher-priority source
    assert texts.count("Hari ini hujan terus dari pagi sampai sore di kota kami") == 1
    ids = {ex.id for examples in result.splits.values() for ex in examples}
    assert "ibrohim2019:re_dataset.csv:5" in ids and "ibrohim2018:re_dataset_three_labels.csv:1" not in ids
    assert result.stats["dedup"]["cross_source_duplicates"] >= 1


def test_families_never_straddle_splits(sources_dir, tmp_path):
    result = prepare(make_config(sources_dir, tmp_path))
    split = {ex.id: s for s, examples in result.splits.items() for ex in examples}
    by_family = defaultdict(set)
    for ex_id, s in split.items():
        if ex_id.startswith("curated:"):
            by_family[ex_id.split("-")[1]].add(s)
    assert all(len(splits) == 1 for splits in by_family.values())
    assert {s for splits in by_family.values() for s in splits} == set(SPLITS)  # not trivially one split
    # the four judol spam-template variants (different site names) are one family
    judol = [f"judol_gbennnn:dataset_dataset_judol_labelled.csv:{i}" for i in (3, 4, 5)]
    assert len({split[i] for i in judol}) == 1


def test_output_is_deterministic(sources_dir, tmp_path):
    first = prepare(make_config(sources_dir, tmp_path, name="a")).output_dir
    second = prepare(make_config(sources_dir, tmp_path, name="b")).output_dir
    for split in SPLITS:
        assert (first / f"{split}.jsonl").read_bytes() == (second / f"{split}.jsonl").read_bytes()


def test_test_split_is_stable_when_a_source_is_added(sources_dir, tmp_path):
    names = load_manifest(sources_dir / "manifest.yaml").names
    fewer = {n: SourceOptions() for n in names if n not in ("judol_gbennnn", "sms_spam_bopbi")}
    before = split_of(prepare(make_config(sources_dir, tmp_path, name="fewer", sources=fewer)).output_dir)
    after = split_of(prepare(make_config(sources_dir, tmp_path, name="all")).output_dir)
    assert any(s == "test" for s in before.values())
    assert {i: after[i] for i in before} == before
    assert any(i.startswith("judol_gbennnn") for i in after)


def test_license_filter(sources_dir, tmp_path):
    result = prepare(make_config(sources_dir, tmp_path, allow_non_commercial=False, allow_unlicensed=False))
    sources = {ex.source for examples in result.splits.values() for ex in examples}
    assert sources == {"curated", "blob_toxic_chat", "sms_spam_bopbi", "judol_gbennnn", "indonlu_smsa"}
    reasons = {s["name"]: s["reason"] for s in result.stats["sources"] if not s["included"]}
    assert "forbids commercial use" in reasons["ibrohim2019"]
    assert "no license stated" in reasons["prostitution_twitter_laksito"]
    assert set(result.stats["licenses"]) == {"Apache-2.0", "MIT", "CC0-1.0"}
    only_nc = prepare(make_config(sources_dir, tmp_path, name="nc", allow_unlicensed=False))
    assert "ibrohim2019" in {ex.source for examples in only_nc.splits.values() for ex in examples}


def test_caps_per_source_and_per_label(sources_dir, tmp_path):
    names = load_manifest(sources_dir / "manifest.yaml").names
    sources = {n: SourceOptions() for n in names}
    sources["prostitution_twitter_laksito"] = SourceOptions(
        max_per_label={"sexual_solicitation": 1, "clean": 1}
    )
    sources["judol_gbennnn"] = SourceOptions(max_rows=2)
    result = prepare(make_config(sources_dir, tmp_path, sources=sources))
    rows = [ex for examples in result.splits.values() for ex in examples]
    prost = [ex for ex in rows if ex.source == "prostitution_twitter_laksito"]
    assert sum(S in ex.labels for ex in prost) == 1 and sum(not ex.labels for ex in prost) == 1
    assert sum(ex.source == "judol_gbennnn" for ex in rows) <= 2
    assert result.stats["capped"] == {"prostitution_twitter_laksito": 3, "judol_gbennnn": 6}


def test_truncation_of_long_sources(sources_dir, tmp_path):
    sources = {"hs_longtext_nofaulia": SourceOptions(max_chars=60)}
    result = prepare(make_config(sources_dir, tmp_path, sources=sources))
    texts = [ex.text for examples in result.splits.values() for ex in examples if ex.source != "curated"]
    assert texts and all(len(t) <= 60 for t in texts)
    assert result.stats["truncated"] == {"hs_longtext_nofaulia": 2}


def test_augmented_lines_only_in_train(sources_dir, tmp_path):
    write_curated(tmp_path / "curated", families=40, per_family=4, augmented=2)
    result = prepare(make_config(sources_dir, tmp_path))
    held_out = [ex.id for s in ("validation", "test") for ex in result.splits[s]]
    assert held_out and not [
        i for i in held_out if i.startswith("curated:t-") and int(i.rsplit("-", 1)[1]) >= 2
    ]
    train = {ex.id for ex in result.splits["train"]}
    assert any(i.startswith("curated:t-") and int(i.rsplit("-", 1)[1]) >= 2 for i in train)
    assert result.stats["augmented_dropped_from_held_out"] > 0


def test_style_augmentation_adds_marked_copies_to_train_only(sources_dir, tmp_path):
    config = make_config(sources_dir, tmp_path, augment={"curated_style_copies": 2})
    result = prepare(config)
    styled = [ex for ex in result.splits["train"] if ex.extra.get("augmentation") == "style"]
    assert styled and all(ex.extra["augmented"] and ex.source == "curated" for ex in styled)
    train_ids = {ex.id for ex in result.splits["train"]}
    assert all(ex.extra["origin"] in train_ids for ex in styled)
    held_out = [ex for s in ("validation", "test") for ex in result.splits[s]]
    assert not [ex for ex in held_out if ex.extra.get("augmented")]
    assert result.stats["augmented_train_rows"] == {"style": len(styled)}
    plain = prepare(make_config(sources_dir, tmp_path, name="plain"))
    assert {ex.id for ex in plain.splits["test"]} == {ex.id for ex in result.splits["test"]}


# --- failures leave nothing behind -----------------------------------------------------------------


def test_unknown_label_in_curated_names_file_line_and_writes_nothing(sources_dir, tmp_path):
    curated = write_curated(tmp_path / "curated", families=2, per_family=2)
    with open(curated / "test.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "x", "text": "halo", "labels": ["spam"], "family": "f"}) + "\n")
    config = make_config(sources_dir, tmp_path)
    with pytest.raises(DataError, match=r"test\.jsonl:5: unknown label 'spam'"):
        prepare(config)
    assert not config.data.output_dir.exists()
    assert list(config.data.output_dir.parent.glob(".out-t*")) == []


def test_failure_keeps_the_previous_output(sources_dir, tmp_path):
    config = make_config(sources_dir, tmp_path)
    prepare(config)
    before = (config.data.output_dir / "test.jsonl").read_bytes()
    failing = make_config(sources_dir, tmp_path, min_test_positives=10_000)
    with pytest.raises(DataError):
        prepare(failing)
    assert (config.data.output_dir / "test.jsonl").read_bytes() == before


def test_too_few_test_positives_names_labels_and_counts(sources_dir, tmp_path):
    config = make_config(sources_dir, tmp_path, min_test_positives=10_000)
    with pytest.raises(DataError) as info:
        prepare(config)
    message = str(info.value)
    assert "at least 10000 positives" in message
    for name in LABEL_NAMES:
        assert f"{name}: " in message
    assert not config.data.output_dir.exists()


def test_missing_folders_and_unknown_sources(sources_dir, tmp_path):
    with pytest.raises(DataError, match="raw data folder not found"):
        prepare(make_config(sources_dir, tmp_path, raw_dir=tmp_path / "nope"))
    with pytest.raises(DataError, match="curated folder not found"):
        prepare(make_config(sources_dir, tmp_path, curated_dir=tmp_path / "nope", sources={}))
    with pytest.raises(ConfigError, match="unknown source"):
        prepare(make_config(sources_dir, tmp_path, sources={"twitter": SourceOptions()}))


def test_label_test_fraction_moves_rare_label_families_to_test(sources_dir, tmp_path):
    base = prepare(make_config(sources_dir, tmp_path, name="base", test_fraction=0.05))
    boosted = prepare(
        make_config(sources_dir, tmp_path, name="boost", test_fraction=0.05, label_test_fraction={P: 0.7})
    )
    assert boosted.stats["test_positives"]["pity_bait"] > base.stats["test_positives"]["pity_bait"]
    assert boosted.stats["test_positives"]["bullying"] == base.stats["test_positives"]["bullying"]


def test_tiny_config_runs_on_the_fixtures(repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(repo_root)
    config = load_config(repo_root / "configs" / "tiny.yaml")
    config.data.output_dir = tmp_path / "tiny"
    result = prepare(config)
    assert all(n >= config.data.min_test_positives for n in result.stats["test_positives"].values())
    assert {ex.source for ex in result.splits["train"]} >= {"curated", "ibrohim2019", "judol_gbennnn"}


# --- building blocks -------------------------------------------------------------------------------


def _rec(source: str, text: str, labels=(), annotated=None, excluded=None) -> RawRecord:
    return RawRecord(
        id=f"{source}:{text}",
        text=text,
        labels=tuple(labels),
        source=source,
        surface=Surface.COMMENT,
        license="x",
        annotated=annotated,
        excluded=excluded,
    )


PRIORITY = {"curated": 0, "a": 1, "b": 2}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(LabelConflict.PRIORITY, (R,)), (LabelConflict.UNION, (R,)), (LabelConflict.DROP, None)],
)
def test_label_conflict_policies(policy, expected):
    # "a" (covers redirection) says redirection, "b" (covers redirection) says clean: a conflict
    records = [_rec("b", "cek bio", annotated=(R,)), _rec("a", "cek bio", labels=(R,), annotated=(R,))]
    items, stats = deduplicate(records, ["k", "k"], PRIORITY, policy)
    assert stats["label_conflicts"] == 1
    assert (items[0].labels if items else None) == expected
    if items:
        assert items[0].record.source == "a"


def test_priority_takes_the_top_source_even_when_it_says_clean():
    records = [_rec("a", "x", annotated=(R,)), _rec("b", "x", labels=(R,), annotated=(R,))]
    [item], _ = deduplicate(records, ["k", "k"], PRIORITY, LabelConflict.PRIORITY)
    assert item.labels == () and item.record.source == "a"
    [item], _ = deduplicate(records, ["k", "k"], PRIORITY, LabelConflict.UNION)
    assert item.labels == (R,)


def test_no_conflict_when_the_other_source_does_not_cover_the_label():
    records = [_rec("a", "x", labels=(B,), annotated=(B,)), _rec("b", "x", annotated=(R,))]
    [item], stats = deduplicate(records, ["k", "k"], PRIORITY, LabelConflict.UNION)
    assert stats["label_conflicts"] == 0
    assert item.labels == (B,) and item.annotated == (B, R)


def test_a_mapping_rule_drop_applies_to_every_copy():
    # ibrohim2019 drops untargeted swearing; the ibrohim2018 copy of the same tweet must not sneak in
    records = [
        _rec("a", "anjir", excluded="abusive_only=drop"),
        _rec("b", "anjir", labels=(B,), annotated=(B,)),
    ]
    items, stats = deduplicate(records, ["k", "k"], PRIORITY, LabelConflict.PRIORITY)
    assert items == [] and stats["dropped_by_mapping_rule"] == {"a:abusive_only=drop": 1}


def test_near_duplicate_pairs_join_templates_only():
    templates = [
        ["gimana", "caranya", "situs0", "bisa", "sepopuler", "ini", "hebat"],
        ["gimana", "caranya", "contoh0", "bisa", "sepopuler", "ini", "hebat"],
        ["gimana", "caranya", "demo0", "bisa", "sepopuler", "ini", "hebat"],
    ]
    other = [
        ["hari", "ini", "hujan", "terus", "dari", "pagi", "sampai", "sore"],
        ["selamat", "ulang", "tahun", "semoga", "sehat"],
    ]
    pairs = near_duplicate_pairs([*templates, *other], threshold=0.5, seed=13)
    joined = {i for pair in pairs for i in pair}
    assert joined == {0, 1, 2}


# --- the real data (slow) --------------------------------------------------------------------------


@pytest.mark.slow
def test_default_config_on_the_real_data(repo_root, tmp_path, monkeypatch):
    shared = repo_root.parent / "shared" / "data"
    raw = tmp_path / "raw"
    fetch(load_manifest(), raw, mirror=shared, show_progress=False)
    monkeypatch.chdir(repo_root)
    config = load_config(repo_root / "configs" / "default.yaml")
    config.data.raw_dir = raw
    config.data.output_dir = tmp_path / "default"
    result = prepare(config)
    for name in LABEL_NAMES:
        assert result.stats["test_positives"][name] >= 40, name
    seen: dict[str, str] = {}
    for split, examples in result.splits.items():
        for ex in examples:
            assert seen.setdefault(dedup_key(ex.text), split) == split, ex.id
