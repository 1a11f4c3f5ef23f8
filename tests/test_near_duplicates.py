"""Near-copy search: MinHash LSH finds character-level near-copies and nothing unrelated."""

from __future__ import annotations

import numpy as np
import pytest

from data.near_duplicates import NearCopyIndex, char_shingles, jaccard

TRAIN = [
    "open bo malam ini area jaksel, wa aja kak #openbo #avail #jaksel",
    "dasar pejabat korup, turun aja lu dari kursi",
    "makasih kak mawarnya, sehat selalu ya",
]


def test_char_shingles_fold_case_and_whitespace() -> None:
    assert char_shingles("Ab  C") == char_shingles("ab c") == {"ab ", "b c"}
    assert char_shingles("ab") == {"ab"}
    assert char_shingles("   ") == set()


def test_a_hashtag_wall_variant_is_a_near_copy_and_a_new_sentence_is_not() -> None:
    index = NearCopyIndex(TRAIN)
    queries = [
        "open bo malam ini area jakbar, wa aja kak #openbo #avail #jakbar",  # one word swapped
        "DASAR PEJABAT KORUP, turun aja lu dari kursi!!",  # case and punctuation
        "hari ini aku masak rendang buat keluarga",
        "",
    ]
    mask = index.near_copies(queries)
    assert mask.tolist() == [True, True, False, False]
    best = index.best_match(queries)
    assert best[0] >= 0.5 and best[2] < 0.5 and best[3] == 0.0


def test_best_match_is_the_exact_jaccard_of_a_candidate() -> None:
    index = NearCopyIndex(TRAIN)
    query = "makasih kak mawarnya, sehat selalu ya semuanya"
    expected = jaccard(char_shingles(query), char_shingles(TRAIN[2]))
    assert index.best_match([query])[0] == pytest.approx(expected)


def test_lsh_recall_on_many_pairs_is_high() -> None:
    rng = np.random.default_rng(0)
    words = [f"kata{i}" for i in range(400)]
    corpus = [" ".join(rng.choice(words, 12)) for _ in range(300)]
    # Each query keeps 11 of 12 words: Jaccard well above 0.5 with its source line.
    queries = [" ".join([*line.split()[:-1], "ganti"]) for line in corpus]
    index = NearCopyIndex(corpus)
    assert index.near_copies(queries).mean() > 0.95
    unrelated = [" ".join(rng.choice(words, 12)) for _ in range(300)]
    assert index.near_copies(unrelated).mean() < 0.02


def test_an_empty_corpus_finds_nothing_and_a_bad_threshold_is_refused() -> None:
    assert not NearCopyIndex([]).near_copies(["apa aja"]).any()
    with pytest.raises(ValueError, match="threshold"):
        NearCopyIndex(TRAIN, threshold=0)
