"""Search quality's measurements: recall@k against exact ground truth, overlap@k with the source, a noise floor.

How they are judged is ``verify/policy.py``'s business; this module measures.

- Queries are sampled from the source while it is scanned for parity (seeded reservoir sampling), or
  given by the user (a query file: ``verify/queries.py``). A sampled query is scored leave-one-out: its
  own record is left out of its ground truth and out of every store's results (each store is asked for
  k + 1), or every sampled query would find itself at rank 1 and overstate recall.
- A query asked in one namespace (``QuerySet.namespaces``) has its ground truth over that namespace's
  records only.
- Ground truth is exact: blocked matmul over the scanned source vectors with a running top-k, so the
  collection never has to fit in memory. The scan spills the vectors to a temporary file
  (``VectorSpill``) because a sampled query is only known once the scan is over.
- recall@k counts ties as ann-benchmarks does: a returned record is a hit when its true distance to the
  query is within ε of the k-th true distance (ε = ``tie_epsilon`` × max(1, |k-th|)). True distances are
  recomputed from the scanned vectors, or from a fetch for a record the source does not hold.
- overlap@k is |target top-k ∩ source top-k| / k, source ids mapped into the target's id space first.
- The noise floor is the overlap of the source with itself on a re-run (an exact source gives 1.0).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.model import Distance, PointId, SearchResult
from harness.stores.base import VectorStore
from harness.vectormath import block_scores, prepare
from harness.verify.parity import DigestTable, point_keys
from harness.verify.queries import QuerySet

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
U64 = npt.NDArray[np.uint64]

GROUND_TRUTH_BLOCK_ROWS = 32_768  # × 200 queries: ~26 MB of scores per block
_CHUNK = 256  # columns judged together by their minimum when looking for top-k candidates
_DENSE_COLUMNS = 4096  # columns partitioned at once while a query holds fewer than k rows


# -- the query sample ---------------------------------------------------------------------------------
class QueryReservoir:
    """A seeded uniform sample of ``size`` records of a scan (Algorithm R, vectorised per batch).

    Each sampled query remembers the scan position (and namespace) of the record it was taken from, so
    it can be scored leave-one-out.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seen = 0
        self._rng = np.random.default_rng([seed, 7])
        self._vectors: F32 | None = None
        self._labels: list[PointId] = []
        self._positions: list[int] = []
        self._namespaces: list[str | None] = []

    def add(
        self,
        vectors: F32,
        ids: Sequence[PointId],
        *,
        first_position: int | None = None,
        namespaces: Sequence[str] | None = None,
    ) -> None:
        """Offer one batch (in scan order) whose first row has scan position ``first_position`` (default:
        the rows offered so far). A vector holding NaN or ±Inf is never a query (it is ``parity.vectors``'
        finding)."""
        first = self.seen if first_position is None else first_position
        rows = np.arange(len(ids))
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            rows = np.flatnonzero(finite)
            vectors = vectors[rows]
        n = len(rows)
        if self.size == 0 or n == 0:
            self.seen += n
            return
        if self._vectors is None:
            self._vectors = np.empty((self.size, vectors.shape[1]), dtype=np.float32)

        def put(slot: int | None, row: int) -> None:
            source_row = int(rows[row])
            entry = (ids[source_row], first + source_row, None if namespaces is None else namespaces[source_row])
            if slot is None:
                self._labels.append(entry[0])
                self._positions.append(entry[1])
                self._namespaces.append(entry[2])
            else:
                self._labels[slot], self._positions[slot], self._namespaces[slot] = entry

        fill = max(0, min(n, self.size - self.seen))
        if fill:
            assert self._vectors is not None
            self._vectors[self.seen : self.seen + fill] = vectors[:fill]
            for row in range(fill):
                put(None, row)
        if fill < n:
            # Row i (overall index g) replaces slot j ~ U[0, g] when j < size; later rows win, as in Algorithm R.
            overall = np.arange(self.seen + fill, self.seen + n)
            slots = self._rng.integers(0, overall + 1)
            replacing = np.flatnonzero(slots < self.size)
            for row, slot in zip((replacing + fill).tolist(), slots[replacing].tolist(), strict=True):
                self._vectors[slot] = vectors[row]
                put(slot, row)
        self.seen += n

    def result(self) -> QuerySet:
        """The sample (fewer than ``size`` queries when the scan had fewer records), scored leave-one-out."""
        count = min(self.size, self.seen)
        vectors = self._vectors[:count].copy() if self._vectors is not None else np.zeros((0, 0), np.float32)
        namespaces = tuple(self._namespaces[:count])
        return QuerySet(
            vectors=vectors,
            labels=tuple(self._labels[:count]),
            sampled=True,
            namespaces=namespaces if any(ns is not None for ns in namespaces) else None,
            own_positions=np.asarray(self._positions[:count], dtype=np.int64),
            origin="sampled from the source",
        )


# -- the scanned vectors, spilled ---------------------------------------------------------------------
class VectorSpill:
    """The source's vectors in scan order in an anonymous temporary file (float32, row-major).

    Memory stays bounded by one block; the file holds rows × dimension × 4 bytes and vanishes on close.
    """

    def __init__(self, directory: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - lives as long as the spill
        self.rows = 0
        self.dimension = 0
        self._codes: list[I32] = []
        self._coded = 0

    def append(self, vectors: F32, codes: I32 | None = None) -> None:
        """Write a batch of vectors after the previous ones, with each row's namespace code when the
        store partitions its records (4 bytes a row, kept in memory)."""
        block = np.ascontiguousarray(vectors, dtype=np.float32)
        if block.shape[0] == 0:
            return
        self.dimension = block.shape[1]
        self._file.write(block.tobytes())
        if codes is not None:
            if len(codes) != block.shape[0] or self.uncoded_rows:
                raise ValueError("every spilled row needs a namespace code once one has one (code_earlier_rows)")
            self._codes.append(np.asarray(codes, np.int32))
            self._coded += block.shape[0]
        self.rows += block.shape[0]

    @property
    def uncoded_rows(self) -> int:
        """Rows spilled without a namespace code."""
        return self.rows - self._coded

    def code_earlier_rows(self, code: int) -> None:
        """Give every row spilled without a namespace code so far ``code`` (records outside any namespace
        live in Pinecone's default one)."""
        if self.uncoded_rows:
            self._codes.insert(0, np.full(self.uncoded_rows, code, np.int32))
            self._coded = self.rows

    @property
    def codes(self) -> I32 | None:
        """Every row's namespace code in scan order, or None when no row carried one."""
        if not self._codes:
            return None
        if len(self._codes) > 1:
            self._codes = [np.concatenate(self._codes)]
        return self._codes[0]

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

    ``scopes[q]``: the namespace code query ``q`` is asked in (-1: every row), matched against the rows'
    codes given with each block. ``own[q]``: the scan position of query ``q``'s own record (-1: none),
    left out (leave-one-out). Rows left out get the key +inf: a query whose scope holds fewer than k
    other rows keeps fewer than k results (``found``).
    """

    def __init__(
        self, queries: F32, k: int, distance: Distance, *, scopes: I64 | None = None, own: I64 | None = None
    ) -> None:
        self.distance = distance
        self.k = k
        self.scopes = None if scopes is None or not (np.asarray(scopes) >= 0).any() else np.asarray(scopes, np.int64)
        self.own = None if own is None else np.asarray(own, dtype=np.int64)
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

    def push(self, block: F32, first_row: int, codes: I32 | None = None) -> None:
        """Merge a block of vectors whose first row has scan position ``first_row`` (``codes``: each row's
        namespace code, needed when queries are scoped)."""
        if block.shape[0] == 0 or self.queries.shape[0] == 0:
            return
        keys = self._block_keys(block)
        self._leave_out(keys, first_row, codes)
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

    def _leave_out(self, keys: F32, first_row: int, codes: I32 | None) -> None:
        """+inf for rows outside a query's namespace and for the query's own record."""
        if self.scopes is not None:
            scoped = np.flatnonzero(self.scopes >= 0)
            block_codes = np.zeros(keys.shape[1], np.int32) if codes is None else codes
            outside = block_codes[None, :] != self.scopes[scoped][:, None]
            part = keys[scoped]
            part[outside] = np.inf
            keys[scoped] = part
        if self.own is not None:
            local = self.own - first_row
            hit = np.flatnonzero((local >= 0) & (local < keys.shape[1]))
            keys[hit, local[hit]] = np.inf

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

    @property
    def found(self) -> I64:
        """Per query, how many of its ``k`` results are real rows (fewer when its scope is small)."""
        return np.isfinite(self.keys).sum(axis=1).astype(np.int64)

    def result(self) -> tuple[I64, F32]:
        """(rows, native scores), each (queries × min(k, rows seen)), best first; entries past a query's
        ``found`` are placeholders (their score is ±inf or nan)."""
        if self.distance in (Distance.COSINE, Distance.DOT):
            scores = -self.keys
        elif self.distance is Distance.EUCLID:
            q_sq = np.einsum("ij,ij->i", self.queries, self.queries)[:, None]
            scores = np.sqrt(np.maximum(self.keys + q_sq, 0.0))
        else:
            scores = self.keys
        return self.rows, scores.astype(np.float32)


def exact_ground_truth(
    queries: F32,
    spill: VectorSpill,
    k: int,
    distance: Distance,
    *,
    scopes: I64 | None = None,
    own: I64 | None = None,
    advance: Callable[[int], None] | None = None,
) -> tuple[I64, F32, I64]:
    """Exact top-``k`` scan positions and scores of each query over the spilled source vectors, and how
    many of them each query really has (``GroundTruth``: ``scopes``, ``own``). ``advance(rows)`` is called
    after each block."""
    truth = GroundTruth(queries, k, distance, scopes=scopes, own=own)
    codes = spill.codes
    for first_row, block in spill.blocks():
        truth.push(block, first_row, None if codes is None else codes[first_row : first_row + len(block)])
        if advance is not None:
            advance(len(block))
    rows, scores = truth.result()
    return rows, scores, truth.found


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
    def of(
        cls,
        result: SearchResult,
        k: int,
        *,
        pinecone_to_qdrant: bool = False,
        exclude: Sequence[int | None] | None = None,
    ) -> Ranked:
        """Keep the first ``k`` distinct results of each query, leaving out the key ``exclude[q]`` (a
        sampled query's own record: leave-one-out)."""
        keys, ids = [], []
        for q, row in enumerate(result.ids):
            namespaces = result.namespaces[q] if result.namespaces is not None else None
            row_keys = point_keys(row, namespaces, pinecone_to_qdrant=pinecone_to_qdrant)
            _, first = np.unique(row_keys, return_index=True)
            keep = np.sort(first)
            own = exclude[q] if exclude is not None else None
            if own is not None:
                keep = keep[row_keys[keep] != np.uint64(own)]
            keep = keep[:k]
            keys.append(row_keys[keep])
            ids.append(tuple(row[i] for i in keep.tolist()))
        return cls(tuple(keys), tuple(ids), pinecone_to_qdrant)


def overlap_at_k(a: Ranked, b: Ranked, k: int | I64) -> F64:
    """Per query |a ∩ b| / k (k capped by what either side returned; 1 when both returned nothing).
    ``k`` may differ per query (an array)."""
    ks = np.broadcast_to(np.asarray(k, dtype=np.int64), (len(a.keys),))
    out = np.empty(len(a.keys), dtype=np.float64)
    for q, (x, y) in enumerate(zip(a.keys, b.keys, strict=True)):
        if len(x) == 0 and len(y) == 0:
            out[q] = 1.0
            continue
        denom = max(1, min(int(ks[q]), max(len(x), len(y))))
        out[q] = len(np.intersect1d(x, y, assume_unique=True)) / denom
    return out


@dataclass(frozen=True, slots=True)
class RecallJudge:
    """Scores result lists against ground truth with ann-benchmarks' tie rule."""

    queries: F32  # prepared for the source's distance
    kth_scores: F32  # per query, the true score of its k-th (``k_eff[q]``-th) neighbour
    k_eff: I64  # per query, the neighbours it is judged on
    distance: Distance
    epsilon: float
    source_table: DigestTable
    spill: VectorSpill

    def recall(self, ranked: Ranked, store: VectorStore) -> F64:
        """Per query fraction of its ``k_eff`` results within ε of the k-th true score.

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
        hits = np.bincount(owner, weights=hit.astype(np.float64), minlength=nq)
        return np.minimum(1.0, hits / np.maximum(1, self.k_eff))

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
