from __future__ import annotations

import subprocess
import sys


def _tegur(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tegur", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_help_lists_every_command():
    out = _tegur("--help")
    assert out.returncode == 0
    for command in ("data", "model", "train", "baseline", "evaluate", "serve", "strikes"):
        assert command in out.stdout


def test_domain_error_is_one_line_and_exit_code_2(tmp_path):
    out = _tegur("data", "prepare", "--config", str(tmp_path / "missing.yaml"))
    assert out.returncode == 2
    assert f"error: config file not found: {tmp_path / 'missing.yaml'}" in out.stderr
    assert "Traceback" not in out.stderr


def test_usage_error_names_the_option():
    out = _tegur("data", "prepare")
    assert out.returncode == 2
    assert "Missing option '--config'" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_config_key_is_named(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("data: {}\nmodel: {}\ntraining: {}\nlerning_rate: 3\n", encoding="utf-8")
    out = _tegur("data", "prepare", "--config", str(cfg))
    assert out.returncode == 2
    assert "lerning_rate: unknown key" in out.stderr
