"""The trained-model artifact: one folder that inference loads and nothing else.

Layout (written atomically by :func:`save_artifact`)::

    model.safetensors        weights (safetensors only, never pickle)
    config.json              encoder + head config with id2label / label2id
    tokenizer.json, tokenizer_config.json
    normalizer.json          normaliser version + slang map: inference rebuilds the same normaliser
    tegur.json               ArtifactMetadata: labels, thresholds, metrics, versions, resolved config
    training_log.jsonl       the trainer's log lines (loss, per-epoch validation metrics)
    README.md                the model card

:func:`load_artifact` is the one loader; the predictor, ``tegur evaluate`` and ``tegur serve`` use it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data.dataset import SPLITS
from tegur.errors import ArtifactError
from tegur.io import atomic_path

if TYPE_CHECKING:
    from data.normalize import Normalizer
    from inference.backends import ExportManifest
    from inference.modeling import TegurForMultiLabel

FORMAT_VERSION = 1
METADATA_FILE = "tegur.json"
NORMALIZER_FILE = "normalizer.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
MODEL_CONFIG_FILE = "config.json"
TRAINING_LOG_FILE = "training_log.jsonl"
MODEL_CARD_FILE = "README.md"

_NON_COMMERCIAL = re.compile(r"\bNC\b|non[- ]?commercial", re.IGNORECASE)


def license_stated(license_text: str) -> bool:
    """Whether a license string names a license (SPDX ``NOASSERTION`` / ``NONE`` and '' do not)."""
    return license_text.strip().upper() not in {"", "NOASSERTION", "NONE", "UNKNOWN"}


def is_non_commercial(license_text: str) -> bool:
    """Whether a license string forbids commercial use (``CC BY-NC-SA 4.0``, "non-commercial")."""
    return bool(_NON_COMMERCIAL.search(license_text))


class SourceProvenance(BaseModel):
    """One data source of the training data: its license and how many rows each split took from it."""

    model_config = ConfigDict(extra="forbid")

    license: str = Field("", description="License string as the prepared data states it ('' if none).")
    rows: dict[str, int] = Field(default_factory=dict, description="Rows per split.")


class DataProvenance(BaseModel):
    """Where the training data came from, for the model card."""

    model_config = ConfigDict(extra="forbid")

    dir: str = Field(description="The prepared-data folder the model was trained on.")
    sources: dict[str, SourceProvenance] = Field(default_factory=dict)
    label_counts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Positives per label, per split."
    )
    rows: dict[str, int] = Field(default_factory=dict, description="Rows per split.")
    stats: dict[str, Any] | None = Field(None, description="The prepared folder's stats.json, when present.")

    @property
    def non_commercial(self) -> bool:
        return any(is_non_commercial(s.license) for s in self.sources.values())


class ReferenceScore(BaseModel):
    """Scores the training process computed for a fixed probe text: reloading must reproduce them."""

    model_config = ConfigDict(extra="forbid")

    text: str
    scores: dict[str, float]


class ArtifactMetadata(BaseModel):
    """Contents of ``tegur.json``: everything about the model that is not weights or tokenizer."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = Field(FORMAT_VERSION, description="Layout version of the artifact folder.")
    name: str = Field(description="Config name the model was trained from.")
    model_version: str = Field("", description="First 12 hex digits of the weights file's sha256.")
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    labels: list[str] = Field(description="Output order of the head.")
    thresholds: dict[str, float] = Field(description="Decision threshold per label (flag when score >= it).")
    text_prefix: str = Field("", description="Prepended to every normalised text.")
    max_length: int = Field(gt=0, description="Tokens per text after truncation.")
    base_model: str = Field(description="Base encoder (folder, Hub id, or 'tiny').")
    normalizer_version: str
    config: dict[str, Any] = Field(description="The resolved training config (all three sections).")
    versions: dict[str, str] = Field(description="Library versions at training time.")
    metrics: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Split -> metrics report (training.metrics.multilabel_report)."
    )
    baseline_metrics: dict[str, dict[str, Any]] | None = Field(
        None, description="The TF-IDF baseline's reports on the same splits, when computed."
    )
    data: DataProvenance | None = None
    training: dict[str, Any] = Field(
        default_factory=dict, description="Steps, wall time, peak memory, resume."
    )
    reference_scores: list[ReferenceScore] = Field(default_factory=list)
    distillation: dict[str, Any] | None = Field(
        None,
        description="For a student (`tegur distill`): its teacher, the layers copied, the vocabulary trim.",
    )

    @model_validator(mode="after")
    def _thresholds_cover_labels(self) -> ArtifactMetadata:
        if sorted(self.thresholds) != sorted(self.labels):
            raise ValueError(f"thresholds {sorted(self.thresholds)} do not match labels {self.labels}")
        for label, value in self.thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold of {label!r} is {value}, outside [0, 1]")
        return self


def library_versions() -> dict[str, str]:
    """Versions of the libraries that define the model's behaviour."""
    import platform

    import safetensors
    import tokenizers
    import torch
    import transformers

    import tegur

    return {
        "tegur": tegur.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
    }


def _not_an_artifact(directory: Path, what: str) -> ArtifactError:
    return ArtifactError(f"{directory} is not a Tegur artifact: {what}; train one with `tegur train`")


def load_metadata(directory: str | Path) -> ArtifactMetadata:
    """Read and validate ``<directory>/tegur.json``.

    Raises:
        ArtifactError: the folder does not exist, has no ``tegur.json``, or it is invalid.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"model folder not found: {directory}; train one with `tegur train`")
    path = directory / METADATA_FILE
    if not path.is_file():
        raise _not_an_artifact(directory, f"missing {METADATA_FILE}")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _not_an_artifact(directory, f"{METADATA_FILE} is not valid JSON ({exc})") from None
    if isinstance(raw, dict) and raw.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: artifact format {raw.get('format_version')!r}, this Tegur reads format "
            f"{FORMAT_VERSION}; retrain with this version or install the Tegur that wrote it"
        )
    try:
        return ArtifactMetadata.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'tegur.json'}: {e['msg']}" for e in exc.errors()
        )
        raise _not_an_artifact(directory, f"invalid {METADATA_FILE} ({problems})") from None


def save_normalizer(path: Path, normalizer: Normalizer) -> None:
    """Write the normaliser's version and slang map, so that inference rebuilds it from the artifact."""
    from data.normalize import NORMALIZER_VERSION

    payload = {"version": NORMALIZER_VERSION, "slang": dict(sorted(normalizer.slang.items()))}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, ensure_ascii=False, indent=0)
        fh.write("\n")


def load_normalizer(directory: str | Path) -> Normalizer:
    """Rebuild the normaliser the model was trained with.

    Raises:
        ArtifactError: ``normalizer.json`` is missing or invalid, or was written by another normaliser
            version (the same text would reach the model differently).
    """
    from data.normalize import NORMALIZER_VERSION, Normalizer

    path = Path(directory) / NORMALIZER_FILE
    if not path.is_file():
        raise _not_an_artifact(Path(directory), f"missing {NORMALIZER_FILE}")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        version = raw["version"]
        slang = raw["slang"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise _not_an_artifact(Path(directory), f"invalid {NORMALIZER_FILE} ({exc!r})") from None
    if version != NORMALIZER_VERSION:
        raise ArtifactError(
            f"{path}: the model was trained with normaliser version {version!r}, but this Tegur has "
            f"{NORMALIZER_VERSION!r}; retrain the model or install the Tegur version that trained it"
        )
    if not isinstance(slang, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in slang.items()
    ):
        raise _not_an_artifact(Path(directory), f"{NORMALIZER_FILE}: 'slang' must map strings to strings")
    return Normalizer(slang=slang)


def read_pad_token_id(directory: str | Path, tokenizer: Any) -> int:
    """The padding id: the model config's ``pad_token_id``, else the tokenizer's pad token, else 0.

    Padded positions are masked out, so the id only has to be a valid row of the embedding table.
    """
    path = Path(directory) / MODEL_CONFIG_FILE
    if path.is_file():
        with open(path, encoding="utf-8") as fh:
            pad = json.load(fh).get("pad_token_id")
        if isinstance(pad, int) and pad >= 0:
            return pad
    for token in ("<pad>", "[PAD]"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_artifact(
    target: str | Path,
    *,
    model: TegurForMultiLabel,
    tokenizer: Any,
    normalizer: Normalizer,
    metadata: ArtifactMetadata,
    training_log: Path | None = None,
    model_card: Callable[[ArtifactMetadata], str] | None = None,
) -> ArtifactMetadata:
    """Write the artifact folder atomically (all or nothing) and return the metadata as written.

    ``metadata.model_version`` is filled in from the weights' hash.
    """
    target = Path(target)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        model.save_pretrained(tmp)  # transformers 5 writes safetensors only
        tokenizer.save_pretrained(tmp)
        save_normalizer(tmp / NORMALIZER_FILE, normalizer)
        if training_log is not None and training_log.is_file():
            shutil.copyfile(training_log, tmp / TRAINING_LOG_FILE)
        pickles = [p.name for p in tmp.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".ckpt"}]
        if pickles:
            raise ArtifactError(f"refusing to write pickle files into the artifact: {pickles}")
        metadata = metadata.model_copy(update={"model_version": file_sha256(tmp / WEIGHTS_FILE)[:12]})
        with open(tmp / METADATA_FILE, "w", encoding="utf-8") as fh:
            fh.write(metadata.model_dump_json(indent=2) + "\n")
        card = (model_card or render_model_card)(metadata)
        with open(tmp / MODEL_CARD_FILE, "w", encoding="utf-8") as fh:
            fh.write(card)
        # Some writers create private temp files (0600); a served artifact is often read by another user.
        tmp.chmod(0o755)
        for path in tmp.iterdir():
            path.chmod(0o644)
    return metadata


@dataclass
class Artifact:
    """A loaded artifact: model in eval mode, tokenizer, normaliser and metadata."""

    directory: Path
    model: TegurForMultiLabel
    tokenizer: Any
    normalizer: Normalizer
    metadata: ArtifactMetadata


def load_artifact(directory: str | Path) -> Artifact:
    """Load everything inference needs from an artifact folder, and only from it.

    Raises:
        ArtifactError: the folder is missing, is not a Tegur artifact, or its parts disagree.
    """
    directory = Path(directory)
    metadata = load_metadata(directory)
    normalizer = load_normalizer(directory)
    if not (directory / WEIGHTS_FILE).is_file():
        raise _not_an_artifact(directory, f"missing {WEIGHTS_FILE}")

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from inference.modeling import TegurForMultiLabel

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report and progress bar are noise for a complete artifact
    try:
        model, info = TegurForMultiLabel.from_pretrained(
            directory, use_safetensors=True, local_files_only=True, output_loading_info=True
        )
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except OSError as exc:
        raise _not_an_artifact(directory, f"cannot load the model or tokenizer ({exc})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(info["missing_keys"])
    if missing:
        raise ArtifactError(f"{directory}: weights are missing {missing[:5]}; the artifact is incomplete")
    id2label = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if id2label != metadata.labels:
        raise ArtifactError(
            f"{directory}: config.json labels {id2label} differ from {METADATA_FILE} labels {metadata.labels}"
        )
    model.eval()
    return Artifact(directory, model, tokenizer, normalizer, metadata)


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metrics_markdown(report: dict[str, Any]) -> str:
    """A markdown table of one split's report (see ``training.metrics.multilabel_report``)."""
    lines = [
        "| label | threshold | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["labels"].items():
        lines.append(
            f"| {name} | {_fmt(row['threshold'])} | {_fmt(row['precision'])} | {_fmt(row['recall'])} "
            f"| {_fmt(row['f1'])} | {row['support']} |"
        )
    for avg in ("micro", "macro"):
        row = report[avg]
        lines.append(
            f"| **{avg}** | | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {_fmt(row['f1'])} | |"
        )
    return "\n".join(lines)


def distillation_lines(distillation: dict[str, Any] | None) -> list[str]:
    """Model-card lines naming a student's teacher and what was kept of it."""
    if not distillation:
        return []
    teacher = distillation.get("teacher", {})
    lines = [
        f"- Distilled (`tegur distill`) from teacher `{teacher.get('name', '?')}` "
        f"({teacher.get('model_version', '?')}, `{teacher.get('dir', '?')}`): "
        f"{distillation.get('layers_kept', '?')} of its {teacher.get('layers', '?')} layers "
        f"(teacher layers {distillation.get('teacher_layers', '?')}), trained on its soft labels "
        f"(temperature {distillation.get('temperature', '?')}, weight {distillation.get('alpha', '?')}) "
        f"and the gold labels, over {distillation.get('rows', '?')} messages "
        f"({distillation.get('unlabelled_rows', 0)} of them unlabelled).",
    ]
    vocab = distillation.get("vocabulary")
    if vocab:
        lines.append(
            f"- Vocabulary trimmed from {vocab['vocab_before']:,} to {vocab['vocab_after']:,} tokens; on "
            f"{vocab['messages']:,} held-out messages the <unk> rate went from "
            f"{vocab['unk_rate_before']:.3%} to {vocab['unk_rate_after']:.3%} and "
            f"{vocab['changed_text']} decode to other text."
        )
    return lines


def runtimes_markdown(manifest: ExportManifest) -> list[str]:
    """Model-card lines for ``export.json``: each exported variant, kept or refused, and why."""
    lines = [
        "## Runtimes",
        "",
        f"`tegur export onnx` checked each variant against PyTorch fp32 on the {manifest.split} split "
        f"({manifest.rows} messages; kept when flag decisions agree on at least {manifest.min_agreement:.1%} "
        f"of messages and every label's F1 is within {manifest.max_f1_delta}), {manifest.threads} threads "
        f"on {manifest.cpu.get('model', 'an unnamed CPU')}. `precision: auto` serves the fastest kept one.",
        "",
        "| runtime | precision | recipe | agreement | max abs F1 change | messages/s | kept |",
        "|---|---|---|---:|---:|---:|---|",
        f"| torch | fp32 | reference | 100% | 0 | {manifest.reference.messages_per_s:,.0f} | reference |",
    ]
    for v in manifest.variants:
        worst = max((abs(d) for d in v.f1_delta.values()), default=0.0)
        kept = "yes" if v.validated else f"no: {v.reason}"
        speed = f"{v.messages_per_s:,.0f}" if v.messages_per_s else "-"
        lines.append(
            f"| {v.runtime.value} | {v.precision.value} | {v.recipe.get('name', '')} | {v.agreement:.2%} "
            f"| {worst:.4f} | {speed} | {kept} |"
        )
    return [*lines, ""]


def render_model_card(meta: ArtifactMetadata, manifest: ExportManifest | None = None) -> str:
    """The artifact's README.md: intended use, labels, data and licenses, metrics, runtimes, limitations."""
    data = meta.data
    lines = [f"# Tegur classifier `{meta.name}` ({meta.model_version})", ""]
    if data is not None and data.non_commercial:
        lines += [
            "> **Trained on non-commercial data: not for commercial use.** At least one training source is "
            "licensed for non-commercial use only (see Training data).",
            "",
        ]
    lines += [
        "Multi-label moderation classifier for Indonesian social-platform comments and LIVE chat, "
        "trained with Tegur (`tegur train`).",
        "",
        "## Intended use",
        "",
        "Flag comments and LIVE-chat lines for trust-and-safety review or automatic action under a "
        "strike policy. Scores are per label and independent: a message may carry several labels or none. "
        "It is a screening tool: decisions that penalise a user should be reviewable by a person.",
        "",
        "## Labels and thresholds",
        "",
        "A label is flagged when its score is at or above its threshold (tuned on the validation split "
        "to maximise that label's F1).",
        "",
        "| label | threshold |",
        "|---|---:|",
        *[f"| {label} | {meta.thresholds[label]:.2f} |" for label in meta.labels],
        "",
        "## Model",
        "",
        f"- Base encoder: `{meta.base_model}`, mean-pooled, linear head with one sigmoid output per label.",
        f"- Input: normaliser `{meta.normalizer_version}`, prefix {meta.text_prefix!r}, "
        f"at most {meta.max_length} tokens.",
        *distillation_lines(meta.distillation),
        "",
        "## Training data",
        "",
    ]
    if data is None or not data.sources:
        lines.append("No provenance recorded.")
    else:
        seen = {s for src in data.sources.values() for s in src.rows}
        splits = [s for s in SPLITS if s in seen] + sorted(seen - set(SPLITS))
        lines += [
            "| source | license | " + " | ".join(splits) + " |",
            "|---|---|" + "---:|" * len(splits),
        ]
        for name, src in data.sources.items():
            license_text = src.license if license_stated(src.license) else "not stated"
            counts = " | ".join(str(src.rows.get(s, 0)) for s in splits)
            lines.append(f"| {name} | {license_text} | {counts} |")
        lines.append("")
        unstated = [name for name, src in data.sources.items() if not license_stated(src.license)]
        if unstated:
            lines.append(
                f"Sources without a stated license ({', '.join(unstated)}): check their terms before "
                "redistributing this model."
            )
            lines.append("")
    weights = (meta.config.get("training") or {}).get("source_weights") or {}
    if weights:
        lines += [
            "Train rows were resampled per source (weight: "
            + ", ".join(f"{name} x{weight:g}" for name, weight in sorted(weights.items()))
            + f"; {meta.training.get('train_rows', '?')} rows seen per pass); validation and test were not.",
            "",
        ]
    lines += ["## Metrics", ""]
    for split, report in meta.metrics.items():
        lines += [f"### {split} ({report.get('n', '?')} messages)", "", metrics_markdown(report), ""]
    if meta.baseline_metrics:
        for split, report in meta.baseline_metrics.items():
            lines += [f"### TF-IDF baseline, {split}", "", metrics_markdown(report), ""]
    if manifest is not None:
        lines += runtimes_markdown(manifest)
    lines += [
        "## Limitations",
        "",
        "- Public data covers bullying (tweets), gambling promotion and SMS spam well; pity-bait, sexual "
        "solicitation in LIVE chat and 'cek bio' redirection rely mostly on curated examples written by the "
        "project, so their scores are less certain on real traffic.",
        "- Slang, misspellings and code-mixing with Javanese or Sundanese drift quickly: monitor, retrain.",
        "- Thresholds were tuned on the validation split; the test metrics above are the honest estimate.",
        "- Mostly Indonesian training text: other languages get unreliable scores.",
        "",
        "## Reproduce",
        "",
        f"Trained from config `{meta.name}` (resolved config in `tegur.json`). Library versions: "
        + ", ".join(f"{k} {v}" for k, v in meta.versions.items())
        + ".",
        "",
    ]
    return "\n".join(lines)
