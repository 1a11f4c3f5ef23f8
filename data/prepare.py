"""``tegur data prepare``: one multi-label dataset from the public sources and the curated set.

Steps: license filter -> load and map each source (data/loaders.py) -> cross-source dedup on
``data.normalize.dedup_key`` (label conflicts resolved by ``data.label_conflict``) -> per-source caps ->
template families (curated ``family`` tags and near-duplicate clusters) -> a fixed split per family ->
checks -> ``train/validation/test.jsonl`` + ``stats.json`` + ``stats.md``, written atomically.

The split of a family is a pure function of the seed and the family's anchor (the member key with the
smallest anchor hash), so the test set does not move when sources are added, and a template family never
straddles two splits. Caps keep the rows with the smallest cap hash (a different salt), so they are stable
too and independent of the split.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from data.augment import style_variants, topic_counterfactuals
from data.config import CLEAN, DataConfig, LabelConflict, SourceOptions
from data.dataset import SPLITS, Example
from data.loaders import CURATED_LICENSE, CURATED_SOURCE, RawRecord, load_curated, load_source
from data.near_duplicates import band_keys, bucket_runs, minhash_signatures
from data.sources import DEFAULT_MANIFEST, Manifest, Source, load_manifest, sha256_file
from data.taxonomy import LABEL_NAMES, LABELS, Label
from tegur.config import TegurConfig
from tegur.errors import ConfigError, DataError
from tegur.io import atomic_path, write_jsonl

logger = logging.getLogger(__name__)

StepCallback = Callable[[str], None]

#: Messages with fewer tokens than this are grouped by exact dedup key only (short texts collide).
_MIN_TOKENS_FOR_NEAR_DUP = 3


@dataclass
class _Item:
    """One deduplicated message."""

    key: str
    record: RawRecord  # the representative copy (text, id, source, surface, license)
    labels: tuple[Label, ...]
    annotated: tuple[Label, ...] | None
    augmented: bool
    families: set[str] = field(default_factory=set)


@dataclass
class PrepareResult:
    """What ``prepare`` wrote."""

    output_dir: Path
    splits: dict[str, list[Example]]
    stats: dict[str, Any]


def _hash01(salt: str, key: str) -> float:
    digest = hashlib.blake2b(f"{salt}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# ---------------------------------------------------------------------------------------------------
# Source selection and loading


def plan_sources(cfg: DataConfig, manifest: Manifest) -> tuple[list[tuple[Source, SourceOptions]], dict]:
    """The enabled sources in priority order, and why each other manifest source is left out."""
    if cfg.sources is None:
        requested = {name: SourceOptions() for name in manifest.names}
    else:
        unknown = [n for n in cfg.sources if n not in manifest.names]
        if unknown:
            raise ConfigError(
                f"data.sources: unknown source(s) {', '.join(unknown)}; the manifest has: "
                f"{', '.join(manifest.names)}"
            )
        requested = dict(cfg.sources)
    plan: list[tuple[Source, SourceOptions]] = []
    left_out: dict[str, str] = {}
    for name, options in requested.items():
        source = manifest.get(name)
        if not options.enabled:
            left_out[name] = "disabled in config"
        elif not source.has_license and not cfg.allow_unlicensed:
            left_out[name] = "no license stated (data.allow_unlicensed: false)"
        elif not source.commercial_use and not cfg.allow_non_commercial:
            left_out[name] = f"{source.license} forbids commercial use (data.allow_non_commercial: false)"
        else:
            plan.append((source, options))
    for name in manifest.names:
        if name not in requested:
            left_out[name] = "not listed in data.sources"
    return plan, left_out


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars // 2 else cut).rstrip()


# ---------------------------------------------------------------------------------------------------
# Normalisation (for dedup keys and families only: the text written stays the raw text)


def normalize_texts(texts: Sequence[str], on_step: StepCallback | None = None) -> dict[str, str]:
    """Raw text -> normalised text, each distinct text normalised once."""
    from data.normalize import normalize

    out: dict[str, str] = {}
    for i, text in enumerate(texts):
        if on_step is not None and i % 5000 == 0:
            on_step(f"normalising {i}/{len(texts)} rows")
        if text not in out:
            out[text] = normalize(text).text
    return out


@dataclass(frozen=True)
class _Text:
    text: str


class _AlreadyNormalized:
    """Stands in for the normaliser in ``dedup_key`` when the text is already normalised (saves a pass)."""

    def __call__(self, text: str) -> _Text:
        return _Text(text)


# ---------------------------------------------------------------------------------------------------
# Dedup


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _covers(record: RawRecord, label: Label) -> bool:
    return record.annotated is None or label in record.annotated


def _conflicting_labels(copies: Sequence[RawRecord]) -> list[Label]:
    """Labels that one copy asserts and another copy, whose annotation covers the label, denies."""
    out = []
    for label in LABELS:
        has = [label in c.labels for c in copies if _covers(c, label)]
        if any(has) and not all(has):
            out.append(label)
    return out


def _merge(copies: Sequence[RawRecord]) -> tuple[tuple[Label, ...], tuple[Label, ...] | None]:
    labels = {label for c in copies for label in c.labels}
    if any(c.annotated is None for c in copies):
        annotated = None
    else:
        covered = {label for c in copies for label in (c.annotated or ())}
        annotated = None if covered >= set(LABELS) else tuple(lab for lab in LABELS if lab in covered)
    return tuple(lab for lab in LABELS if lab in labels), annotated


def deduplicate(
    records: Sequence[RawRecord], keys: Sequence[str], priority: dict[str, int], policy: LabelConflict
) -> tuple[list[_Item], dict[str, Any]]:
    """Group records by dedup key and resolve each group to one item (see :class:`LabelConflict`)."""
    groups: dict[str, list[RawRecord]] = defaultdict(list)
    for record, key in zip(records, keys, strict=True):
        groups[key].append(record)
    items: list[_Item] = []
    dropped_by_rule: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    conflict_dropped = 0
    cross_source = 0
    for key, copies in groups.items():
        copies.sort(key=lambda r: priority[r.source])  # stable: file order within a source
        if len({c.source for c in copies}) > 1:
            cross_source += 1
        kept = [c for c in copies if c.excluded is None]
        bad = _conflicting_labels(kept)
        if bad:
            pair = "+".join(sorted({c.source for c in kept}))
            conflicts[pair] += 1
        if policy is LabelConflict.PRIORITY:
            top = [c for c in copies if c.source == copies[0].source]
            winners = [c for c in top if c.excluded is None]
            if not winners:
                dropped_by_rule[f"{top[0].source}:{top[0].excluded}"] += 1
                continue
        else:
            winners = kept
            if not winners:
                dropped_by_rule[f"{copies[0].source}:{copies[0].excluded}"] += 1
                continue
            if policy is LabelConflict.DROP and bad:
                conflict_dropped += 1
                continue
        labels, annotated = _merge(winners)
        originals = [c for c in winners if not c.augmented]
        representative = (originals or winners)[0]
        items.append(
            _Item(
                key=key,
                record=representative,
                labels=labels,
                annotated=annotated,
                augmented=not originals,
                families={c.family for c in copies if c.family},
            )
        )
    stats = {
        "unique_messages": len(groups),
        "rows_merged_away": len(records) - len(groups),
        "cross_source_duplicates": cross_source,
        "label_conflicts": sum(conflicts.values()),
        "label_conflicts_by_sources": dict(sorted(conflicts.items())),
        "label_conflict_policy": policy.value,
        "dropped_for_conflict": conflict_dropped,
        "dropped_by_mapping_rule": dict(sorted(dropped_by_rule.items())),
    }
    return items, stats


# ---------------------------------------------------------------------------------------------------
# Caps


def apply_caps(records: list[RawRecord], options: SourceOptions, seed: int) -> list[RawRecord]:
    """Keep the rows of one source with the smallest cap hash that fit ``max_rows`` / ``max_per_label``.

    Caps count rows as loaded (before dedup, so that capped-away rows are never normalised): after dedup
    a capped source can hold slightly fewer. Rows a mapping rule excludes are kept, uncounted, so that the
    rule still applies to their copies in other sources.
    """
    if options.max_rows is None and not options.max_per_label:
        return records
    order = sorted(range(len(records)), key=lambda i: _hash01(f"cap:{seed}", records[i].text))
    keep: set[int] = set()
    counts: Counter[str] = Counter()
    n_kept = 0
    for i in order:
        record = records[i]
        if record.excluded is not None:
            keep.add(i)
            continue
        names = [label.value for label in record.labels] or [CLEAN]
        if options.max_rows is not None and n_kept >= options.max_rows:
            continue
        if any(counts[n] >= options.max_per_label[n] for n in names if n in options.max_per_label):
            continue
        counts.update(names)
        keep.add(i)
        n_kept += 1
    return [r for i, r in enumerate(records) if i in keep]


# ---------------------------------------------------------------------------------------------------
# Families


_TOKEN_RE = re.compile(r"[^\W_]+")
_DIGIT_RUN_RE = re.compile(r"\d+")


def family_tokens(normalized: str) -> list[str]:
    """Word tokens of a normalised message, digit runs collapsed (template slots vary in numbers)."""
    return [_DIGIT_RUN_RE.sub("0", t) for t in _TOKEN_RE.findall(normalized)]


def _shingles(tokens: Sequence[str]) -> set[str]:
    return set(tokens) | {f"{a} {b}" for a, b in itertools.pairwise(tokens)}


def near_duplicate_pairs(
    token_lists: Sequence[Sequence[str]], threshold: float, seed: int
) -> list[tuple[int, int]]:
    """Pairs (i, j) whose token+bigram sets have Jaccard similarity >= ``threshold`` (MinHash LSH).

    Not every such pair is returned, but enough to connect each near-duplicate cluster in practice;
    every returned pair has been checked exactly.
    """
    index = [i for i, tokens in enumerate(token_lists) if len(tokens) >= _MIN_TOKENS_FOR_NEAR_DUP]
    if len(index) < 2:
        return []
    shingle_sets = [_shingles(token_lists[i]) for i in index]
    keys = band_keys(minhash_signatures(shingle_sets, seed))
    uf = _UnionFind(len(index))
    pairs: list[tuple[int, int]] = []
    for run in bucket_runs(keys):
        anchor = int(run[0])
        for other in run[1:]:
            other = int(other)
            if uf.find(anchor) == uf.find(other):
                continue
            sa, sb = shingle_sets[anchor], shingle_sets[other]
            if len(sa & sb) >= threshold * len(sa | sb):
                uf.union(anchor, other)
                pairs.append((index[anchor], index[other]))
    return pairs


def build_families(
    items: Sequence[_Item], normalized: dict[str, str], threshold: float | None, seed: int
) -> list[int]:
    """A family id (the index of its first member) per item; ``normalized`` maps raw to normalised text."""
    uf = _UnionFind(len(items))
    first_with_tag: dict[str, int] = {}
    for i, item in enumerate(items):
        for tag in sorted(item.families):
            if tag in first_with_tag:
                uf.union(first_with_tag[tag], i)
            else:
                first_with_tag[tag] = i
    if threshold is not None:
        token_lists = [family_tokens(normalized[it.record.text]) for it in items]
        for i, j in near_duplicate_pairs(token_lists, threshold, seed):
            uf.union(i, j)
    return [uf.find(i) for i in range(len(items))]


# ---------------------------------------------------------------------------------------------------
# Split


def assign_splits(items: Sequence[_Item], family_of: Sequence[int], cfg: DataConfig) -> list[str]:
    """The split of every item: one per family, from the seed and the family's anchor node."""
    members: dict[int, list[int]] = defaultdict(list)
    for i, fam in enumerate(family_of):
        members[fam].append(i)
    split_of_family: dict[int, str] = {}
    for fam, idx in members.items():
        nodes = {items[i].key for i in idx} | {f"family:{t}" for i in idx for t in items[i].families}
        anchor = min(nodes, key=lambda n: _hash01(f"anchor:{cfg.seed}", n))
        u = _hash01(f"split:{cfg.seed}", anchor)
        labels = {label for i in idx for label in items[i].labels}
        test_fraction = max([cfg.test_fraction, *(cfg.label_test_fraction.get(lab, 0.0) for lab in labels)])
        if u < test_fraction:
            split_of_family[fam] = "test"
        elif u < test_fraction + cfg.validation_fraction:
            split_of_family[fam] = "validation"
        else:
            split_of_family[fam] = "train"
    return [split_of_family[fam] for fam in family_of]


# ---------------------------------------------------------------------------------------------------
# Stats


def _count_table(splits: dict[str, list[Example]]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for split, examples in splits.items():
        for ex in examples:
            counts[(ex.source, split, "examples")] += 1
            for label in ex.labels:
                counts[(ex.source, split, label.value)] += 1
            if not ex.labels:
                counts[(ex.source, split, CLEAN)] += 1
    return [
        {"source": s, "split": sp, "label": lab, "count": n} for (s, sp, lab), n in sorted(counts.items())
    ]


def _split_summary(examples: Iterable[Example]) -> dict[str, int]:
    examples = list(examples)
    out = {"examples": len(examples)}
    for label in LABELS:
        out[label.value] = sum(1 for ex in examples if label in ex.labels)
    out[CLEAN] = sum(1 for ex in examples if not ex.labels)
    return out


_ROW_KEYS = ("examples", *LABEL_NAMES, CLEAN)


def stats_rows(stats: dict[str, Any]) -> list[tuple[str, str, list[int]]]:
    """(source, row label, [train, validation, test, total]) rows of the label x split x source table."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for row in stats["table"]:
        counts[(row["source"], row["label"])][row["split"]] = row["count"]
    rows = []
    sources = [s["name"] for s in stats["sources"] if s["included"]]
    for source in sources:
        for key in _ROW_KEYS:
            per_split = counts.get((source, key))
            if not per_split:
                continue
            values = [per_split.get(split, 0) for split in SPLITS]
            rows.append((source, key, [*values, sum(values)]))
    for key in _ROW_KEYS:
        values = [stats["splits"][split][key] for split in SPLITS]
        rows.append(("ALL", key, [*values, sum(values)]))
    return rows


def render_markdown(stats: dict[str, Any]) -> str:
    lines = [
        f"# Prepared dataset `{stats['config']}`",
        "",
        "Examples per label x split x source (a multi-label example counts once per label; "
        "`clean` = no label).",
        "",
        "| source | label | train | validation | test | total |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for source, key, values in stats_rows(stats):
        lines.append(f"| {source} | {key} | " + " | ".join(str(v) for v in values) + " |")
    lines += [
        "",
        "## Licenses included",
        "",
        "| source | license | commercial use | redistributable | examples |",
        "|---|---|---|---|---:|",
    ]
    for src in stats["sources"]:
        if src["included"]:
            lines.append(
                f"| {src['name']} | {src['license']} | {'yes' if src['commercial_use'] else 'no'} | "
                f"{'yes' if src['redistributable'] else 'no'} | {src['examples']} |"
            )
    left_out = [s for s in stats["sources"] if not s["included"]]
    if left_out:
        lines += ["", "Left out: " + "; ".join(f"{s['name']} ({s['reason']})" for s in left_out) + "."]
    dedup = stats["dedup"]
    fams = stats["families"]
    lines += [
        "",
        "## Dedup and families",
        "",
        f"- rows loaded: {stats['rows_loaded']}; "
        f"empty after normalisation: {stats['empty_after_normalisation']}",
        f"- unique messages: {dedup['unique_messages']} ({dedup['rows_merged_away']} duplicate rows merged, "
        f"{dedup['cross_source_duplicates']} messages found in several sources)",
        f"- label conflicts between copies: {dedup['label_conflicts']} "
        f"(policy `{dedup['label_conflict_policy']}`, dropped {dedup['dropped_for_conflict']})",
        f"- dropped by a mapping rule: {sum(dedup['dropped_by_mapping_rule'].values())}",
        f"- capped away: {sum(stats['capped'].values())}; truncated: {sum(stats['truncated'].values())}",
        f"- families: {fams['count']} ({fams['multi_member']} with several messages, "
        f"largest {fams['largest']})",
        f"- augmented curated lines left out of validation/test: {stats['augmented_dropped_from_held_out']}",
        "",
    ]
    return "\n".join(lines)


def render_table(stats: dict[str, Any]) -> Any:
    """The label x split x source table as a rich Table (for the CLI)."""
    from rich.table import Table

    table = Table(title=f"tegur data prepare: {stats['config']}", show_lines=False)
    for col in ("source", "label"):
        table.add_column(col)
    for col in (*SPLITS, "total"):
        table.add_column(col, justify="right")
    previous = None
    for source, key, values in stats_rows(stats):
        if previous is not None and source != previous:
            table.add_section()
        table.add_row(source if source != previous else "", key, *(str(v) for v in values))
        previous = source
    return table


# ---------------------------------------------------------------------------------------------------
# Entry point


def prepare(config: TegurConfig, *, on_step: StepCallback | None = None) -> PrepareResult:
    """Build the dataset described by ``config.data`` and write it to its output folder.

    Args:
        config: The loaded config; ``config.name`` names the default output folder.
        on_step: Called with a short description as each step starts (progress display).

    Returns:
        The output folder, the examples per split and the stats written to ``stats.json``.

    Raises:
        DataError: A missing folder or file, a malformed row, an unknown label, a checksum mismatch, or a
            test split with fewer than ``min_test_positives`` positives of some label. Nothing is written.
        ConfigError: An unknown source name.
    """
    from data.normalize import dedup_key

    started = time.monotonic()
    cfg = config.data
    step = on_step or (lambda _msg: None)
    output_dir = cfg.resolved_output_dir(config.name)

    manifest_path = cfg.manifest or DEFAULT_MANIFEST
    manifest = load_manifest(manifest_path)
    plan, left_out = plan_sources(cfg, manifest)
    if plan and not Path(cfg.raw_dir).is_dir():
        raise DataError(
            f"raw data folder not found: {cfg.raw_dir}. Fetch the sources first "
            "(tegur data fetch --mirror ../shared/data) or set data.raw_dir"
        )

    records: list[RawRecord] = []
    loaded: dict[str, int] = {}
    capped: dict[str, int] = {}
    truncated: dict[str, int] = {}
    if cfg.curated_dir is not None:
        step(f"loading curated examples from {cfg.curated_dir}")
        curated = load_curated(cfg.curated_dir)
        records.extend(curated)
        loaded[CURATED_SOURCE] = len(curated)
    for source, options in plan:
        step(f"loading {source.name}")
        rows = load_source(source, cfg.raw_dir, cfg.mapping, verify=cfg.verify_checksums)
        loaded[source.name] = len(rows)
        capped_rows = apply_caps(rows, options, cfg.seed)
        capped[source.name] = len(rows) - len(capped_rows)
        rows = capped_rows
        if options.max_chars is not None:
            before = [r.text for r in rows]
            rows = [_with_text(r, _truncate(r.text, options.max_chars)) for r in rows]
            truncated[source.name] = sum(1 for r, t in zip(rows, before, strict=True) if r.text != t)
        records.extend(rows)
    if not records:
        raise DataError("no data: every source is disabled or filtered out and there is no curated folder")

    normalized = normalize_texts([r.text for r in records], step)
    as_is = _AlreadyNormalized()
    keys = [dedup_key(normalized[r.text], normalizer=as_is) for r in records]
    empty: Counter[str] = Counter(r.source for r, k in zip(records, keys, strict=True) if not k.strip())
    kept = [(r, k) for r, k in zip(records, keys, strict=True) if k.strip()]

    step("deduplicating")
    priority = {CURATED_SOURCE: 0, **{s.name: i + 1 for i, (s, _) in enumerate(plan)}}
    items, dedup_stats = deduplicate([r for r, _ in kept], [k for _, k in kept], priority, cfg.label_conflict)

    step(f"grouping {len(items)} messages into template families")
    family_of = build_families(items, normalized, cfg.near_duplicate_threshold, cfg.seed)
    split_of = assign_splits(items, family_of, cfg)

    splits: dict[str, list[Example]] = {split: [] for split in SPLITS}
    augmented_dropped = 0
    for item, split in zip(items, split_of, strict=True):
        if item.augmented and split != "train":
            augmented_dropped += 1
            continue
        splits[split].append(_example(item))
    augmentation = _augment(splits["train"], cfg)
    splits["train"].extend(augmentation)
    for examples in splits.values():
        examples.sort(key=lambda ex: ex.id)

    test_positives = {label.value: sum(1 for ex in splits["test"] if label in ex.labels) for label in LABELS}
    short = {name: n for name, n in test_positives.items() if n < cfg.min_test_positives}
    if short:
        detail = ", ".join(f"{name}: {n}" for name, n in short.items())
        raise DataError(
            f"the test split needs at least {cfg.min_test_positives} positives of every label "
            f"(data.min_test_positives) but has {detail}. Add curated examples for those labels, enable "
            "more sources, or raise data.label_test_fraction for them; nothing was written."
        )
    for split in ("train", "test"):
        if not splits[split]:
            raise DataError(f"the {split} split is empty: too little data for the configured fractions")

    family_sizes = Counter(family_of)
    source_examples = Counter(ex.source for examples in splits.values() for ex in examples)
    stats: dict[str, Any] = {
        "config": config.name,
        "data_config": cfg.model_dump(mode="json"),
        "manifest_sha256": sha256_file(manifest_path),
        "sources": _source_stats(manifest, plan, left_out, cfg, source_examples),
        "rows_loaded": sum(loaded.values()),
        "rows_loaded_by_source": loaded,
        "empty_after_normalisation": sum(empty.values()),
        "dedup": dedup_stats,
        "capped": {name: n for name, n in capped.items() if n},
        "truncated": truncated,
        "families": {
            "count": len(family_sizes),
            "multi_member": sum(1 for n in family_sizes.values() if n > 1),
            "largest": max(family_sizes.values(), default=0),
        },
        "augmented_dropped_from_held_out": augmented_dropped,
        "augmented_train_rows": dict(Counter(str(ex.extra["augmentation"]) for ex in augmentation)),
        "splits": {split: _split_summary(examples) for split, examples in splits.items()},
        "test_positives": test_positives,
        "min_test_positives": cfg.min_test_positives,
        "licenses": dict(Counter(ex.license for examples in splits.values() for ex in examples)),
        "table": _count_table(splits),
    }

    step(f"writing {output_dir}")
    with atomic_path(output_dir) as tmp:
        tmp.mkdir()
        for split, examples in splits.items():
            write_jsonl(tmp / f"{split}.jsonl", (ex.to_json() for ex in examples))
        stats["seconds"] = round(time.monotonic() - started, 2)
        _write_json(tmp / "stats.json", stats)
        (tmp / "stats.md").write_text(render_markdown(stats), encoding="utf-8")
    return PrepareResult(output_dir=output_dir, splits=splits, stats=stats)


def _augment(train: list[Example], cfg: DataConfig) -> list[Example]:
    """Train-only copies against the topic and style shortcuts (``data/augment.py``)."""
    out: list[Example] = []
    if cfg.augment.topic_counterfactuals:
        out += topic_counterfactuals(train, seed=cfg.seed, max_rows=cfg.augment.topic_max_rows)
    if cfg.augment.curated_style_copies:
        out += style_variants(
            train, curated_source=CURATED_SOURCE, seed=cfg.seed, copies=cfg.augment.curated_style_copies
        )
    return out


def _with_text(record: RawRecord, text: str) -> RawRecord:
    return replace(record, text=text)


def _example(item: _Item) -> Example:
    r = item.record
    return Example(
        id=r.id,
        text=r.text,
        labels=item.labels,
        source=r.source,
        surface=r.surface,
        license=r.license,
        annotated=item.annotated,
    )


def _source_stats(
    manifest: Manifest,
    plan: list[tuple[Source, SourceOptions]],
    left_out: dict[str, str],
    cfg: DataConfig,
    examples: Counter[str],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if cfg.curated_dir is not None:
        out.append(
            {
                "name": CURATED_SOURCE,
                "license": CURATED_LICENSE,
                "commercial_use": True,
                "redistributable": True,
                "included": True,
                "reason": "",
                "examples": examples.get(CURATED_SOURCE, 0),
            }
        )
    planned = [s.name for s, _ in plan]
    for source in manifest.sources:
        included = source.name in planned
        out.append(
            {
                "name": source.name,
                "license": source.license,
                "commercial_use": source.commercial_use,
                "redistributable": source.redistributable,
                "origin": f"{source.origin.repo}@{source.origin.commit}",
                "included": included,
                "reason": "" if included else left_out.get(source.name, ""),
                "examples": examples.get(source.name, 0),
            }
        )
    order = {name: i for i, name in enumerate([CURATED_SOURCE, *planned])}
    out.sort(key=lambda s: order.get(s["name"], len(order)))
    return out


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
