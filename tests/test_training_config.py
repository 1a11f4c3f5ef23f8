"""The model and training sections: defaults, unknown keys and bad values fail naming the key and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tegur.config import load_config
from tegur.errors import ConfigError
from training.config import DEFAULT_BASE_MODEL, LossKind, ModelConfig, TrainingConfig


def _write(tmp_path: Path, model: dict | None = None, training: dict | None = None) -> Path:
    path = tmp_path / "cfg.yaml"
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump({"model": model or {}, "training": training or {}}, fh)
    return path


@pytest.mark.parametrize("name", ["default", "tiny"])
def test_shipped_configs_load(repo_root: Path, name: str) -> None:
    config = load_config(repo_root / "configs" / f"{name}.yaml")
    assert config.name == name
    if name == "tiny":
        assert config.model.tiny is not None and config.model.name_or_path is None
        assert config.model.slang_maps == []
    else:
        assert config.model.name_or_path == DEFAULT_BASE_MODEL
        assert config.model.text_prefix == "query: "


def test_defaults_resolve_to_the_offline_base_model() -> None:
    model = ModelConfig()
    assert model.name_or_path == DEFAULT_BASE_MODEL and model.tiny is None
    training = TrainingConfig()
    assert training.loss is LossKind.BCE
    assert training.effective_batch_size == training.batch_size


@pytest.mark.parametrize(
    ("section", "key"),
    [("model", "hiden_size"), ("training", "learning_rat"), ("model", "pooling")],
)
def test_unknown_key_is_named(tmp_path: Path, section: str, key: str) -> None:
    path = _write(tmp_path, **{section: {key: 1}})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{section}.{key}: unknown key" in str(err.value)


def test_unknown_key_inside_tiny_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, model={"tiny": {"layers": 2}})
    with pytest.raises(ConfigError, match=r"model\.tiny\.layers: unknown key"):
        load_config(path)


@pytest.mark.parametrize(
    ("section", "values", "needle"),
    [
        ("training", {"learning_rate": -0.001}, "training.learning_rate"),
        ("training", {"loss": "hinge"}, "'hinge'"),
        ("training", {"threshold_min": 1.5}, "training.threshold_min"),
        ("training", {"default_threshold": 0.0}, "training.default_threshold"),
        ("training", {"batch_size": 0}, "training.batch_size"),
        ("training", {"epochs": "many"}, "training.epochs"),
        ("model", {"max_length": 4}, "model.max_length"),
        ("model", {"classifier_dropout": 1.0}, "model.classifier_dropout"),
    ],
)
def test_bad_value_is_quoted(tmp_path: Path, section: str, values: dict, needle: str) -> None:
    path = _write(tmp_path, **{section: values})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert needle in message
    assert repr(next(iter(values.values()))) in message  # the bad value is quoted


def test_loss_error_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'bce' or 'focal'"):
        load_config(_write(tmp_path, training={"loss": "hinge"}))


def test_threshold_range_must_be_ordered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"threshold_min \(0\.9\) must be below threshold_max \(0\.5\)"):
        load_config(_write(tmp_path, training={"threshold_min": 0.9, "threshold_max": 0.5}))


def test_base_model_and_tiny_are_mutually_exclusive(tmp_path: Path) -> None:
    path = _write(tmp_path, model={"name_or_path": "models/x", "tiny": {}})
    with pytest.raises(ConfigError, match=r"'models/x'.*mutually exclusive"):
        load_config(path)


def test_tiny_heads_must_divide_width(tmp_path: Path) -> None:
    path = _write(tmp_path, model={"tiny": {"hidden_size": 30, "num_attention_heads": 4}})
    with pytest.raises(ConfigError, match="hidden_size 30 is not a multiple of num_attention_heads 4"):
        load_config(path)


def test_tiny_alone_leaves_no_base_model(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, model={"tiny": {}}))
    assert config.model.name_or_path is None
    assert config.model.base_name == "tiny"


def test_tiny_cannot_freeze_every_layer(tmp_path: Path) -> None:
    path = _write(tmp_path, model={"tiny": {"num_hidden_layers": 2}, "freeze_layers": 2})
    with pytest.raises(ConfigError, match="freeze_layers 2 would freeze all 2 layers"):
        load_config(path)


@pytest.mark.parametrize("weight", [0, -1, 25])
def test_source_weight_out_of_range_is_quoted(tmp_path: Path, weight: float) -> None:
    path = _write(tmp_path, training={"source_weights": {"curated": weight}})
    needle = rf"training\.source_weights.*source_weights\[curated\] is {weight}"
    with pytest.raises(ConfigError, match=needle):
        load_config(path)


def test_source_weight_of_an_unlisted_source_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(
            {"data": {"sources": {"ibrohim2019": {}}}, "training": {"source_weights": {"ibrohim2091": 2}}}, fh
        )
    needle = (
        r"training.source_weights: 'ibrohim2091' is not a source of data.sources; "
        r"expected one of curated, ibrohim2019"
    )
    with pytest.raises(ConfigError, match=needle):
        load_config(path)


def test_default_config_weights_curated_rows(repo_root: Path) -> None:
    config = load_config(repo_root / "configs" / "default.yaml")
    assert config.training.source_weights["curated"] > 1
