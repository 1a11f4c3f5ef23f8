from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from tegur.errors import ConfigError
from tegur.yaml_config import format_validation_error, read_yaml_mapping


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: float


def test_reads_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rate: 0.5\n", encoding="utf-8")
    assert read_yaml_mapping(path, what="config") == {"rate": 0.5}


@pytest.mark.parametrize(
    ("content", "allow_empty", "message"),
    [
        ("", False, "top level must be a mapping, got None"),
        ("- 1\n- 2\n", True, r"top level must be a mapping, got \[1, 2\]"),
        ("rate: [\n", True, "not valid YAML"),
    ],
)
def test_bad_files(tmp_path, content, allow_empty, message):
    path = tmp_path / "c.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_yaml_mapping(path, what="config", allow_empty=allow_empty)


def test_empty_file_allowed_when_asked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("", encoding="utf-8")
    assert read_yaml_mapping(path, what="config", allow_empty=True) == {}


def test_missing_file_names_what_and_hint(tmp_path):
    with pytest.raises(ConfigError, match=r"policy not found: .*nope.yaml; set TEGUR_POLICY_PATH"):
        read_yaml_mapping(tmp_path / "nope.yaml", what="policy", hint="set TEGUR_POLICY_PATH")


def test_validation_error_quotes_key_and_value():
    with pytest.raises(ValidationError) as info:
        _Cfg.model_validate({"rate": "fast", "lerning": 1})
    text = format_validation_error(info.value, "c.yaml")
    assert text.splitlines()[0] == "c.yaml: invalid config"
    assert "rate: Input should be a valid number" in text and "'fast'" in text
    assert "lerning: unknown key (value 1); remove or respell it" in text
