"""Train-only augmentation: topic counterfactuals balance the topic shortcut; style variants restyle."""

from __future__ import annotations

import random

from data.augment import restyle, style_variants, swap_entities, topic_counterfactuals, topic_mentions
from data.dataset import Example
from data.taxonomy import Label

B = (Label.BULLYING,)


def test_swaps_keep_the_kind_and_the_casing_and_one_name_maps_to_one_name() -> None:
    rng = random.Random(0)
    text = "Jokowi bilang, jokowi janji. DPR diam aja"
    out = swap_entities(text, rng)
    mentions = topic_mentions(out)
    assert [k for k, _ in mentions] == ["politician", "politician", "institution"]
    assert mentions[0][1] == mentions[1][1] != "jokowi"
    assert out.split()[0][0].isupper() and mentions[2][1] != "dpr"
    assert "DPR" not in out and any(w.isupper() for w in out.split()[-3:])
    assert swap_entities("aku makan bakso", rng) == "aku makan bakso"


def _rows() -> list[Example]:
    rows = []
    for i in range(30):  # topic rows: 2 in 3 bullying
        labels = B if i % 3 else ()
        rows.append(Example(id=f"t{i}", text=f"pak jokowi kerja {i}", labels=labels, source="pub"))
    for i in range(60):  # other rows: 1 in 4 bullying
        labels = B if i % 4 == 0 else ()
        rows.append(Example(id=f"o{i}", text=f"makan bakso {i}", labels=labels, source="pub"))
    return rows


def _rate(rows: list[Example], topical: bool) -> float:
    chosen = [ex for ex in rows if bool(topic_mentions(ex.text)) is topical]
    return sum(Label.BULLYING in ex.labels for ex in chosen) / len(chosen)


def test_topic_counterfactuals_bring_the_topic_rate_down_to_the_rest() -> None:
    train = _rows()
    assert _rate(train, True) > 0.6
    out = topic_counterfactuals(train, seed=1, max_rows=1000)
    assert out and all(ex.extra["augmented"] and ex.extra["augmentation"] == "topic" for ex in out)
    assert all(ex.extra["origin"] in {r.id for r in train} for ex in out)
    assert all("jokowi" not in ex.text for ex in out)
    assert _rate(train + out, True) <= _rate(train, False) + 1e-9
    assert len({ex.id for ex in out}) == len(out)
    assert topic_counterfactuals(train, seed=1, max_rows=1000) == out  # deterministic
    assert len(topic_counterfactuals(train, seed=1, max_rows=10)) <= 10


def test_style_variants_restyle_only_curated_lines() -> None:
    rng = random.Random(3)
    styled = {restyle("makasih kak, mawarnya cantik banget.", rng) for _ in range(30)}
    assert any("," not in s and not s.endswith(".") for s in styled)
    assert any(s.islower() for s in styled) and len(styled) > 3
    train = [
        Example(id="c1", text="Makasih kak, mawarnya cantik banget.", source="curated"),
        Example(id="p1", text="makan bakso", source="pub"),
    ]
    out = style_variants(train, curated_source="curated", seed=0, copies=2)
    assert out and {ex.extra["origin"] for ex in out} == {"c1"}
    assert all(ex.text != train[0].text for ex in out)
