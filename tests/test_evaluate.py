"""``tegur evaluate`` and ``tegur calibrate``: loading, annotation masking, errors, end to end."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from data.dataset import Example
from data.taxonomy import LABEL_NAMES, Label
from inference.artifact import METADATA_FILE
from tegur.errors import ArtifactError, DataError
from tests.fixtures_models import build_untrained_artifact, write_prepared
from training.evaluate import (
    PUBLISHED_REFERENCES,
    Encoding,
    compute_evaluation,
    load_eval_file,
    parse_label_map,
    read_csv_examples,
    reference_comparison,
    register,
)

EVAL_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "evaluate"
ANNOTATED = EVAL_FIXTURES / "annotated.jsonl"
LABELS_CSV = EVAL_FIXTURES / "labels.csv"


@pytest.fixture(scope="module")
def untrained_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_untrained_artifact(tmp_path_factory.mktemp("artifacts") / "untrained")


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("prepared"))


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _invoke(app: typer.Typer, *args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def _plain(output: str) -> str:
    """CLI output without rich's box drawing and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


# --- Loading --------------------------------------------------------------------------------------------


def test_parse_label_map() -> None:
    assert parse_label_map(["HS=bullying", " Porn = sexual_solicitation "]) == {
        "HS": Label.BULLYING,
        "Porn": Label.SEXUAL_SOLICITATION,
    }
    with pytest.raises(DataError, match=r"^--label-map 'HS': expected COLUMN=LABEL, e.g. HS=bullying$"):
        parse_label_map(["HS"])
    with pytest.raises(
        DataError, match=r"^--label-map 'HS=hate': unknown label 'hate'; expected one of bullying"
    ):
        parse_label_map(["HS=hate"])
    with pytest.raises(DataError, match="label 'bullying' is mapped from two columns"):
        parse_label_map(["HS=bullying", "Abusive=bullying"])


def test_csv_with_label_map_annotates_only_mapped_non_empty_cells() -> None:
    data = load_eval_file(LABELS_CSV, text_col="Tweet", label_map=["HS=bullying", "Porn=sexual_solicitation"])
    examples = data.examples
    assert [ex.id for ex in examples] == [f"labels.csv:{n}" for n in range(2, 7)]
    assert examples[0].text == "dasar bodoh, gak usah komen lagi"
    assert examples[0].labels == (Label.BULLYING,)
    assert examples[0].annotated == (Label.BULLYING, Label.SEXUAL_SOLICITATION)
    assert examples[2].annotated == (Label.BULLYING,)  # empty Porn cell: not annotated
    assert examples[3].labels == (Label.SEXUAL_SOLICITATION,)
    assert examples[3].annotated == (Label.SEXUAL_SOLICITATION,)  # empty HS cell
    assert data.format.value == "csv" and len(data.sha256) == 64


def test_csv_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    label_map = {"HS": Label.BULLYING}
    path.write_text("text,HS\nhalo kak,1\nkamu jelek,ya\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_csv_examples(path, label_map=label_map)
    assert str(info.value) == f"{path}:3, column 'HS': 'ya' is not 0 or 1"

    path.write_text("Tweet,HS\nhalo,1\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_csv_examples(path, label_map=label_map)
    assert str(info.value) == f"{path}:1: no column 'text' (named by --text-col); the columns are Tweet, HS"

    path.write_text("text,HS\nhalo,1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{path}:2: expected 2 columns, got 3; check quoting$"):
        read_csv_examples(path, label_map=label_map)

    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_csv_examples(path, label_map=label_map)
    assert str(info.value) == f"{path}: no examples (the file is empty)"

    path.write_text("text,HS\n", encoding="utf-8")
    with pytest.raises(DataError, match="has a header but no rows"):
        read_csv_examples(path, label_map=label_map)


def test_csv_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,HS\nhalo kak,0\ncaf\u00e9 jelek,1\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_csv_examples(path, label_map={"HS": Label.BULLYING})
    assert str(info.value) == (
        f"{path}:3: not valid utf-8 (invalid continuation byte at byte 22); "
        "pass --encoding latin-1 if the file is Latin-1"
    )
    examples = read_csv_examples(path, label_map={"HS": Label.BULLYING}, encoding=Encoding.LATIN1)
    assert examples[1].text == "caf\u00e9 jelek"


def test_jsonl_errors(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(
        '{"text": "halo", "labels": []}\n{"text": "jelek", "labels": ["hate"]}\n', encoding="utf-8"
    )
    with pytest.raises(DataError) as info:
        load_eval_file(unknown)
    assert str(info.value) == (
        f"{unknown}:2: unknown label 'hate'; expected one of bullying, sexual_solicitation, pity_bait, "
        "off_platform_redirection"
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_eval_file(empty)
    assert str(info.value) == f"{empty}: no examples (the file is empty)"
    other = tmp_path / "data.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(
        DataError, match="cannot tell the format from the name; pass --format jsonl or --format csv"
    ):
        load_eval_file(other)


# --- Metrics on loaded data -----------------------------------------------------------------------------


def test_a_labels_metrics_use_only_the_lines_that_annotate_it() -> None:
    examples = load_eval_file(ANNOTATED).examples
    assert sum(Label.BULLYING in (ex.annotated or ()) for ex in examples) == 3
    probs = np.full((len(examples), 4), 0.99)  # every line not annotating bullying would be a false positive
    # Bullying lines 1-3 are positive, positive, clean: scores 0.9, 0.3, 0.8 at threshold 0.5 give
    # tp 1 (line 1), fn 1 (line 2), fp 1 (line 3): precision = recall = F1 = 1/2.
    probs[:3, 0] = [0.9, 0.3, 0.8]
    result = compute_evaluation(examples, probs, [0.5] * 4, n_resamples=50)
    bullying = result["metrics"]["labels"]["bullying"]
    assert (bullying["rows"], bullying["positives"], bullying["predicted"]) == (3, 2, 2)
    assert bullying["precision"] == pytest.approx(0.5)
    assert bullying["recall"] == pytest.approx(0.5)
    assert bullying["f1"] == pytest.approx(0.5)
    # off_platform_redirection is annotated on 7 lines (4 positive); all flagged -> precision 4/7.
    redirection = result["metrics"]["labels"]["off_platform_redirection"]
    assert (redirection["rows"], redirection["positives"]) == (7, 4)
    assert redirection["precision"] == pytest.approx(4 / 7)
    obfuscation = result["slices"]["obfuscation"]
    assert obfuscation["obfuscated"]["n"] >= 1  # "t3l3gr4m" and "w.a" are undone by the normaliser


def test_reference_comparison_on_ibrohim_rows() -> None:
    examples = [
        Example(
            id=str(i),
            text="x",
            labels=(Label.BULLYING,) if i < 4 else (),
            source=src,
            annotated=(Label.BULLYING,),
        )
        for i, src in enumerate(["ibrohim2019"] * 6 + ["other"] * 2)
    ]
    y = np.array([ex.label_vector() for ex in examples], dtype=bool)
    mask = np.zeros_like(y)
    mask[:, 0] = True
    pred = np.zeros_like(y)
    pred[[0, 1, 2, 4, 6], 0] = True  # on ibrohim rows: tp 3, fn 1, fp 1 -> F1 = 6/8; row 6 is not ibrohim
    ref = reference_comparison(examples, y, mask, pred, n_resamples=50)
    assert (ref["n"], ref["positives"]) == (6, 4)
    assert ref["model_f1"] == pytest.approx(0.75)
    assert ref["published"][0]["f1"] == [0.85, 0.85] and ref["published"][1]["f1"] == [0.864, 0.888]
    assert len(ref["published"]) == len(PUBLISHED_REFERENCES)
    none = reference_comparison(examples[6:], y[6:], mask[6:], pred[6:], n_resamples=50)
    assert none["n"] == 0 and "no ibrohim2019 messages" in none["note"]


# --- CLI ------------------------------------------------------------------------------------------------


def test_a_folder_that_is_not_an_artifact_is_refused(app: typer.Typer, tmp_path: Path) -> None:
    result = _invoke(app, "evaluate", "--model", tmp_path, "--data", ANNOTATED, "--out", tmp_path / "out")
    assert isinstance(result.exception, ArtifactError)
    assert (
        str(result.exception)
        == f"{tmp_path} is not a Tegur artifact: missing tegur.json; train one with `tegur train`"
    )
    missing = tmp_path / "nope"
    result = _invoke(app, "evaluate", "--model", missing, "--data", ANNOTATED, "--out", tmp_path / "out")
    assert str(result.exception) == f"model folder not found: {missing}; train one with `tegur train`"
    assert not (tmp_path / "out").exists()


def test_data_and_split_are_exclusive(app: typer.Typer, tmp_path: Path) -> None:
    result = _invoke(app, "evaluate", "--model", tmp_path, "--data", ANNOTATED, "--split", "test")
    assert result.exit_code == 2
    assert "give exactly one of --data FILE and --split test|validation" in _plain(result.output)
    result = _invoke(app, "evaluate", "--model", tmp_path)
    assert result.exit_code == 2


def test_evaluate_end_to_end_on_the_tiny_model(
    app: typer.Typer,
    untrained_artifact: Path,
    prepared_dir: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    result = _invoke(
        app, "evaluate", "--model", untrained_artifact, "--data", ANNOTATED, "--out", out,
        "--data-dir", prepared_dir, "--bootstrap", "100", "--worst-k", "3", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in (
        "metrics.json",
        "report.md",
        "pr_curves.png",
        "reliability.png",
        "cooccurrence.png",
        "worst_errors.csv",
    ):
        assert (out / name).is_file(), name
    for name in ("pr_curves.png", "reliability.png", "cooccurrence.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["n"] == 12
    assert metrics["data"]["annotated_rows"]["bullying"] == 3
    assert metrics["metrics"]["labels"]["bullying"]["rows"] == 3
    assert metrics["model"]["name"] == "untrained" and metrics["model"]["calibration"] is None
    assert set(metrics["baseline"]["metrics"]["labels"]) == set(LABEL_NAMES)
    assert metrics["throughput"]["messages"] == 12 and metrics["throughput"]["messages_per_second"] > 0
    assert set(metrics["slices"]) == {"source", "surface", "obfuscation"}
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Baseline side by side" in report and "![reliability](reliability.png)" in report
    with open(out / "worst_errors.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(int(r["rank"]) <= 3 for r in rows)
    csv_text = (out / "worst_errors.csv").read_text(encoding="utf-8")
    assert "0812" not in csv_text and "@tante_malam" not in csv_text


def test_calibrate_then_evaluate_the_test_split(
    app: typer.Typer,
    untrained_artifact: Path,
    prepared_dir: Path,
    tmp_path: Path,
) -> None:
    from inference.artifact import load_artifact
    from inference.calibration import load_calibration
    from inference.predictor import Predictor

    model = tmp_path / "model"
    shutil.copytree(untrained_artifact, model)
    meta = json.loads((model / METADATA_FILE).read_text(encoding="utf-8"))
    meta["thresholds"] = dict(zip(LABEL_NAMES, [0.35, 0.6, 0.45, 0.7], strict=True))
    (model / METADATA_FILE).write_text(json.dumps(meta), encoding="utf-8")

    result = _invoke(app, "calibrate", "--model", model, "--data-dir", prepared_dir, "-q")
    assert result.exit_code == 0, result.output
    calibration = load_calibration(model)
    assert calibration is not None and calibration.method.value == "platt"  # the default
    assert calibration.ece_after["pooled"] < calibration.ece_before["pooled"]
    # Thresholds are mapped, so every flag on validation is what it was before calibration.
    artifact = load_artifact(model)
    raw = Predictor(artifact.model, artifact.tokenizer, artifact.normalizer, artifact.metadata)
    texts = [
        json.loads(line)["text"] for line in (prepared_dir / "validation.jsonl").read_text().splitlines()
    ]
    probs = raw.predict_proba(texts).astype(np.float64)
    before = probs >= np.array([meta["thresholds"][n] for n in LABEL_NAMES])
    np.testing.assert_array_equal(before, calibration.apply(probs) >= calibration.thresholds_array())
    # A predictor loaded from the folder serves calibrated scores against the mapped thresholds.
    served = Predictor.from_artifact(model)
    assert served.calibration == calibration
    assert served.thresholds == pytest.approx(calibration.thresholds)
    np.testing.assert_allclose(served.predict_proba(texts), calibration.apply(probs), atol=1e-5)

    out = tmp_path / "out"
    result = _invoke(
        app, "evaluate", "--model", model, "--split", "test", "--data-dir", prepared_dir, "--out", out,
        "--bootstrap", "50", "--no-baseline", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["split"] == "test" and metrics["data"]["n"] == 60
    assert metrics["model"]["calibration"]["method"] == "platt"
    assert metrics["baseline"] == {"skipped": "disabled with --no-baseline"}
    assert set(metrics["slices"]["source"]) == {"synthetic_mit", "synthetic_nc"}
    assert set(metrics["slices"]["surface"]) == {"comment", "live_chat"}
