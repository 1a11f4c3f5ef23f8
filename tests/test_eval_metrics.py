"""Evaluation metrics against values computed by hand, annotation masking, bootstrap and slices."""

from __future__ import annotations

import numpy as np
import pytest

from training.eval_metrics import (
    bootstrap_prf,
    cooccurrence_matrix,
    expected_calibration_error,
    label_metrics,
    pr_auc,
    reliability_bins,
    roc_auc,
    slice_metrics,
)

NAMES = ("a", "b")

# Six messages, label "a" annotated everywhere. At threshold 0.5 the flags are 1 1 0 1 0 0:
# tp = 2 (0.92, 0.9), fp = 1 (0.6), fn = 1 (0.3)  ->  P = R = F1 = 2/3.
Y_A = np.array([1, 1, 1, 0, 0, 0])
P_A = np.array([0.92, 0.9, 0.3, 0.6, 0.2, 0.1])


def test_ece_matches_hand_computation() -> None:
    # 15 bins of width 1/15: 0.92 and 0.9 share bin 13 (mean 0.91, rate 1, gap 0.09, two rows);
    # the other rows sit alone: |0.3-1| + |0.6-0| + |0.2-0| + |0.1-0| = 1.6.  ECE = (2*0.09 + 1.6) / 6.
    assert expected_calibration_error(Y_A, P_A, 15) == pytest.approx(1.78 / 6)
    bins = reliability_bins(Y_A, P_A, 15)
    assert bins["count"][13] == 2
    assert bins["mean_score"][13] == pytest.approx(0.91)
    assert bins["positive_rate"][13] == 1.0
    assert bins["mean_score"][0] is None  # empty bin


def test_ece_puts_a_score_of_one_in_the_last_bin() -> None:
    bins = reliability_bins(np.array([1]), np.array([1.0]), 15)
    assert bins["count"][14] == 1
    assert expected_calibration_error(np.array([1]), np.array([1.0])) == 0.0


def test_ranking_metrics_match_hand_computation() -> None:
    # Ranked: 0.92+ 0.9+ 0.6- 0.3+ ...  AP = (1 + 1 + 3/4) / 3.
    assert pr_auc(Y_A, P_A) == pytest.approx((1 + 1 + 0.75) / 3)
    # Positive-negative pairs ranked right: 3 + 3 + 2 of 9.
    assert roc_auc(Y_A, P_A) == pytest.approx(8 / 9)
    assert roc_auc(np.ones(3), np.array([0.1, 0.2, 0.3])) is None
    assert pr_auc(np.zeros(3), np.array([0.1, 0.2, 0.3])) is None


def test_label_metrics_match_hand_computation_and_respect_annotation() -> None:
    # Label "b" is annotated on rows 0-2 only; rows 3-5 carry a confident "b" score that must count nowhere.
    y = np.stack([Y_A, [1, 0, 0, 0, 0, 0]], axis=1)
    probs = np.stack([P_A, [0.7, 0.8, 0.1, 0.99, 0.99, 0.99]], axis=1)
    mask = np.ones_like(y, dtype=bool)
    mask[3:, 1] = False
    result = label_metrics(y, probs, [0.5, 0.5], mask=mask, label_names=NAMES, n_resamples=200, seed=1)
    a, b = result["labels"]["a"], result["labels"]["b"]
    assert (a["tp"], a["fp"], a["fn"]) == (2, 1, 1)
    assert a["precision"] == pytest.approx(2 / 3)
    assert a["recall"] == pytest.approx(2 / 3)
    assert a["f1"] == pytest.approx(2 / 3)
    assert a["ece"] == pytest.approx(1.78 / 6)
    # b on its 3 annotated rows: flags 1 1 0 against truth 1 0 0 -> tp 1, fp 1, fn 0.
    assert b["rows"] == 3
    assert (b["tp"], b["fp"], b["fn"]) == (1, 1, 0)
    assert b["precision"] == pytest.approx(0.5)
    assert b["recall"] == pytest.approx(1.0)
    assert b["f1"] == pytest.approx(2 / 3)
    assert b["roc_auc"] == pytest.approx(0.5)  # the positive (0.7) beats one of its two negatives
    assert result["macro"]["f1"] == pytest.approx(2 / 3)
    assert result["macro"]["labels"] == ["a", "b"]
    # Pooled ECE over the 9 annotated cells only.
    pooled = expected_calibration_error(
        np.concatenate([Y_A, [1, 0, 0]]), np.concatenate([P_A, [0.7, 0.8, 0.1]])
    )
    assert result["ece_pooled"] == pytest.approx(pooled)
    low, high = a["ci"]["f1"]
    assert 0.0 <= low <= a["f1"] <= high <= 1.0


def test_undefined_metrics_are_none_not_zero() -> None:
    y = np.array([[0], [0], [0]])
    probs = np.array([[0.1], [0.2], [0.3]])
    result = label_metrics(y, probs, [0.5], label_names=("a",), n_resamples=10)
    row = result["labels"]["a"]
    assert row["positives"] == 0
    assert row["precision"] is None and row["recall"] is None and row["f1"] is None
    assert row["pr_auc"] is None and row["roc_auc"] is None
    assert row["ci"] == {"precision": None, "recall": None, "f1": None}
    assert result["macro"]["f1"] is None and result["macro"]["f1_ci"] is None


def test_bootstrap_is_seeded_and_has_binomial_width() -> None:
    # 400 flagged messages, half of them right: precision 0.5 with standard error 0.025, so the 95%
    # interval spans about 2 * 1.96 * 0.025 = 0.098.
    n = 400
    y = np.zeros((n, 1), dtype=bool)
    y[::2] = True
    pred = np.ones((n, 1), dtype=bool)
    first = bootstrap_prf(y, pred, n_resamples=1000, seed=7, label_names=("a",))
    again = bootstrap_prf(y, pred, n_resamples=1000, seed=7, label_names=("a",))
    assert first == again
    low, high = first["labels"]["a"]["precision"]
    assert low < 0.5 < high
    assert 0.08 < high - low < 0.12
    assert first["labels"]["a"]["recall"] == [1.0, 1.0]


def test_bootstrap_chunks_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import training.eval_metrics as em

    rng = np.random.default_rng(0)
    y = rng.random((50, 2)) < 0.4
    pred = rng.random((50, 2)) < 0.4
    whole = bootstrap_prf(y, pred, n_resamples=100, seed=3, label_names=NAMES)
    monkeypatch.setattr(em, "_CHUNK_BYTES", 50 * 6 * 7)  # 7 resamples per chunk
    chunked = bootstrap_prf(y, pred, n_resamples=100, seed=3, label_names=NAMES)
    assert whole == chunked


def test_slices_omit_unstable_metrics() -> None:
    y = np.array([[1], [1], [0], [1], [1], [1], [1], [1], [0], [0]])
    probs = np.array([[0.9], [0.2], [0.1], [0.8], [0.7], [0.9], [0.6], [0.4], [0.3], [0.7]])
    groups = {"small": np.arange(10) < 3, "large": np.arange(10) >= 3}
    result = slice_metrics(y, probs, [0.5], groups, label_names=("a",), min_positives=5)
    small = result["small"]["labels"]["a"]
    assert result["small"]["n"] == 3
    assert (small["rows"], small["positives"], small["predicted"], small["stable"]) == (3, 2, 1, False)
    assert small["f1"] is None and small["pr_auc"] is None
    assert result["small"]["macro_f1"] is None
    large = result["large"]["labels"]["a"]
    # Rows 3-9: truth 1 1 1 1 1 0 0, flags 1 1 1 1 0 0 1 -> tp 4, fp 1, fn 1.
    assert large["stable"] and large["positives"] == 5
    assert large["precision"] == pytest.approx(0.8)
    assert large["recall"] == pytest.approx(0.8)
    assert result["large"]["macro_f1"] == pytest.approx(0.8)


def test_cooccurrence_counts_true_against_predicted() -> None:
    y = np.array([[1, 0], [1, 1], [0, 0], [0, 0], [0, 1]])
    pred = np.array([[1, 0], [0, 1], [0, 0], [1, 0], [0, 1]])
    mask = np.ones_like(y, dtype=bool)
    mask[4, 0] = False  # row 4 annotates only "b": it is not a clean row
    matrix, messages = cooccurrence_matrix(y, pred, mask)
    expected = np.array(
        [
            [1, 1, 0],  # true a: rows 0, 1 -> predicted a (row 0), b (row 1)
            [0, 2, 0],  # true b: rows 1, 4 -> predicted b twice
            [1, 0, 1],  # clean: rows 2, 3 -> nothing (row 2), a (row 3)
        ]
    )
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(messages, [2, 2, 2])
