"""Strike service settings come from TEGUR_* variables, are typed and never echo a key."""

from __future__ import annotations

from pathlib import Path

import pytest

import strikes
from strikes.settings import DEFAULT_POLICY_PATH, get_strike_settings, load_strike_settings
from tegur.errors import ConfigError

KEY_A = "moderator-key-aaaaaaaaaaaa"
KEY_B = "moderator-key-bbbbbbbbbbbb"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "MODERATOR_API_KEYS", "POLICY_PATH", "AUTO_MIGRATE"):
        monkeypatch.delenv(f"TEGUR_{name}", raising=False)


def test_defaults() -> None:
    settings = load_strike_settings()
    assert settings.database_url == "sqlite:///strikes.db"
    assert settings.moderator_api_keys == ()
    # The shipped policy, found beside the installed package whatever the working directory.
    assert settings.policy_path == DEFAULT_POLICY_PATH
    assert settings.policy_path.is_absolute() and settings.policy_path.is_file()
    assert settings.policy_path.parent == Path(strikes.__file__).resolve().parent
    assert settings.auto_migrate is True


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEGUR_DATABASE_URL", "postgresql+psycopg://u@db/tegur")
    monkeypatch.setenv("TEGUR_MODERATOR_API_KEYS", f" {KEY_A}, {KEY_B} ,")
    monkeypatch.setenv("TEGUR_AUTO_MIGRATE", "false")
    monkeypatch.setenv("TEGUR_MODEL_DIR", "artifacts/x")  # another package's setting: ignored here
    settings = load_strike_settings()
    assert settings.database_url == "postgresql+psycopg://u@db/tegur"
    assert [k.get_secret_value() for k in settings.moderator_api_keys] == [KEY_A, KEY_B]
    assert settings.auto_migrate is False
    assert KEY_A not in repr(settings)


def test_short_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEGUR_MODERATOR_API_KEYS", f"{KEY_A},hunter2")
    with pytest.raises(ConfigError, match=r"key #2 is shorter than 16") as info:
        load_strike_settings()
    assert "hunter2" not in str(info.value)


def test_bad_value_names_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"auto_migrate: .*\(got 'perhaps'\)"):
        load_strike_settings(auto_migrate="perhaps")
    with pytest.raises(ConfigError, match="databse_url: unknown key"):
        load_strike_settings(databse_url="sqlite:///x.db")


def test_get_strike_settings_is_cached() -> None:
    get_strike_settings.cache_clear()
    try:
        assert get_strike_settings() is get_strike_settings()
    finally:
        get_strike_settings.cache_clear()
