"""Near-duplicate search by MinHash LSH over shingle sets: families at prepare time, near-copies at eval time.

``tegur data prepare`` groups near-duplicates (token shingles of the normalised text) into families that
never straddle two splits. That cannot catch everything: hashtag walls and spam templates that differ in
a few words chain into near-copies that word shingles miss. ``tegur evaluate`` therefore also reports the
test figures without the test rows that have a near-copy in train, measured on character n-grams of the
raw text (:class:`NearCopyIndex`), so a figure that only measures recall of seen text is visible as such.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

#: 20 bands of 3 rows: a pair at Jaccard 0.5 becomes a candidate with probability 1 - (1 - 0.5**3)**20 = 0.93;
#: every candidate is checked exactly, so false candidates only cost time.
BANDS = 20
ROWS = 3
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)
_SPACE_RE = re.compile(r"\s+")


def char_shingles(text: str, n: int = 3) -> set[str]:
    """Character ``n``-grams of the raw ``text``, lower-cased, whitespace runs collapsed."""
    folded = _SPACE_RE.sub(" ", text.lower()).strip()
    if len(folded) <= n:
        return {folded} if folded else set()
    return {folded[i : i + n] for i in range(len(folded) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Jaccard similarity of two sets (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def minhash_signatures(shingle_sets: Sequence[set[str]], seed: int, n_perm: int = BANDS * ROWS) -> np.ndarray:
    """One row of ``n_perm`` MinHash values per non-empty set (multiply-shift hashing of crc32 shingles)."""
    if any(not s for s in shingle_sets):
        raise ValueError("MinHash needs non-empty shingle sets")
    lengths = np.fromiter((len(s) for s in shingle_sets), dtype=np.int64, count=len(shingle_sets))
    flat = np.fromiter(
        (zlib.crc32(sh.encode()) for s in shingle_sets for sh in s), dtype=np.uint64, count=int(lengths.sum())
    )
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**61, size=n_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**61, size=n_perm, dtype=np.uint64)
    signature = np.empty((len(shingle_sets), n_perm), dtype=np.uint64)
    for p in range(n_perm):
        hashed = (flat * a[p] + b[p]) >> np.uint64(29)  # wraps mod 2**64: that is the hash
        signature[:, p] = np.minimum.reduceat(hashed, starts)
    return signature


def band_keys(signature: np.ndarray, bands: int = BANDS, rows: int = ROWS) -> np.ndarray:
    """``(n, bands)`` bucket keys: rows that share a key in some band are candidate pairs."""
    keys = np.empty((signature.shape[0], bands), dtype=np.uint64)
    for band in range(bands):
        cols = signature[:, band * rows : (band + 1) * rows]
        keys[:, band] = (cols * _MIX[:rows]).sum(axis=1, dtype=np.uint64)
    return keys


def bucket_runs(keys: np.ndarray) -> Iterator[np.ndarray]:
    """For each band, the runs of row indices that share a bucket (runs of two or more rows)."""
    for band in range(keys.shape[1]):
        bucket = keys[:, band]
        order = np.argsort(bucket, kind="stable")
        boundaries = np.flatnonzero(np.diff(bucket[order])) + 1
        for run in np.split(order, boundaries):
            if len(run) > 1:
                yield run


class NearCopyIndex:
    """The texts of a corpus (e.g. the train split), searchable for near-copies of other texts.

    A query is a near-copy when some corpus text has character ``n``-gram Jaccard >= ``threshold`` with it
    (checked exactly on every LSH candidate; the LSH misses a pair at exactly 0.5 with probability 0.07 and
    pairs above it less often).
    """

    def __init__(self, texts: Iterable[str], *, threshold: float = 0.5, n: int = 3, seed: int = 0) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.n = n
        self.seed = seed
        self._sets = [s for s in (char_shingles(t, n) for t in texts) if s]
        self._buckets: list[dict[int, list[int]]] = [{} for _ in range(BANDS)]
        if self._sets:
            keys = band_keys(minhash_signatures(self._sets, seed))
            for band in range(BANDS):
                table = self._buckets[band]
                for row, key in enumerate(keys[:, band].tolist()):
                    table.setdefault(key, []).append(row)

    def __len__(self) -> int:
        return len(self._sets)

    def best_match(self, texts: Sequence[str]) -> np.ndarray:
        """Per query, the highest Jaccard with a corpus candidate (0 when no candidate shares a bucket)."""
        best = np.zeros(len(texts), dtype=np.float64)
        sets = [char_shingles(t, self.n) for t in texts]
        present = [i for i, s in enumerate(sets) if s]
        if not present or not self._sets:
            return best
        keys = band_keys(minhash_signatures([sets[i] for i in present], self.seed))
        for row, query in enumerate(present):
            candidates: set[int] = set()
            for band, key in enumerate(keys[row].tolist()):
                candidates.update(self._buckets[band].get(key, ()))
            if candidates:
                qs = sets[query]
                best[query] = max(jaccard(qs, self._sets[c]) for c in candidates)
        return best

    def near_copies(self, texts: Sequence[str]) -> np.ndarray:
        """Boolean mask: which ``texts`` have a near-copy in the corpus."""
        return self.best_match(texts) >= self.threshold
