"""The predictor: answers in kind, batches without changing scores, applies thresholds, checks input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.normalize import Normalizer
from data.taxonomy import LABEL_NAMES
from inference.artifact import load_metadata
from inference.predictor import Prediction, Predictor
from inference.settings import Precision, Runtime
from tegur.errors import ArtifactError, ConfigError, DataError
from tests.fixtures_models import assert_same_prediction, build_untrained_artifact


@pytest.fixture(scope="module")
def untrained_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_untrained_artifact(tmp_path_factory.mktemp("artifacts") / "untrained")


TEXTS = [
    "makasih kak mawarnya",
    "cek bio ya guys, link grup wa ada di sana, buruan sebelum dihapus ya kak",
    "dasar jelek",
    "ibu aku lagi sakit tolong gift kak, belum makan dari kemarin",
]


@pytest.fixture(scope="module")
def predictor(untrained_artifact: Path) -> Predictor:
    return Predictor.from_artifact(untrained_artifact)


def test_properties_come_from_the_artifact(predictor: Predictor, untrained_artifact: Path) -> None:
    meta = load_metadata(untrained_artifact)
    assert predictor.labels == LABEL_NAMES
    assert predictor.thresholds == meta.thresholds
    assert predictor.model_name == "untrained"
    assert predictor.model_version == meta.model_version
    assert predictor.normalizer_version == meta.normalizer_version
    assert predictor.precision is Precision.FP32


def test_answers_in_kind(predictor: Predictor) -> None:
    one = predictor.predict(TEXTS[0])
    assert isinstance(one, Prediction)
    assert list(one.scores) == list(LABEL_NAMES)
    many = predictor.predict(TEXTS)
    assert isinstance(many, list) and len(many) == len(TEXTS)
    assert_same_prediction(many[0], one, predictor.thresholds)
    assert predictor.predict([]) == []
    assert predictor.predict_proba([]).shape == (0, len(LABEL_NAMES))


def test_labels_are_the_scores_at_or_above_threshold(predictor: Predictor) -> None:
    for prediction in predictor.predict(TEXTS):
        expected = [n for n in LABEL_NAMES if prediction.scores[n] >= predictor.thresholds[n]]
        assert prediction.labels == expected
        assert prediction.flagged is bool(expected)


def test_scores_do_not_depend_on_batching_or_order(predictor: Predictor) -> None:
    together = predictor.predict_proba(TEXTS, batch_size=64)
    alone = np.vstack([predictor.predict_proba([t]) for t in TEXTS])
    reversed_ = predictor.predict_proba(TEXTS[::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together, reversed_, atol=1e-5)
    assert together.shape == (len(TEXTS), len(LABEL_NAMES))
    assert ((together >= 0) & (together <= 1)).all()


def test_threshold_overrides(predictor: Predictor) -> None:
    everything = predictor.predict(TEXTS[0], thresholds=dict.fromkeys(LABEL_NAMES, 0.0))
    assert everything.labels == list(LABEL_NAMES)
    score = everything.scores["bullying"]
    just_above = predictor.predict(TEXTS[0], thresholds={"bullying": min(1.0, score + 1e-6)})
    assert "bullying" not in just_above.labels
    with pytest.raises(DataError, match="unknown label 'spam'"):
        predictor.predict(TEXTS[0], thresholds={"spam": 0.5})
    with pytest.raises(DataError, match=r"threshold for 'bullying' must be a number in \[0, 1\], got 2"):
        predictor.predict(TEXTS[0], thresholds={"bullying": 2})


def test_non_str_items_are_named(predictor: Predictor) -> None:
    with pytest.raises(TypeError, match=r"texts\[1\] is int, expected str"):
        predictor.predict(["ok", 3])
    with pytest.raises(TypeError, match="single str"):
        predictor.predict_proba("one text")


def test_model_inputs_are_normalised(predictor: Predictor) -> None:
    text = "Cek B1O kak, WA 0812-3456-7890"
    assert predictor.model_inputs([text]) == [Normalizer()(text).text]


def test_bf16_stays_close(untrained_artifact: Path, predictor: Predictor) -> None:
    reduced = Predictor.from_artifact(untrained_artifact, precision=Precision.BF16)
    assert reduced.precision is Precision.BF16
    np.testing.assert_allclose(reduced.predict_proba(TEXTS), predictor.predict_proba(TEXTS), atol=0.02)


def test_bad_options_are_config_errors(untrained_artifact: Path) -> None:
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        Predictor.from_artifact(untrained_artifact, precision="fp8")
    with pytest.raises(
        ConfigError, match=r"precision int8 runs only as an ONNX variant .*`tegur export onnx"
    ):
        Predictor.from_artifact(untrained_artifact, precision="int8")
    with pytest.raises(
        ConfigError, match="unknown runtime 'tensorrt'; expected one of auto, torch, onnxruntime"
    ):
        Predictor.from_artifact(untrained_artifact, runtime="tensorrt")


def test_an_artifact_without_export_runs_the_pytorch_reference(predictor: Predictor) -> None:
    assert (predictor.runtime, predictor.precision) == (Runtime.TORCH, Precision.FP32)


def test_text_encoder_gives_the_training_tokenizer_ids(untrained_artifact: Path) -> None:
    from inference.artifact import load_artifact
    from inference.predictor import TextEncoder, tokenize

    artifact = load_artifact(untrained_artifact)
    texts = [*TEXTS, "", "a " * 100, "emoji 🙏🙏 dan NUL \x00 di tengah"]
    expected = tokenize(artifact.tokenizer, texts, max_length=32)["input_ids"]
    from_file = TextEncoder.from_artifact(untrained_artifact, max_length=32)
    assert from_file.encode(texts) == expected
    assert TextEncoder.from_pretrained(artifact.tokenizer, 32).encode(texts) == expected
    assert from_file.pad_token_id == artifact.tokenizer.pad_token_id
    ids, mask = from_file.pad(expected[:3])
    assert ids.shape == mask.shape == (3, max(len(row) for row in expected[:3]))
    assert mask.sum() == sum(len(row) for row in expected[:3])


def test_loading_a_non_artifact_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"is not a Tegur artifact: missing tegur\.json"):
        Predictor.from_artifact(tmp_path)
