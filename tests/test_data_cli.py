from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from data.dataset import read_split
from tegur import cli


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the real ``tegur`` entry point in-process; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["tegur", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sources_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "sources"


def write_config(tmp_path: Path, sources_dir: Path, raw_dir: Path, **extra: object) -> Path:
    curated = tmp_path / "curated"
    curated.mkdir()
    rows = [
        {"id": f"c{i}", "text": text, "labels": labels, "surface": "live_chat", "family": f"f{i}"}
        for i, (text, labels) in enumerate(
            [
                ("kak aku lagi sakit tolong kirim gift buat berobat", ["pity_bait"]),
                ("open vcs kak, cek bio ya", ["sexual_solicitation", "off_platform_redirection"]),
                ("jelek banget mukamu, mending off aja", ["bullying"]),
                ("makasih kak mawarnya", []),
            ]
        )
    ]
    (curated / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = {
        "manifest": str(sources_dir / "manifest.yaml"),
        "raw_dir": str(raw_dir),
        "curated_dir": str(curated),
        "output_dir": str(tmp_path / "out"),
        "allow_non_commercial": True,
        "allow_unlicensed": True,
        "min_test_positives": 0,
        "test_fraction": 0.3,
        **extra,
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps({"data": data}), encoding="utf-8")  # JSON is YAML
    return path


def test_data_help_lists_commands(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "data", "--help")
    assert code == 0
    assert "fetch" in out and "prepare" in out


def test_fetch_from_mirror_then_prepare(monkeypatch, capsys, sources_dir, tmp_path):
    raw = tmp_path / "raw"
    manifest = str(sources_dir / "manifest.yaml")
    args = ("data", "fetch", "--mirror", str(sources_dir), "--dest", str(raw), "--manifest", manifest, "-q")
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "copied" in out and "every sha256 matches" in out
    assert (raw / "ibrohim2019" / "re_dataset.csv").is_file()
    code, out, _ = run(monkeypatch, capsys, *args)
    assert code == 0 and "0 copied" in out

    config = write_config(tmp_path, sources_dir, raw)
    code, out, err = run(monkeypatch, capsys, "data", "prepare", "--config", str(config))
    assert code == 0, err
    assert "ALL" in out and "bullying" in out and "licenses included" in out
    assert read_split(tmp_path / "out", "train")


def test_fetch_selected_source_only(monkeypatch, capsys, sources_dir, tmp_path):
    raw = tmp_path / "raw"
    code, _, err = run(
        monkeypatch,
        capsys,
        "data",
        "fetch",
        "--mirror",
        str(sources_dir),
        "--dest",
        str(raw),
        "--manifest",
        str(sources_dir / "manifest.yaml"),
        "--source",
        "sms_spam_rahmi",
        "-q",
    )
    assert code == 0, err
    assert [p.name for p in raw.iterdir()] == ["sms_spam_rahmi"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mirror", "{tmp}/nope"), "mirror folder not found"),
        (("--mirror", "{src}", "--source", "nope"), "unknown source 'nope'"),
        (("--manifest", "{tmp}/nope.yaml"), "source manifest not found"),
    ],
)
def test_fetch_errors_exit_2_with_a_message(monkeypatch, capsys, sources_dir, tmp_path, args, message):
    args = tuple(a.format(tmp=tmp_path, src=sources_dir) for a in args)
    code, _, err = run(monkeypatch, capsys, "data", "fetch", "--dest", str(tmp_path / "raw"), "-q", *args)
    assert code == 2
    assert err.startswith("error: ") and message in err


def test_prepare_errors_exit_2_with_a_message(monkeypatch, capsys, sources_dir, tmp_path):
    code, _, err = run(monkeypatch, capsys, "data", "prepare", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and "config file not found" in err
    config = write_config(tmp_path, sources_dir, tmp_path / "not-fetched")
    code, _, err = run(monkeypatch, capsys, "data", "prepare", "--config", str(config))
    assert code == 2 and "raw data folder not found" in err and "tegur data fetch" in err
    assert not (tmp_path / "out").exists()


def test_prepare_rejects_unknown_config_keys(monkeypatch, capsys, sources_dir, tmp_path):
    config = write_config(tmp_path, sources_dir, sources_dir, max_rows=3)
    code, _, err = run(monkeypatch, capsys, "data", "prepare", "--config", str(config))
    assert code == 2 and "data.max_rows: unknown key" in err
