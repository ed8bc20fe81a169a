"""Exact nearest-neighbour kernels in numpy: one implementation for the exact store and ground truth.

Scores follow Qdrant's semantics: cosine = dot of normalised vectors, dot = raw inner product (both
higher is better); euclid = plain L2 distance, manhattan = L1 distance (both lower is better).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from harness.model import Distance

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def normalise(vectors: F32) -> F32:
    """Rows scaled to unit L2 norm (zero rows stay zero), as Qdrant stores cosine vectors."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


def prepare(vectors: F32, distance: Distance) -> F32:
    """The form a store keeps for ``distance`` (normalised for cosine, unchanged otherwise)."""
    return normalise(vectors) if distance is Distance.COSINE else vectors


def block_scores(queries: F32, block: F32, distance: Distance, block_sq_norms: F32 | None = None) -> F32:
    """Score matrix (queries × block) in native semantics; ``queries`` already prepared for ``distance``."""
    if distance in (Distance.COSINE, Distance.DOT):
        return queries @ block.T
    if distance is Distance.EUCLID:
        sq = block_sq_norms if block_sq_norms is not None else np.einsum("ij,ij->i", block, block)
        q_sq = np.einsum("ij,ij->i", queries, queries)
        d2 = q_sq[:, None] - 2.0 * (queries @ block.T) + sq[None, :]
        np.maximum(d2, 0.0, out=d2)
        return np.sqrt(d2, out=d2)
    # Manhattan: no matmul form; chunk queries to bound the broadcast's memory.
    out = np.empty((queries.shape[0], block.shape[0]), dtype=np.float32)
    step = max(1, 4_000_000 // max(1, block.size))
    for s in range(0, queries.shape[0], step):
        out[s : s + step] = np.abs(queries[s : s + step, None, :] - block[None, :, :]).sum(axis=2)
    return out


class RunningTopK:
    """Keeps the best ``k`` (score, row) per query over blocks of candidates, in bounded memory."""

    def __init__(self, n_queries: int, k: int, higher_is_better: bool) -> None:
        self.k = k
        self.sign = -1.0 if higher_is_better else 1.0  # internally smaller key = better
        self.keys = np.full((n_queries, 0), np.inf, dtype=np.float32)
        self.rows = np.zeros((n_queries, 0), dtype=np.int64)

    def push(self, scores: F32, row_offset: int) -> None:
        """Merge a (queries × block) score matrix whose first column is row ``row_offset``."""
        keys = self.sign * scores
        n_block = keys.shape[1]
        if n_block > self.k:
            part = np.argpartition(keys, self.k - 1, axis=1)[:, : self.k]
            keys = np.take_along_axis(keys, part, axis=1)
            rows = part.astype(np.int64) + row_offset
        else:
            rows = np.broadcast_to(np.arange(n_block, dtype=np.int64) + row_offset, keys.shape)
        all_keys = np.concatenate([self.keys, keys.astype(np.float32, copy=False)], axis=1)
        all_rows = np.concatenate([self.rows, rows], axis=1)
        if all_keys.shape[1] > self.k:
            part = np.argpartition(all_keys, self.k - 1, axis=1)[:, : self.k]
            all_keys = np.take_along_axis(all_keys, part, axis=1)
            all_rows = np.take_along_axis(all_rows, part, axis=1)
        self.keys, self.rows = all_keys, all_rows

    def result(self) -> tuple[I64, F32]:
        """(rows, scores), each (queries × ≤k), best first; ties broken by lower row number."""
        order = np.lexsort((self.rows, self.keys), axis=1) if self.keys.size else self.keys.astype(np.int64)
        rows = np.take_along_axis(self.rows, order, axis=1)
        keys = np.take_along_axis(self.keys, order, axis=1)
        return rows, (self.sign * keys).astype(np.float32)


def exact_top_k(
    queries: F32,
    vectors: F32,
    k: int,
    distance: Distance,
    block_rows: int = 65_536,
    valid: npt.NDArray[np.bool_] | None = None,
) -> tuple[I64, F32]:
    """Exact top-``k`` rows of ``vectors`` (already prepared) for each query: (rows, scores), best first.

    ``valid`` masks rows that must never be returned (deleted slots). Memory is bounded by
    ``block_rows`` × number of queries, whatever the size of ``vectors``.
    """
    q = prepare(np.ascontiguousarray(queries, dtype=np.float32), distance)
    top = RunningTopK(q.shape[0], k, distance.higher_is_better)
    worst = -np.inf if distance.higher_is_better else np.inf
    for start in range(0, vectors.shape[0], block_rows):
        block = vectors[start : start + block_rows]
        scores = block_scores(q, block, distance)
        if valid is not None:
            mask = valid[start : start + block.shape[0]]
            if not mask.all():
                scores[:, ~mask] = worst
        top.push(scores, start)
    rows, scores = top.result()
    if valid is not None and rows.size:
        keep = np.isfinite(scores)
        if not keep.all():
            # Fewer valid rows than k: the masked slots surface with infinite scores; drop them.
            return rows[:, : int(keep.sum(axis=1).min())], scores[:, : int(keep.sum(axis=1).min())]
    return rows, scores
