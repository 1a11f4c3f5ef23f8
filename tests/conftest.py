"""Shared test fixtures. Tests never download: models are built tiny and locally."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True, scope="session")
def _strike_ledger_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """Apps built by tests open the strike ledger in a temporary SQLite file, never in the checkout."""
    from strikes.settings import get_strike_settings

    db = tmp_path_factory.mktemp("strikes") / "strikes.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEGUR_DATABASE_URL", f"sqlite:///{db}")
        mp.setenv("TEGUR_POLICY_PATH", str(REPO_ROOT / "configs" / "strikes.yaml"))
        get_strike_settings.cache_clear()
        yield
    get_strike_settings.cache_clear()
