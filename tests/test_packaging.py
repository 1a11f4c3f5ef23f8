"""The wheel carries what the installed commands read: the default strike policy and the version."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from strikes.settings import DEFAULT_POLICY_PATH
from tegur import __version__

REPO = Path(__file__).resolve().parent.parent
_NOT_SOURCES = (".git", ".venv", "artifacts", "models", "runs", "reports", "raw", "processed", "build")
_NOT_SOURCES += ("*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "*.db")
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q")


def test_wheel_ships_the_default_policy_and_the_version(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*_NOT_SOURCES), symlinks=True)
    built = subprocess.run(
        [*PIP_WHEEL, "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("tegur-*.whl")
    assert wheel.name.startswith(f"tegur-{__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "strikes/strikes.yaml" in names
        assert archive.read("strikes/strikes.yaml") == DEFAULT_POLICY_PATH.read_bytes()
        assert "tegur/client.py" in names
