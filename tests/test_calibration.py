"""Calibration: the temperature fit recovers a known temperature, maps are monotonic, thresholds map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data.taxonomy import LABEL_NAMES
from inference.artifact import METADATA_FILE, ArtifactMetadata
from inference.calibration import (
    CALIBRATION_FILE,
    Calibration,
    CalibrationMethod,
    fit_calibration,
    fit_isotonic,
    fit_platt,
    fit_temperature,
    load_calibration,
    save_calibration,
)
from tegur.errors import ArtifactError
from training.eval_metrics import expected_calibration_error

THRESHOLDS = {"bullying": 0.4, "sexual_solicitation": 0.55, "pity_bait": 0.3, "off_platform_redirection": 0.7}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _overconfident(
    n: int, temperature: float, seed: int = 0, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(z), scores sigmoid(z * temperature + shift).

    Calibrated again by ``sigmoid(logit(p) / temperature - shift / temperature)``.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(n, len(LABEL_NAMES)))
    y = rng.random(z.shape) < _sigmoid(z)
    return _sigmoid(z * temperature + shift), y


def _fake_artifact(directory: Path, model_version: str = "abc123def456") -> Path:
    metadata = ArtifactMetadata(
        name="tiny",
        model_version=model_version,
        labels=list(LABEL_NAMES),
        thresholds=THRESHOLDS,
        max_length=32,
        base_model="tiny",
        normalizer_version="1",
        config={},
        versions={},
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / METADATA_FILE).write_text(metadata.model_dump_json(), encoding="utf-8")
    return directory


def test_temperature_fit_recovers_a_known_temperature() -> None:
    probs, y = _overconfident(20_000, temperature=2.5)
    fitted = [fit_temperature(probs[:, j], y[:, j]) for j in range(probs.shape[1])]
    assert fitted == pytest.approx([2.5] * 4, rel=0.06)


def test_temperature_of_one_class_rows_is_one() -> None:
    assert fit_temperature(np.array([0.2, 0.9, 0.7]), np.array([1, 1, 1])) == 1.0
    assert fit_platt(np.array([0.2, 0.9, 0.7]), np.array([0, 0, 0])) == (1.0, 0.0)


def test_platt_fit_recovers_a_known_temperature_and_shift() -> None:
    # What class weighting does to scores: shifted up (here by 1.5 logits) as well as too sharp.
    probs, y = _overconfident(20_000, temperature=2.0, seed=3, shift=1.5)
    for j in range(probs.shape[1]):
        t, b = fit_platt(probs[:, j], y[:, j])
        assert t == pytest.approx(2.0, rel=0.06)
        assert b == pytest.approx(-1.5 / 2.0, abs=0.06)


@pytest.mark.parametrize("method", [CalibrationMethod.TEMPERATURE, CalibrationMethod.PLATT])
def test_calibration_lowers_ece_keeps_order_and_maps_thresholds_exactly(method: CalibrationMethod) -> None:
    probs, y = _overconfident(6_000, temperature=3.0, seed=1)
    calibration = fit_calibration(
        probs,
        y,
        labels=LABEL_NAMES,
        thresholds=THRESHOLDS,
        model_version="v",
        method=method,
    )
    calibrated = calibration.apply(probs)
    for j in range(probs.shape[1]):
        before = expected_calibration_error(y[:, j], probs[:, j])
        after = expected_calibration_error(y[:, j], calibrated[:, j])
        assert after < before / 3
        order = np.argsort(probs[:, j], kind="stable")
        assert np.all(np.diff(calibrated[order, j]) >= 0)
    raw = np.asarray([THRESHOLDS[name] for name in LABEL_NAMES])
    np.testing.assert_array_equal(probs >= raw, calibrated >= calibration.thresholds_array())
    # Overconfident scores shrink towards 0.5, and so do the thresholds.
    assert calibration.thresholds["off_platform_redirection"] < 0.7
    assert calibration.thresholds["pity_bait"] > 0.3


def test_apply_keeps_float32_and_matches_apply_logits() -> None:
    calibration = Calibration(
        method=CalibrationMethod.TEMPERATURE,
        labels=list(LABEL_NAMES),
        temperatures=dict.fromkeys(LABEL_NAMES, 2.0),
        thresholds=THRESHOLDS,
        uncalibrated_thresholds=THRESHOLDS,
        model_version="v",
    )
    logits = np.array([[-4.0, -1.0, 0.0, 3.0]], dtype=np.float32)
    from_logits = calibration.apply_logits(logits)
    from_probs = calibration.apply(_sigmoid(logits.astype(np.float64)).astype(np.float32))
    assert from_logits.dtype == np.float32 and from_probs.dtype == np.float32
    np.testing.assert_allclose(from_logits, _sigmoid(logits / 2.0), rtol=1e-6)
    np.testing.assert_allclose(from_probs, from_logits, rtol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        calibration.apply(np.zeros((2, 3)))


def test_isotonic_is_monotonic_and_round_trips(tmp_path: Path) -> None:
    probs, y = _overconfident(3_000, temperature=2.0, seed=2)
    mapping = fit_isotonic(probs[:, 0], y[:, 0])
    grid = np.linspace(0.0, 1.0, 501)
    assert np.all(np.diff(mapping(grid)) >= 0)
    calibration = fit_calibration(
        probs,
        y,
        labels=LABEL_NAMES,
        thresholds=THRESHOLDS,
        model_version="abc123def456",
        method=CalibrationMethod.ISOTONIC,
    )
    directory = _fake_artifact(tmp_path / "model")
    save_calibration(directory, calibration)
    loaded = load_calibration(directory)
    assert loaded == calibration
    np.testing.assert_array_equal(loaded.apply(probs), calibration.apply(probs))


def test_load_calibration_absent_and_stale(tmp_path: Path) -> None:
    directory = _fake_artifact(tmp_path / "model", model_version="new000000000")
    assert load_calibration(directory) is None
    stale = Calibration(
        method=CalibrationMethod.TEMPERATURE,
        labels=list(LABEL_NAMES),
        temperatures=dict.fromkeys(LABEL_NAMES, 1.5),
        thresholds=THRESHOLDS,
        uncalibrated_thresholds=THRESHOLDS,
        model_version="old000000000",
    )
    save_calibration(directory, stale)
    with pytest.raises(ArtifactError) as info:
        load_calibration(directory)
    assert str(info.value) == (
        f"{directory / CALIBRATION_FILE} was fitted on model version 'old000000000' but the weights are "
        f"'new000000000'; run `tegur calibrate --model {directory}` again "
        f"or delete {directory / CALIBRATION_FILE}"
    )


def test_load_calibration_rejects_an_invalid_file(tmp_path: Path) -> None:
    directory = _fake_artifact(tmp_path / "model")
    payload = {
        "method": "temperature",
        "labels": list(LABEL_NAMES),
        "temperatures": {"bullying": 2.0},
        "thresholds": THRESHOLDS,
        "uncalibrated_thresholds": THRESHOLDS,
        "model_version": "abc123def456",
    }
    (directory / CALIBRATION_FILE).write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(
        ArtifactError, match=r"calibration.json is invalid \(.*temperatures must give one value"
    ):
        load_calibration(directory)
