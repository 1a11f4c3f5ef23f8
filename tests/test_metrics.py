"""Multi-label metrics and threshold tuning against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from training.metrics import binarize, multilabel_report, sigmoid, threshold_grid, tune_thresholds

NAMES = ("a", "b")


def test_report_matches_hand_computed_counts() -> None:
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0]])
    p = np.array([[0.9, 0.1], [0.4, 0.8], [0.6, 0.7], [0.2, 0.9], [0.7, 0.2]])
    report = multilabel_report(y, p, [0.5, 0.5], label_names=NAMES)
    # a: flagged rows 0, 2, 4 -> tp 2 (0, 4), fp 1 (2), fn 1 (1)
    a = report["labels"]["a"]
    assert (a["precision"], a["recall"], a["support"], a["predicted"]) == (pytest.approx(2 / 3), 2 / 3, 3, 3)
    assert a["f1"] == pytest.approx(2 / 3)
    # b: flagged rows 1, 2, 3 -> tp 2, fp 1 (3), fn 0
    b = report["labels"]["b"]
    assert (b["precision"], b["recall"], b["f1"]) == (pytest.approx(2 / 3), 1.0, pytest.approx(0.8))
    # micro: tp 4, fp 2, fn 1
    assert report["micro"]["precision"] == pytest.approx(4 / 6)
    assert report["micro"]["recall"] == pytest.approx(4 / 5)
    assert report["micro"]["f1"] == pytest.approx(8 / 11)
    assert report["macro"]["f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert report["n"] == 5
    assert report["micro"]["f1"] == pytest.approx(f1_score(y, p >= 0.5, average="micro"))


def test_score_equal_to_threshold_is_flagged() -> None:
    assert binarize(np.array([[0.5, 0.49]]), [0.5, 0.5]).tolist() == [[True, False]]


def test_mask_removes_cells_from_every_count() -> None:
    y = np.array([[1, 0], [0, 1], [0, 0]])
    p = np.array([[0.9, 0.9], [0.9, 0.9], [0.1, 0.9]])
    mask = np.array([[1, 0], [1, 1], [1, 0]])  # rows 0 and 2 say nothing about b
    report = multilabel_report(y, p, [0.5, 0.5], mask=mask, label_names=NAMES)
    b = report["labels"]["b"]
    assert (b["precision"], b["recall"], b["rows"], b["predicted"]) == (1.0, 1.0, 1, 1)
    a = report["labels"]["a"]
    assert (a["precision"], a["recall"], a["rows"]) == (0.5, 1.0, 3)


def test_macro_skips_labels_without_positives() -> None:
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[0.9, 0.8], [0.1, 0.1]])
    report = multilabel_report(y, p, [0.5, 0.5], label_names=NAMES)
    assert report["macro"]["labels"] == ["a"]
    assert report["macro"]["f1"] == 1.0
    assert report["labels"]["b"]["f1"] == 0.0 and report["labels"]["b"]["predicted"] == 1


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="must be equal"):
        multilabel_report(np.zeros((2, 2)), np.zeros((3, 2)), [0.5, 0.5], label_names=NAMES)


def test_grid_is_inclusive_and_clean() -> None:
    grid = threshold_grid(0.05, 0.95, 0.01)
    assert len(grid) == 91 and grid[0] == 0.05 and grid[-1] == 0.95 and 0.3 in grid.tolist()


def test_tuning_finds_the_separating_threshold() -> None:
    y = np.array([[0], [0], [0], [1], [1]])
    p = np.array([[0.10], [0.20], [0.35], [0.62], [0.90]])
    (t,) = tune_thresholds(y, p, grid=threshold_grid(0.05, 0.95, 0.05))
    # Every threshold in (0.35, 0.62] separates perfectly: 0.40 .. 0.60; the plateau's median is 0.50.
    assert t == pytest.approx(0.5)


def test_tuning_maximises_f1_on_a_random_label() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(200, 1))
    p = np.clip(y * 0.3 + rng.random((200, 1)) * 0.7, 0, 1)
    grid = threshold_grid()
    (t,) = tune_thresholds(y, p, grid=grid)
    best = max(f1_score(y[:, 0], p[:, 0] >= g) for g in grid)
    assert f1_score(y[:, 0], p[:, 0] >= t) == pytest.approx(best)


def test_untunable_labels_get_the_default() -> None:
    y = np.array([[0, 1], [0, 0], [0, 1]])
    p = np.array([[0.9, 0.2], [0.8, 0.3], [0.7, 0.1]])  # b's positives score below every negative
    mask = np.array([[1, 1], [1, 1], [1, 1]])
    low_grid = threshold_grid(0.5, 0.95, 0.05)
    assert tune_thresholds(y, p, mask=mask, grid=low_grid, default=0.42) == [0.42, 0.42]


def test_tuning_ignores_masked_rows() -> None:
    y = np.array([[1], [0], [0]])
    p = np.array([[0.8], [0.3], [0.5]])
    grid = threshold_grid(0.1, 0.9, 0.1)
    (unmasked,) = tune_thresholds(y, p, grid=grid)
    (masked,) = tune_thresholds(y, p, mask=np.array([[1], [1], [0]]), grid=grid)
    assert unmasked == pytest.approx(0.7)  # 0.6 .. 0.8 leave out row 2's 0.5
    assert masked == pytest.approx(0.6)  # row 2 does not count: 0.4 .. 0.8 all separate


def test_sigmoid_is_stable() -> None:
    out = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    assert out.tolist() == [0.0, 0.5, 1.0]
