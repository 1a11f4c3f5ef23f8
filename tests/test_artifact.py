"""The artifact folder: what it holds, the one loader, and the errors for folders that are not artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from data.normalize import NORMALIZER_VERSION
from data.taxonomy import LABEL_NAMES
from inference.artifact import (
    METADATA_FILE,
    NORMALIZER_FILE,
    ArtifactMetadata,
    DataProvenance,
    SourceProvenance,
    is_non_commercial,
    load_artifact,
    load_metadata,
    load_normalizer,
    render_model_card,
    save_artifact,
)
from tegur.errors import ArtifactError
from tests.fixtures_models import build_untrained_artifact


@pytest.fixture(scope="module")
def untrained_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_untrained_artifact(tmp_path_factory.mktemp("artifacts") / "untrained")


@pytest.fixture
def artifact_copy(untrained_artifact: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(untrained_artifact, target)
    return target


def test_artifact_holds_safetensors_and_no_pickles(untrained_artifact: Path) -> None:
    names = {p.name for p in untrained_artifact.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        METADATA_FILE,
        NORMALIZER_FILE,
        "README.md",
    } <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    config = json.loads((untrained_artifact / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(LABEL_NAMES)}


def test_metadata_round_trip(untrained_artifact: Path) -> None:
    meta = load_metadata(untrained_artifact)
    assert meta.labels == list(LABEL_NAMES)
    assert len(meta.model_version) == 12
    assert meta.normalizer_version == NORMALIZER_VERSION
    assert {"torch", "transformers", "tokenizers", "tegur", "python"} <= set(meta.versions)


def test_load_artifact_returns_the_parts(untrained_artifact: Path) -> None:
    artifact = load_artifact(untrained_artifact)
    assert not artifact.model.training
    assert artifact.model.config.id2label[0] == LABEL_NAMES[0]
    assert artifact.normalizer.slang == load_normalizer(untrained_artifact).slang


def test_a_folder_without_tegur_json_is_not_an_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as err:
        load_metadata(tmp_path)
    assert str(err.value) == (
        f"{tmp_path} is not a Tegur artifact: missing tegur.json; train one with `tegur train`"
    )


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"model folder not found: .*nowhere"):
        load_artifact(tmp_path / "nowhere")


def test_invalid_thresholds_are_rejected(artifact_copy: Path) -> None:
    path = artifact_copy / METADATA_FILE
    raw = json.loads(path.read_text())
    raw["thresholds"]["bullying"] = 1.5
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=r"invalid tegur\.json.*bullying.*1\.5"):
        load_metadata(artifact_copy)


def test_other_format_version_is_rejected(artifact_copy: Path) -> None:
    path = artifact_copy / METADATA_FILE
    raw = json.loads(path.read_text())
    raw["format_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="artifact format 99"):
        load_metadata(artifact_copy)


def test_normaliser_version_mismatch_is_refused(artifact_copy: Path) -> None:
    path = artifact_copy / NORMALIZER_FILE
    raw = json.loads(path.read_text())
    raw["version"] = "0-old"
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=r"normaliser version '0-old'.*retrain"):
        load_artifact(artifact_copy)


def test_missing_weights_are_reported(artifact_copy: Path) -> None:
    (artifact_copy / "model.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"missing model\.safetensors"):
        load_artifact(artifact_copy)


def test_saved_slang_map_rebuilds_the_normaliser(tmp_path: Path) -> None:
    from data.normalize import Normalizer
    from inference.artifact import save_normalizer

    normalizer = Normalizer(slang={"bgt": "banget", "gw": "gue"})
    save_normalizer(tmp_path / NORMALIZER_FILE, normalizer)
    rebuilt = load_normalizer(tmp_path)
    assert rebuilt.slang == normalizer.slang
    assert rebuilt("gw bgt").text == normalizer("gw bgt").text


def test_failed_save_leaves_nothing(untrained_artifact: Path, tmp_path: Path) -> None:
    artifact = load_artifact(untrained_artifact)

    def broken_card(meta: ArtifactMetadata) -> str:
        raise RuntimeError("disk full")

    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        save_artifact(
            target,
            model=artifact.model,
            tokenizer=artifact.tokenizer,
            normalizer=artifact.normalizer,
            metadata=artifact.metadata,
            model_card=broken_card,
        )
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def _meta(**updates: object) -> ArtifactMetadata:
    base = ArtifactMetadata(
        name="x",
        labels=list(LABEL_NAMES),
        thresholds=dict.fromkeys(LABEL_NAMES, 0.5),
        max_length=32,
        base_model="tiny",
        normalizer_version="1",
        config={},
        versions={"torch": "2"},
    )
    return base.model_copy(update=updates)


@pytest.mark.parametrize(
    ("license_text", "expected"),
    [
        ("CC BY-NC-SA 4.0", True),
        ("CC-BY-NC-SA-4.0", True),
        ("non-commercial research only", True),
        ("MIT", False),
        ("CC0-1.0", False),
        ("NOASSERTION", False),
    ],
)
def test_non_commercial_licenses_are_recognised(license_text: str, expected: bool) -> None:
    assert is_non_commercial(license_text) is expected


def test_model_card_warns_about_non_commercial_data() -> None:
    data = DataProvenance(
        dir="d",
        sources={
            "ibrohim2019": SourceProvenance(license="CC BY-NC-SA 4.0", rows={"train": 10}),
            "judol": SourceProvenance(license="MIT", rows={"train": 5}),
            "mystery": SourceProvenance(license="", rows={"train": 1}),
            "scraped": SourceProvenance(license="NOASSERTION", rows={"train": 2}),
        },
    )
    card = render_model_card(_meta(data=data))
    assert "trained on non-commercial data: not for commercial use" in card.lower()
    assert "| ibrohim2019 | CC BY-NC-SA 4.0 | 10 |" in card
    assert "| mystery | not stated | 1 |" in card
    assert "| scraped | not stated | 2 |" in card
    assert "Sources without a stated license (mystery, scraped)" in card


def test_model_card_without_non_commercial_data_has_no_warning() -> None:
    data = DataProvenance(dir="d", sources={"judol": SourceProvenance(license="MIT", rows={"train": 5})})
    assert "non-commercial" not in render_model_card(_meta(data=data)).lower()


def test_builder_is_reusable(tmp_path: Path) -> None:
    folder = build_untrained_artifact(tmp_path / "a", thresholds=dict.fromkeys(LABEL_NAMES, 0.25))
    assert load_metadata(folder).thresholds == dict.fromkeys(LABEL_NAMES, 0.25)
