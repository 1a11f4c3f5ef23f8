"""The evaluation report: personal-data masking, worst errors, plots and report.md."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from data.dataset import Example
from data.taxonomy import LABEL_NAMES, Label, Surface
from training.evaluate import compute_evaluation
from training.report import (
    WORST_ERRORS_COLUMNS,
    mask_personal_data,
    plot_cooccurrence,
    plot_pr_curves,
    plot_reliability,
    render_report,
    worst_errors,
    write_worst_errors_csv,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gabung grup w.a 0812 3456 7890 ya", "gabung grup w.a [PHONE] ya"),
        ("hubungi +62 812-3456-7890 sekarang", "hubungi [PHONE] sekarang"),
        ("wa 628123456789 kak", "wa [PHONE] kak"),
        ("dm @tante_malam aja", "dm [HANDLE] aja"),
        ("cek https://bit.ly/abc123 ya", "cek [URL] ya"),
        ("kunjungi www.contoh-promo.xyz buat bonus", "kunjungi [URL] buat bonus"),
        ("daftar di slot-gacor.com/daftar sekarang", "daftar di [URL] sekarang"),
        ("email nama.saya@contoh.co.id ya", "email [EMAIL] ya"),
        ("rek bca 1234567890123 a.n budi", "rek bca [NUMBER] a.n budi"),
        # Anonymised tokens of the Twitter corpora, prices and years stay as they are.
        ("USER USER dasar bodoh URL", "USER USER dasar bodoh URL"),
        ("harga 50rb, tahun 2024, kode 12345", "harga 50rb, tahun 2024, kode 12345"),
    ],
)
def test_mask_personal_data(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


def test_mask_falls_back_to_the_normaliser_for_hidden_contacts() -> None:
    keycaps = "wa aku 0️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣9️⃣0️⃣ ya"
    masked = mask_personal_data(keycaps)
    assert "[PHONE]" in masked
    assert not any(ch.isdigit() for ch in masked)


def _examples(texts: list[str], sources: list[str] | None = None) -> list[Example]:
    return [
        Example(
            id=f"x{i}",
            text=text,
            labels=(),
            source=(sources or [""] * len(texts))[i],
            surface=Surface.LIVE_CHAT if i % 2 else Surface.COMMENT,
        )
        for i, text in enumerate(texts)
    ]


def test_worst_errors_rank_by_confidence_and_respect_annotation(tmp_path: Path) -> None:
    texts = ["a 0812 3456 7890", "b", "c", "d", "e", "f"]
    examples = _examples(texts)
    y = np.zeros((6, 4))
    y[[0, 1, 2], 0] = 1  # bullying positives
    probs = np.full((6, 4), 0.1)
    probs[:, 0] = [0.2, 0.05, 0.9, 0.8, 0.95, 0.6]
    mask = np.ones((6, 4), dtype=bool)
    mask[4, 0] = False  # the most confident "false positive" is not annotated for bullying: not an error
    rows = worst_errors(examples, y, probs, [0.5] * 4, mask, LABEL_NAMES, k=1)
    bullying = [r for r in rows if r["label"] == "bullying"]
    assert [(r["error"], r["id"], r["score"]) for r in bullying] == [
        ("false_positive", "x3", 0.8),
        ("false_negative", "x1", 0.05),
    ]
    rows = worst_errors(examples, y, probs, [0.5] * 4, mask, LABEL_NAMES, k=5)
    negatives = [r for r in rows if r["label"] == "bullying" and r["error"] == "false_negative"]
    assert [r["id"] for r in negatives] == ["x1", "x0"]
    assert negatives[1]["text"] == "a [PHONE]"
    path = tmp_path / "worst.csv"
    write_worst_errors_csv(path, rows)
    with open(path, encoding="utf-8", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert tuple(read[0]) == WORST_ERRORS_COLUMNS
    assert len(read) == len(rows)
    assert "0812" not in path.read_text(encoding="utf-8")


def _scored(n: int = 40, seed: int = 0) -> tuple[list[Example], np.ndarray]:
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(n):
        label = LABEL_NAMES[i % 4] if i % 5 else None
        examples.append(
            Example(
                id=f"e{i}",
                text=f"pesan nomor {i} untuk tes",
                labels=(Label(label),) if label else (),
                source="ibrohim2019" if i < 20 else "handwritten",
                annotated=(Label.BULLYING,) if i < 20 else None,
            )
        )
    probs = rng.random((n, 4))
    return examples, probs


def test_render_report_shows_intervals_gaps_and_the_reference(tmp_path: Path) -> None:
    examples, probs = _scored()
    computed = compute_evaluation(examples, probs, [0.5] * 4, n_resamples=50, seed=1)
    result = {
        "created_at": "2025-01-01T00:00:00+00:00",
        "tegur_version": "0.1.0",
        "model": {
            "dir": "artifacts/x",
            "name": "x",
            "version": "abc",
            "normalizer_version": "1",
            "thresholds": dict.fromkeys(LABEL_NAMES, 0.5),
            "calibration": None,
        },
        "data": {"description": "`x.jsonl`", "path": "x.jsonl", "sha256": "f" * 64, "split": None, "n": 40},
        "metrics": computed["metrics"],
        "slices": computed["slices"],
        "baseline": {"skipped": "disabled with --no-baseline"},
        "reference": computed["reference"],
        "throughput": {
            "messages": 40,
            "seconds": 0.5,
            "messages_per_second": 80.0,
            "batch_size": 64,
            "precision": "fp32",
            "threads": 2,
            "device": "cpu",
        },
        "settings": {"bootstrap": 50, "seed": 1, "ece_bins": 15, "min_slice_positives": 5, "worst_k": 20},
    }
    text = render_report(result)
    bullying = computed["metrics"]["labels"]["bullying"]
    low, high = bullying["ci"]["f1"]
    assert f"| {bullying['f1']:.3f} [{low:.3f}, {high:.3f}] |" in text
    assert "The TF-IDF baseline was not run: disabled with --no-baseline." in text
    # ibrohim2019 rows annotate bullying only; the comparison names the published figures and the caveat.
    assert f"Bullying on the {computed['reference']['n']} messages from `ibrohim2019`" in text
    assert "| 0.850 |" in text and "| 0.864–0.888 |" in text
    assert "*Caveat.* Comparable in task, not identical in protocol." in text
    assert "### By source" in text and "| ibrohim2019 | 20 |" in text
    assert "**80.0 messages/s**" in text
    for image in ("pr_curves.png", "reliability.png", "cooccurrence.png"):
        assert f"]({image})" in text


def test_plots_survive_labels_without_rows_or_positives(tmp_path: Path) -> None:
    # A set labelled for bullying alone: the other labels have no annotated rows; their panels must say so
    # instead of failing.
    examples, probs = _scored()
    only = (Label.BULLYING,)
    examples = [
        Example(id=ex.id, text=ex.text, labels=ex.labels if ex.labels == only else (), annotated=only)
        for ex in examples
    ]
    computed = compute_evaluation(examples, probs, [0.5] * 4, n_resamples=10)
    assert computed["metrics"]["labels"]["pity_bait"]["ece"] is None
    y = np.array([ex.label_vector() for ex in examples])
    mask = np.zeros_like(y, dtype=bool)
    mask[:, 0] = True
    plot_pr_curves(tmp_path / "pr.png", y, probs, mask, [0.5] * 4, LABEL_NAMES, baseline_probs=probs[::-1])
    ece = {name: row["ece"] for name, row in computed["metrics"]["labels"].items()}
    ece["pooled"] = computed["metrics"]["ece_pooled"]
    plot_reliability(tmp_path / "rel.png", computed["reliability"], ece)
    co = computed["cooccurrence"]
    plot_cooccurrence(
        tmp_path / "co.png", np.array(co["counts"]), np.array(co["messages_per_row"]), LABEL_NAMES
    )
    for name in ("pr.png", "rel.png", "co.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
