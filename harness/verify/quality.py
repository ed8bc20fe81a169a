"""Search quality: recall@k against exact ground truth, overlap@k with the source, and a noise floor.

- Queries are sampled from the source while it is scanned for parity (seeded reservoir sampling), or
  given by the user (a ``.npy`` file).
- Ground truth is exact: blocked matmul over the scanned source vectors with a running top-k, so the
  collection never has to fit in memory. The scan spills the vectors to a temporary file
  (``VectorSpill``) because a sampled query is only known once the scan is over.
- recall@k counts ties as ann-benchmarks does: a returned record is a hit when its true distance to the
  query is within ε of the k-th true distance (ε = ``tie_epsilon`` × max(1, |k-th|)). True distances are
  recomputed from the scanned vectors, or from a fetch for a record the source does not hold.
- overlap@k is |target top-k ∩ source top-k| / k, source ids mapped into the target's id space first.
- The noise floor is the overlap of the source with itself on a re-run (an exact source gives 1.0).
  The overlap gate is ``min(overlap_min, noise_floor − noise_slack)``: a target is not asked to agree
  with the source more closely than the source agrees with itself (Diffy's idea, for ranked lists).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import InvalidInputError
from harness.model import Check, Distance, PointId, SearchResult, Status
from harness.stores.base import VectorStore
from harness.vectormath import block_scores, prepare
from harness.verify.parity import DigestTable, point_keys
from harness.verify.thresholds import Thresholds

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

QUALITY_CHECK_IDS = ("quality.recall_source", "quality.recall_target", "quality.overlap", "quality.noise_floor")
GROUND_TRUTH_BLOCK_ROWS = 32_768  # × 200 queries: ~26 MB of scores per block
_CHUNK = 256  # columns judged together by their minimum when looking for top-k candidates
_DENSE_COLUMNS = 4096  # columns partitioned at once while a query holds fewer than k rows


# -- the query set ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QuerySet:
    """Query vectors and what to call each in a report (the sampled record's id, or the row of a file)."""

    vectors: F32
    labels: tuple[PointId, ...]
    sampled: bool

    def __len__(self) -> int:
        return len(self.labels)


class QueryReservoir:
    """A seeded uniform sample of ``size`` records of a scan (Algorithm R, vectorised per batch)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seen = 0
        self._rng = np.random.default_rng([seed, 7])
        self._vectors: F32 | None = None
        self._labels: list[PointId] = []

    def add(self, vectors: F32, ids: Sequence[PointId]) -> None:
        """Offer one batch (in scan order). A vector holding NaN or ±Inf is never a query (it is
        ``parity.vectors``' finding)."""
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            keep = np.flatnonzero(finite)
            vectors, ids = vectors[keep], [ids[i] for i in keep.tolist()]
        n = len(ids)
        if self.size == 0 or n == 0:
            self.seen += n
            return
        if self._vectors is None:
            self._vectors = np.empty((self.size, vectors.shape[1]), dtype=np.float32)
        fill = max(0, min(n, self.size - self.seen))
        if fill:
            self._vectors[self.seen : self.seen + fill] = vectors[:fill]
            self._labels.extend(ids[:fill])
        if fill < n:
            # Row i (overall index g) replaces slot j ~ U[0, g] when j < size; later rows win, as in Algorithm R.
            overall = np.arange(self.seen + fill, self.seen + n)
            slots = self._rng.integers(0, overall + 1)
            replacing = np.flatnonzero(slots < self.size)
            for row, slot in zip((replacing + fill).tolist(), slots[replacing].tolist(), strict=True):
                self._vectors[slot] = vectors[row]
                self._labels[slot] = ids[row]
        self.seen += n

    def result(self) -> QuerySet:
        """The sample (fewer than ``size`` queries when the scan had fewer records)."""
        count = min(self.size, self.seen)
        vectors = self._vectors[:count].copy() if self._vectors is not None else np.zeros((0, 0), np.float32)
        return QuerySet(vectors=vectors, labels=tuple(self._labels[:count]), sampled=True)


def user_queries(vectors: npt.ArrayLike) -> QuerySet:
    """A query set from the user's own vectors (labelled by row number)."""
    q = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if q.ndim != 2 or not np.isfinite(q).all():
        raise InvalidInputError(f"query vectors must be a finite 2-D array (rows are queries), got shape {q.shape}")
    return QuerySet(vectors=q, labels=tuple(range(q.shape[0])), sampled=False)


# -- the scanned vectors, spilled ---------------------------------------------------------------------
class VectorSpill:
    """The source's vectors in scan order in an anonymous temporary file (float32, row-major).

    Memory stays bounded by one block; the file holds rows × dimension × 4 bytes and vanishes on close.
    """

    def __init__(self, directory: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - lives as long as the spill
        self.rows = 0
        self.dimension = 0

    def append(self, vectors: F32) -> None:
        """Write a batch of vectors after the previous ones."""
        block = np.ascontiguousarray(vectors, dtype=np.float32)
        if block.shape[0] == 0:
            return
        self.dimension = block.shape[1]
        self._file.write(block.tobytes())
        self.rows += block.shape[0]

    def blocks(self, block_rows: int = GROUND_TRUTH_BLOCK_ROWS) -> Iterator[tuple[int, F32]]:
        """(first row, block) pairs covering every row; each block is a fresh array."""
        self._file.flush()
        row_bytes = self.dimension * 4
        for start in range(0, self.rows, block_rows):
            count = min(block_rows, self.rows - start)
            raw = os.pread(self._file.fileno(), count * row_bytes, start * row_bytes)
            yield start, np.frombuffer(raw, dtype=np.float32).reshape(count, self.dimension)

    def take(self, positions: I64) -> F32:
        """The rows at these scan positions (random access, one read each)."""
        self._file.flush()
        row_bytes = self.dimension * 4
        out = np.empty((len(positions), self.dimension), dtype=np.float32)
        for i, pos in enumerate(np.asarray(positions, dtype=np.int64).tolist()):
            out[i] = np.frombuffer(os.pread(self._file.fileno(), row_bytes, pos * row_bytes), dtype=np.float32)
        return out

    def close(self) -> None:
        """Delete the file; idempotent."""
        self._file.close()


# -- exact ground truth -------------------------------------------------------------------------------
class GroundTruth:
    """Exact top-k of a fixed query set over blocks of vectors, in bounded memory.

    Vectors and queries are in the form the store keeps for ``distance`` (``vectormath.prepare``).
    Internally a smaller key is better: −q·x for cosine and dot (the matmul itself, negated queries),
    |x|² − 2q·x for euclid (the squared distance minus |q|², same order), the distance for manhattan.
    Once every query holds k rows, a block only contributes entries that beat a query's current k-th
    key, found through per-chunk minima instead of a partition of the block.
    """

    def __init__(self, queries: F32, k: int, distance: Distance) -> None:
        self.distance = distance
        self.k = k
        self.queries = np.ascontiguousarray(prepare(np.asarray(queries, dtype=np.float32), distance))
        self._matmul_queries: F32 | None = None
        if distance in (Distance.COSINE, Distance.DOT):
            self._matmul_queries = np.ascontiguousarray(-self.queries)
        elif distance is Distance.EUCLID:
            self._matmul_queries = np.ascontiguousarray(-2.0 * self.queries)
        nq = self.queries.shape[0]
        self.keys = np.zeros((nq, 0), dtype=np.float32)
        self.rows = np.zeros((nq, 0), dtype=np.int64)

    def _block_keys(self, block: F32) -> F32:
        if self._matmul_queries is None:
            return block_scores(self.queries, block, self.distance)
        keys = self._matmul_queries @ block.T
        if self.distance is Distance.EUCLID:
            keys += np.einsum("ij,ij->i", block, block)[None, :]
        return keys

    def push(self, block: F32, first_row: int) -> None:
        """Merge a block of vectors whose first row has scan position ``first_row``."""
        if block.shape[0] == 0 or self.queries.shape[0] == 0:
            return
        keys = self._block_keys(block)
        if self.keys.shape[1] < self.k:
            self._merge_dense(keys, first_row)
            return
        candidates = self._candidates(keys)
        if candidates is None:  # most of the block qualifies: partitioning it is cheaper
            self._merge_dense(keys, first_row)
            return
        q_idx, c_idx = candidates
        if len(q_idx) == 0:
            return
        nq = self.keys.shape[0]
        all_q = np.concatenate([np.repeat(np.arange(nq), self.k), q_idx])
        all_keys = np.concatenate([self.keys.ravel(), keys[q_idx, c_idx]])
        all_rows = np.concatenate([self.rows.ravel(), c_idx + first_row])
        order = np.lexsort((all_rows, all_keys, all_q))
        starts = np.searchsorted(all_q[order], np.arange(nq))
        take = order[(starts[:, None] + np.arange(self.k)[None, :]).ravel()]
        self.keys = all_keys[take].reshape(nq, self.k)
        self.rows = all_rows[take].reshape(nq, self.k)

    def _candidates(self, keys: F32) -> tuple[I64, I64] | None:
        """(query, column) of every entry better than its query's current k-th key.

        Scanning a block for them element by element (``nonzero``) costs about as much as the matmul,
        so columns are first judged in chunks of ``_CHUNK`` by their minimum; only chunks that hold a
        candidate are looked at closely. None when too many chunks qualify.
        """
        nq, width = keys.shape
        bound = self.keys[:, -1:]
        whole = width - width % _CHUNK
        mins = keys[:, :whole].reshape(nq, -1, _CHUNK).min(axis=2)
        chunk_q, chunk_c = np.nonzero(mins < bound)
        if len(chunk_q) * 4 > mins.size:
            return None
        cols = (chunk_c[:, None] * _CHUNK + np.arange(_CHUNK)[None, :]).ravel()
        rows = np.repeat(chunk_q, _CHUNK)
        hit = keys[rows, cols] < bound[rows, 0]
        q_idx, c_idx = rows[hit], cols[hit]
        if whole < width:  # the ragged tail of the block, element by element
            tail_q, tail_c = np.nonzero(keys[:, whole:] < bound)
            q_idx = np.concatenate([q_idx, tail_q])
            c_idx = np.concatenate([c_idx, tail_c + whole])
        return q_idx.astype(np.int64), c_idx.astype(np.int64)

    def _merge_dense(self, keys: F32, first_row: int) -> None:
        # Column slices bound the partition's temporaries (int64 indices) to a few MB per slice.
        for start in range(0, keys.shape[1], _DENSE_COLUMNS):
            part = keys[:, start : start + _DENSE_COLUMNS]
            rows = np.broadcast_to(np.arange(part.shape[1], dtype=np.int64) + first_row + start, part.shape)
            all_keys = np.concatenate([self.keys, part], axis=1)
            all_rows = np.concatenate([self.rows, rows], axis=1)
            if all_keys.shape[1] > self.k:
                best = np.argpartition(all_keys, self.k - 1, axis=1)[:, : self.k]
                all_keys = np.take_along_axis(all_keys, best, axis=1)
                all_rows = np.take_along_axis(all_rows, best, axis=1)
            order = np.lexsort((all_rows, all_keys), axis=1)
            self.keys = np.take_along_axis(all_keys, order, axis=1)
            self.rows = np.take_along_axis(all_rows, order, axis=1)

    def result(self) -> tuple[I64, F32]:
        """(rows, native scores), each (queries × min(k, rows seen)), best first."""
        if self.distance in (Distance.COSINE, Distance.DOT):
            scores = -self.keys
        elif self.distance is Distance.EUCLID:
            q_sq = np.einsum("ij,ij->i", self.queries, self.queries)[:, None]
            scores = np.sqrt(np.maximum(self.keys + q_sq, 0.0))
        else:
            scores = self.keys
        return self.rows, scores.astype(np.float32)


def exact_ground_truth(queries: F32, spill: VectorSpill, k: int, distance: Distance) -> tuple[I64, F32]:
    """Exact top-``k`` scan positions and scores of each query over the spilled source vectors."""
    truth = GroundTruth(queries, k, distance)
    for first_row, block in spill.blocks():
        truth.push(block, first_row)
    return truth.result()


def true_scores(queries: F32, vectors: F32, distance: Distance) -> F64:
    """Row-wise native score of ``queries[i]`` against ``vectors[i]`` (both prepared), in float64."""
    q = np.asarray(queries, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float64)
    if distance in (Distance.COSINE, Distance.DOT):
        return np.einsum("ij,ij->i", q, v)
    if distance is Distance.EUCLID:
        return np.sqrt(np.einsum("ij,ij->i", q - v, q - v))
    return np.abs(q - v).sum(axis=1)


# -- recall, overlap, noise ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Ranked:
    """One store's results for the query set: per query the first ``k`` distinct ids and their keys.

    Keys live in parity's id space (``point_keys``); a Pinecone source's keys are those of the Qdrant
    points its records became, so they compare with a Qdrant target's directly.
    """

    keys: tuple[U64, ...]
    ids: tuple[tuple[PointId, ...], ...]
    pinecone_to_qdrant: bool = False

    @classmethod
    def of(cls, result: SearchResult, k: int, *, pinecone_to_qdrant: bool = False) -> Ranked:
        """Keep the first ``k`` distinct results of each query."""
        keys, ids = [], []
        for q, row in enumerate(result.ids):
            namespaces = result.namespaces[q] if result.namespaces is not None else None
            row_keys = point_keys(row, namespaces, pinecone_to_qdrant=pinecone_to_qdrant)
            _, first = np.unique(row_keys, return_index=True)
            keep = np.sort(first)[:k]
            keys.append(row_keys[keep])
            ids.append(tuple(row[i] for i in keep.tolist()))
        return cls(tuple(keys), tuple(ids), pinecone_to_qdrant)


def overlap_at_k(a: Ranked, b: Ranked, k: int) -> F64:
    """Per query |a ∩ b| / k (k capped by what either side returned)."""
    out = np.empty(len(a.keys), dtype=np.float64)
    for q, (x, y) in enumerate(zip(a.keys, b.keys, strict=True)):
        denom = max(1, min(k, max(len(x), len(y))))
        out[q] = len(np.intersect1d(x, y, assume_unique=True)) / denom
    return out


@dataclass(frozen=True, slots=True)
class RecallJudge:
    """Scores result lists against ground truth with ann-benchmarks' tie rule."""

    queries: F32  # prepared for the source's distance
    kth_scores: F32  # per query, the k-th true score
    k_eff: int
    distance: Distance
    epsilon: float
    source_table: DigestTable
    spill: VectorSpill

    def recall(self, ranked: Ranked, store: VectorStore) -> F64:
        """Per query fraction of the ``k_eff`` results within ε of the k-th true score.

        True scores come from the spilled source vectors; a record the source does not hold is fetched
        from ``store``, the store that returned it.
        """
        nq = len(ranked.keys)
        counts = np.array([len(x) for x in ranked.keys], dtype=np.int64)
        flat = np.concatenate(ranked.keys) if counts.sum() else np.zeros(0, dtype=np.uint64)
        owner = np.repeat(np.arange(nq), counts)
        positions = self.source_table.positions(flat)
        vectors = np.empty((len(flat), self.queries.shape[1]), dtype=np.float32)
        known = positions >= 0
        if known.any():
            vectors[known] = self.spill.take(positions[known])
        if not known.all():
            vectors[~known] = self._fetch(store, ranked, flat[~known])
        scores = true_scores(self.queries[owner], vectors, self.distance)
        kth = self.kth_scores[owner].astype(np.float64)
        slack = self.epsilon * np.maximum(1.0, np.abs(kth))
        hit = scores >= kth - slack if self.distance.higher_is_better else scores <= kth + slack
        return np.bincount(owner, weights=hit.astype(np.float64), minlength=nq) / max(1, self.k_eff)

    def _fetch(self, store: VectorStore, ranked: Ranked, wanted: U64) -> F32:
        """Vectors (prepared) of returned records outside the source scan; NaN for one gone meanwhile."""
        id_of: dict[int, PointId] = {}
        for keys, ids in zip(ranked.keys, ranked.ids, strict=True):
            id_of.update(zip(keys.tolist(), ids, strict=True))
        batch = store.fetch([id_of[int(key)] for key in wanted.tolist()])
        fetched_keys = point_keys(batch.ids, batch.namespaces, pinecone_to_qdrant=ranked.pinecone_to_qdrant)
        row_of = {int(key): row for row, key in enumerate(fetched_keys.tolist())}
        prepared = prepare(batch.vectors, self.distance)
        out = np.full((len(wanted), self.queries.shape[1]), np.nan, dtype=np.float32)
        for i, key in enumerate(wanted.tolist()):
            if key in row_of:
                out[i] = prepared[row_of[key]]
        return out  # NaN never counts as a hit


@dataclass(frozen=True, slots=True)
class QualityData:
    """Per-query arrays behind the quality checks (and the report's plots)."""

    recall_source: F64
    recall_target: F64
    overlap: F64
    noise: F64
    labels: tuple[PointId, ...]


def quality_checks(data: QualityData, thresholds: Thresholds, k: int, details: dict[str, Any]) -> list[Check]:
    """The four quality checks from per-query arrays; ``details`` (truth ids, results) go on the target check."""
    rs, rt = float(data.recall_source.mean()), float(data.recall_target.mean())
    overlap, noise = float(data.overlap.mean()), float(data.noise.mean())
    required_recall = max(thresholds.recall_target_min, rs - thresholds.recall_max_drop)
    required_overlap = min(thresholds.overlap_min, noise - thresholds.noise_slack)
    n = len(data.labels)
    recall_ok = rt >= required_recall - 1e-12
    overlap_ok = overlap >= required_overlap - 1e-12
    return [
        Check(
            "quality.recall_source",
            Status.PASS if rs >= thresholds.recall_target_min else Status.WARN,
            round(rs, 4),
            thresholds.recall_target_min,
            f"source recall@{k} {rs:.3f} against exact ground truth over {n} queries"
            + ("" if rs >= thresholds.recall_target_min else " — the source itself is below the recall gate"),
            {"per_query": _rounded(data.recall_source), **_distribution(data.recall_source)},
        ),
        Check(
            "quality.recall_target",
            Status.PASS if recall_ok else Status.FAIL,
            round(rt, 4),
            round(required_recall, 4),
            f"target recall@{k} {rt:.3f} (needs ≥ {required_recall:.3f}: ≥ {thresholds.recall_target_min:g} and at "
            f"most {thresholds.recall_max_drop:g} below the source's {rs:.3f})",
            {"per_query": _rounded(data.recall_target), **_distribution(data.recall_target), **details},
        ),
        Check(
            "quality.overlap",
            Status.PASS if overlap_ok else Status.FAIL,
            round(overlap, 4),
            round(required_overlap, 4),
            f"overlap@{k} of target with source {overlap:.3f} (needs ≥ {required_overlap:.3f} = min(overlap_min "
            f"{thresholds.overlap_min:g}, noise floor {noise:.3f} − slack {thresholds.noise_slack:g}))",
            {"per_query": _rounded(data.overlap), **_distribution(data.overlap)},
        ),
        Check(
            "quality.noise_floor",
            Status.PASS if noise >= thresholds.overlap_min else Status.WARN,
            round(noise, 4),
            thresholds.overlap_min,
            f"the source agrees with itself on a re-run at overlap@{k} {noise:.3f}"
            + ("" if noise >= thresholds.overlap_min else " — its own results are unstable; the overlap gate relaxes"),
            {"per_query": _rounded(data.noise), **_distribution(data.noise)},
        ),
    ]


def worst_queries(
    data: QualityData, truth_ids: list[list[PointId]], target_ids: Sequence[Sequence[PointId]], limit: int
) -> list[dict[str, Any]]:
    """The ``limit`` queries with the lowest target recall (then overlap), with expected and returned ids."""
    order = np.lexsort((data.overlap, data.recall_target))[:limit]
    return [
        {
            "query": data.labels[q],
            "recall_target": round(float(data.recall_target[q]), 4),
            "recall_source": round(float(data.recall_source[q]), 4),
            "overlap": round(float(data.overlap[q]), 4),
            "expected": truth_ids[q],
            "target": list(target_ids[q]),
        }
        for q in order.tolist()
    ]


def skipped_quality(reason: str) -> list[Check]:
    """The four quality checks as SKIP with ``reason`` (no queries)."""
    return [Check(check_id, Status.SKIP, None, None, reason) for check_id in QUALITY_CHECK_IDS]


def _rounded(values: F64) -> list[float]:
    return [round(float(v), 4) for v in values]


def _distribution(values: F64) -> dict[str, float]:
    if len(values) == 0:
        return {}
    return {
        "min": round(float(values.min()), 4),
        "p05": round(float(np.quantile(values, 0.05)), 4),
        "median": round(float(np.median(values)), 4),
        "mean": round(float(values.mean()), 4),
    }
