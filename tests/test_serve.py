"""``tegur serve`` (inference/cli.py): start-up checks, classify-only serving, the shipped strike policy,
and serving from a directory that is not the repository."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from strikes.settings import DEFAULT_POLICY_PATH, get_strike_settings
from tegur.cli import app, main
from tests.fixtures_models import build_untrained_artifact

GOOD_KEY = "moderator-key-0123456789"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_untrained_artifact(tmp_path_factory.mktemp("artifacts") / "untrained")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch):
    """uvicorn.run replaced by a recorder; the strike settings and policy variable restored after."""
    runs: list = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: runs.append((target, options)))
    monkeypatch.delenv("TEGUR_POLICY_PATH", raising=False)
    get_strike_settings.cache_clear()
    yield runs
    get_strike_settings.cache_clear()


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tegur", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0), capsys.readouterr().err


def paths_of(fastapi_app) -> set[str]:
    return set(fastapi_app.openapi()["paths"])


def test_serves_with_the_shipped_policy_by_default(artifact, started, monkeypatch, capsys) -> None:
    code, err = run_main(monkeypatch, capsys, "serve", "--model", str(artifact))
    assert code == 0, err
    ((target, options),) = started
    assert {"/v1/classify", "/v1/moderate", "/v1/violations"} <= paths_of(target)
    assert options["host"] == "127.0.0.1" and options["port"] == 8000
    assert get_strike_settings().policy_path == DEFAULT_POLICY_PATH


def test_policy_option_reaches_the_app(artifact, started, monkeypatch, capsys, tmp_path) -> None:
    policy = tmp_path / "ketat.yaml"
    shutil.copy(DEFAULT_POLICY_PATH, policy)
    code, err = run_main(monkeypatch, capsys, "serve", "--model", str(artifact), "--policy", str(policy))
    assert code == 0, err
    assert os.environ["TEGUR_POLICY_PATH"] == str(policy.resolve())
    assert get_strike_settings().policy_path == policy.resolve()


def test_classify_only_has_no_strike_routes_and_checks_no_strike_settings(
    artifact, started, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("TEGUR_MODERATOR_API_KEYS", "short")  # would stop a server with strikes
    monkeypatch.setenv("TEGUR_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    code, err = run_main(monkeypatch, capsys, "serve", "--model", str(artifact), "--classify-only")
    assert code == 0, err
    ((target, _),) = started
    paths = paths_of(target)
    assert "/v1/classify" in paths and "/readyz" in paths
    assert not {p for p in paths if p.startswith(("/v1/moderate", "/v1/violations", "/v1/accounts"))}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--precision", "int8"], {}, "error: precision int8 runs only as an ONNX variant"),
        (["--runtime", "onnxruntime"], {}, "has no ONNX variant that this CPU can run"),
        (
            [],
            {"TEGUR_MODERATOR_API_KEYS": "mod-1=tooshort"},
            "error: TEGUR_MODERATOR_API_KEYS: key #1 is shorter",
        ),
        (
            [],
            {"TEGUR_ACCOUNT_TOKEN_SECRET": "x" * 10},
            "error: TEGUR_ACCOUNT_TOKEN_SECRET is shorter than 32",
        ),
        (["--policy", "nowhere.yaml"], {}, "nowhere.yaml"),
        ([], {"TEGUR_REVIEW_BAND": "2"}, "TEGUR_REVIEW_BAND"),
    ],
    ids=["int8-not-exported", "onnx-not-exported", "short-key", "short-secret", "missing-policy", "bad-band"],
)
def test_startup_errors_are_one_line_and_exit_2(
    artifact, started, monkeypatch, capsys, args, env, message
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, err = run_main(monkeypatch, capsys, "serve", "--model", str(artifact), *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1
    assert started == []


def test_missing_model_is_one_line_and_exit_2(started, monkeypatch, capsys, tmp_path) -> None:
    code, err = run_main(monkeypatch, capsys, "serve", "--model", str(tmp_path / "nope"))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert started == []


def test_precision_choices_are_the_ones_that_can_work() -> None:
    runner = CliRunner()
    calibrate = runner.invoke(app, ["calibrate", "--help"], env={"COLUMNS": "200"}).output
    assert "fp32" in calibrate and "int8" not in calibrate
    refused = runner.invoke(app, ["calibrate", "--model", "x", "--precision", "int8"])
    assert refused.exit_code == 2 and "int8" in refused.output


def test_help_lists_the_current_endpoints() -> None:
    from inference.api import create_app
    from inference.settings import ServeSettings

    text = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    for path in [*paths_of(create_app(ServeSettings())), "/docs", "/redoc", "/openapi.json"]:
        segments = path.split("/")
        group = "/".join(segments[:3]) if path.startswith("/v1/") else path
        assert group in text, f"`tegur serve --help` does not mention {path}"


def test_version_option() -> None:
    from tegur import __version__

    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"tegur {__version__}"


# ---------------------------------------------------------------------------------------------------------
# The installed command, started from an empty directory.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(artifact: Path, cwd: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEGUR_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "tegur", "serve", "--model", str(artifact), "--port", str(port), *options],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"tegur serve exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    pytest.fail("tegur serve did not become ready in 300 s")


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out


@pytest.mark.parametrize("mode", ["strikes", "classify-only"])
def test_installed_command_serves_from_an_empty_directory(artifact: Path, tmp_path: Path, mode: str) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    process, base = _serve(artifact, empty, *(["--classify-only"] if mode == "classify-only" else []))
    try:
        body = {"items": [{"id": "1", "text": "cek bio ya kak, wa aktif"}]}
        classified = httpx.post(f"{base}/v1/classify", json=body, timeout=30)
        assert classified.status_code == 200, classified.text
        moderate = httpx.post(f"{base}/v1/moderate", json=body, timeout=30)
    finally:
        logs = _stop(process)
    if mode == "strikes":
        # The route exists (no classifier keys are configured, so it refuses), with the shipped policy.
        assert moderate.status_code in (401, 403), moderate.text
        assert "strike service: policy strikes" in logs
        assert (empty / "strikes.db").is_file()
    else:
        assert moderate.status_code == 404
        assert list(empty.iterdir()) == []
    assert "Traceback" not in logs
