"""Shared test fixtures. Tests never download: models are built tiny and locally."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: Every strike-storage test runs on both databases; the PostgreSQL ones fail (never skip) without it.
STRIKE_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


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


@pytest.fixture(scope="module")
def policy(repo_root: Path):
    """The shipped strike policy, configs/strikes.yaml."""
    from strikes.policy import load_strike_policy

    return load_strike_policy(repo_root / "configs" / "strikes.yaml")


@pytest.fixture(scope="module", params=STRIKE_BACKENDS)
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A migrated strike database on each backend, shared by a module (tests reset it)."""
    from strikes.testing import migrated_database

    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url
