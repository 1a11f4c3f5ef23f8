from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from data.sources import (
    DEFAULT_MANIFEST,
    NO_LICENSE,
    FetchAction,
    FileKind,
    Manifest,
    fetch,
    load_manifest,
)
from tegur.errors import ConfigError, DataError

PUBLIC_SOURCES = {
    "ibrohim2019",
    "ibrohim2018",
    "local_abusive_jv_su",
    "blob_toxic_chat",
    "hs_longtext_nofaulia",
    "sms_spam_rahmi",
    "sms_spam_bopbi",
    "judol_gbennnn",
    "prostitution_twitter_laksito",
    "saputri_emotion_twitter",
    "riccosan_emotion_opinion",
    "indonlu_smsa",
    "rayendito_vaccine_tweets",
    "habibul08_pilpres2019_tweets",
    "kiipiiin_judol_livechat",
}
# Everything but the prostitution CSVs, which are conversions only a mirror holds.
ONLINE = sorted(PUBLIC_SOURCES - {"prostitution_twitter_laksito"})


@pytest.fixture(scope="module")
def sources_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "sources"


@pytest.fixture(scope="module")
def fixture_manifest(sources_dir: Path) -> Manifest:
    return load_manifest(sources_dir / "manifest.yaml")


# --- the manifest ----------------------------------------------------------------------------------


def test_manifest_covers_every_public_source_with_provenance():
    manifest = load_manifest()
    assert set(manifest.names) == PUBLIC_SOURCES
    for source in manifest.sources:
        assert len(source.origin.commit) == 40, source.name
        assert source.data_files(), source.name
        assert source.mapping and len(source.rationale) > 80, source.name
        assert source.annotates, source.name
        if source.license == NO_LICENSE:
            assert not source.commercial_use and not source.redistributable, source.name
        for file in source.files:
            if file.mirror_only:
                assert file.mirror_only_reason, file.path


def test_manifest_keeps_the_slang_maps_for_the_normaliser():
    manifest = load_manifest()
    slang = {(s.name, f.name) for s in manifest.sources for f in s.files if f.kind is FileKind.SLANG_MAP}
    assert slang == {("ibrohim2019", "new_kamusalay.csv"), ("ibrohim2018", "kamusalay.csv")}


def test_fixture_manifest_mirrors_the_real_one(fixture_manifest):
    real = load_manifest()
    fields = (
        "name",
        "title",
        "origin",
        "license",
        "commercial_use",
        "redistributable",
        "surface",
        "annotates",
    )
    assert [s.model_dump(include=set(fields)) for s in fixture_manifest.sources] == [
        s.model_dump(include=set(fields)) for s in real.sources
    ]
    for fake, true in zip(fixture_manifest.sources, real.sources, strict=True):
        real_files = {f.path: f for f in true.files}
        for file in fake.files:
            assert file.path in real_files, file.path
            assert file.name == real_files[file.path].name
            assert file.surface == real_files[file.path].surface


def test_manifest_rejects_bad_entries(tmp_path):
    text = DEFAULT_MANIFEST.read_text(encoding="utf-8")
    bad = tmp_path / "m.yaml"
    bad.write_text(text.replace("sha256: 44c04e31", "sha256: zz04e31", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="not a sha256 hex digest"):
        load_manifest(bad)
    with pytest.raises(ConfigError, match="source manifest not found"):
        load_manifest(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unknown source 'nope'"):
        load_manifest().get("nope")


# --- fetch from a mirror ---------------------------------------------------------------------------


def test_mirror_copy_verifies_and_then_skips(fixture_manifest, sources_dir, tmp_path):
    dest = tmp_path / "raw"
    results = fetch(fixture_manifest, dest, mirror=sources_dir, show_progress=False)
    n_files = sum(len(s.files) for s in fixture_manifest.sources)
    assert len(results) == n_files and {r.action for r in results} == {FetchAction.COPIED}
    for source in fixture_manifest.sources:
        for file in source.files:
            data = (dest / source.name / file.name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == file.sha256
    again = fetch(fixture_manifest, dest, mirror=sources_dir, show_progress=False)
    assert {r.action for r in again} == {FetchAction.SKIPPED}


def test_mirror_refetches_a_file_with_the_wrong_hash(fixture_manifest, sources_dir, tmp_path):
    dest = tmp_path / "raw"
    fetch(fixture_manifest, dest, mirror=sources_dir, sources=["sms_spam_rahmi"], show_progress=False)
    target = dest / "sms_spam_rahmi" / "dataset_sms_spam_v1.csv"
    target.write_text("rusak")
    [result] = fetch(
        fixture_manifest, dest, mirror=sources_dir, sources=["sms_spam_rahmi"], show_progress=False
    )
    assert result.action is FetchAction.COPIED
    assert target.read_bytes() == (sources_dir / "sms_spam_rahmi" / "dataset_sms_spam_v1.csv").read_bytes()


def test_mirror_mismatch_is_refused_and_leaves_nothing(fixture_manifest, sources_dir, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(sources_dir, mirror)
    tampered = mirror / "judol_gbennnn" / "dataset_dataset_judol_labelled.csv"
    tampered.write_bytes(tampered.read_bytes().replace(b"lucu", b"lucu sekali"))
    actual = hashlib.sha256(tampered.read_bytes()).hexdigest()
    expected = fixture_manifest.get("judol_gbennnn").files[0].sha256
    dest = tmp_path / "raw"
    with pytest.raises(DataError) as info:
        fetch(fixture_manifest, dest, mirror=mirror, sources=["judol_gbennnn"], show_progress=False)
    message = str(info.value)
    assert str(tampered) in message and expected in message and actual in message
    assert list((dest / "judol_gbennnn").iterdir()) == []  # no partial or temporary file


def test_missing_mirror_folder_and_missing_mirror_file(fixture_manifest, sources_dir, tmp_path):
    with pytest.raises(DataError, match="mirror folder not found"):
        fetch(fixture_manifest, tmp_path / "raw", mirror=tmp_path / "nope", show_progress=False)
    mirror = tmp_path / "mirror"
    shutil.copytree(sources_dir, mirror)
    (mirror / "sms_spam_bopbi" / "prize" / "1.txt").unlink()
    with pytest.raises(
        DataError, match=r"prize/1\.txt not found in the mirror \(manifest file sms_spam_bopbi/"
    ):
        fetch(
            fixture_manifest, tmp_path / "raw", mirror=mirror, sources=["sms_spam_bopbi"], show_progress=False
        )


def test_unknown_source_name(fixture_manifest, sources_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown source 'ibrohim'"):
        fetch(fixture_manifest, tmp_path, mirror=sources_dir, sources=["ibrohim"], show_progress=False)


# --- fetch over HTTP -------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(fixture_manifest, sources_dir, tmp_path) -> Iterator[tuple[str, Path]]:
    """A local server laid out like raw.githubusercontent.com: /<repo>/<commit>/<path in origin>."""
    root = tmp_path / "served"
    for source in fixture_manifest.sources:
        for file in source.files:
            target = root / source.origin.repo / source.origin.commit / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sources_dir / source.name / file.name, target)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_download_verifies_every_file(fixture_manifest, served, tmp_path):
    base_url, _ = served
    dest = tmp_path / "raw"
    results = fetch(fixture_manifest, dest, sources=ONLINE, base_url=base_url, show_progress=False)
    assert {r.action for r in results} == {FetchAction.DOWNLOADED}
    # blob files are stored under their flattened mirror name
    assert (dest / "blob_toxic_chat" / "negative_impact__raw_discord.txt").is_file()
    assert (dest / "sms_spam_bopbi" / "loan" / "1.txt").is_file()
    again = fetch(fixture_manifest, dest, sources=ONLINE, base_url=base_url, show_progress=False)
    assert {r.action for r in again} == {FetchAction.SKIPPED}


def test_download_mismatch_is_refused_and_leaves_no_partial_file(fixture_manifest, served, tmp_path):
    base_url, root = served
    source = fixture_manifest.get("sms_spam_rahmi")
    remote = root / source.origin.repo / source.origin.commit / source.files[0].path
    remote.write_bytes(remote.read_bytes() + b"disisipkan,1\n")
    dest = tmp_path / "raw"
    with pytest.raises(DataError) as info:
        fetch(fixture_manifest, dest, sources=["sms_spam_rahmi"], base_url=base_url, show_progress=False)
    message = str(info.value)
    assert "sha256 mismatch" in message and source.files[0].sha256 in message
    assert hashlib.sha256(remote.read_bytes()).hexdigest() in message
    assert list((dest / "sms_spam_rahmi").iterdir()) == []


def test_download_http_error(fixture_manifest, served, tmp_path):
    base_url, root = served
    source = fixture_manifest.get("hs_longtext_nofaulia")
    (root / source.origin.repo / source.origin.commit / source.files[0].path).unlink()
    with pytest.raises(DataError, match=r"HTTP 404 .*--mirror DIR"):
        fetch(
            fixture_manifest, tmp_path / "raw", sources=[source.name], base_url=base_url, show_progress=False
        )
    assert not (tmp_path / "raw" / source.name / "dataset.csv").exists()


def test_network_failure_suggests_a_mirror(fixture_manifest, tmp_path):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError, match=r"could not download .*tegur data fetch --mirror"):
        fetch(
            fixture_manifest,
            tmp_path / "raw",
            sources=["sms_spam_rahmi"],
            base_url=f"http://127.0.0.1:{port}",
            timeout=5,
            show_progress=False,
        )


def test_mirror_only_files_need_a_mirror(fixture_manifest, served, tmp_path):
    base_url, _ = served
    dest = tmp_path / "raw"
    with pytest.raises(DataError, match=r"can only come from a mirror: prostitution_twitter_laksito/twitter"):
        fetch(
            fixture_manifest,
            dest,
            sources=["sms_spam_rahmi", "prostitution_twitter_laksito"],
            base_url=base_url,
            show_progress=False,
        )
    # the fetchable files were still fetched
    assert (dest / "sms_spam_rahmi" / "dataset_sms_spam_v1.csv").is_file()
    assert not (dest / "prostitution_twitter_laksito").exists()
