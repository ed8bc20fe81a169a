"""``quality.hybrid``: when the source has sparse vectors, run the query set as hybrid queries (dense +
sparse) on both sides and compare what they return — by overlap, never by score.

Pinecone answers a hybrid query with one blended score on a dotproduct index (dense dot + sparse dot);
Qdrant runs a dense and a sparse prefetch and fuses the two rankings (RRF by default, or DBSF), whose
rank-based scores mean something else (shared/reference/qdrant-notes.md §3.5). So:

- both sides fuse the same way (Qdrant → Qdrant): overlap@k of the target's hybrid results with the
  source's; below ``overlap_min`` it warns — the dense part is judged by the other quality checks. RRF
  scores tie often (equal ranks in the two prefetches) and each store breaks ties its own way, so even a
  faithful copy can stay a little below 1;
- Pinecone → Qdrant: the rankings are expected to differ; the check reports the overlap with the target's
  RRF and with its DBSF fusion (DBSF, a sum of normalised scores, is the closer kin of Pinecone's blend),
  passes when RRF overlap reaches ``overlap_min`` and warns otherwise. It never fails: how much the
  ranking change matters is for relevance judgments to say, not for the harness.

Each query's sparse part: the sampled record's own sparse vector (fetched from the source by id), or the
``sparse`` part of a query file when the query set carries one. No check at all when the source has no
sparse vectors, so dense verdicts are unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.model import Check, CollectionSchema, SearchResult, SparseColumn, Status
from harness.records import RecordMapping
from harness.stores.base import HybridSearch, SearchParams, VectorStore
from harness.verify.latency import concat_results
from harness.verify.quality import QuerySet, Ranked, overlap_at_k
from harness.verify.thresholds import Thresholds

__all__ = ["HYBRID_CHECK_ID", "hybrid_check", "query_sparse_parts"]

HYBRID_CHECK_ID = "quality.hybrid"
CHUNK = 32  # hybrid queries per request batch


def query_sparse_parts(source: VectorStore, queries: QuerySet, sparse_name: str) -> SparseColumn:
    """Each query's sparse part: the query set's own (a query file's ``sparse``), or for sampled queries
    the sampled record's sparse vector ``sparse_name`` fetched from ``source`` (none: no entries)."""
    given = getattr(queries, "sparse", None)
    if isinstance(given, SparseColumn):
        return given
    if not queries.sampled:
        return SparseColumn.empty(len(queries))
    fetched = source.fetch(list(dict.fromkeys(queries.labels)))
    column = fetched.sparse.get(sparse_name)
    rows: dict[Any, tuple[list[int], list[float]] | None] = {}
    if column is not None:
        for pid, row in zip(fetched.ids, column.rows(), strict=True):
            rows.setdefault(pid, row)  # the same id in two namespaces: its first record
    return SparseColumn.from_rows(rows.get(label) for label in queries.labels)


def _hybrid(
    store: HybridSearch, queries: QuerySet, sparse: SparseColumn, k: int, name: str, params: SearchParams | None
) -> SearchResult:
    parts = [
        store.hybrid_search(
            queries.vectors[i : i + CHUNK], sparse.slice(i, i + CHUNK), k, sparse_name=name, params=params
        )
        for i in range(0, len(queries), CHUNK)
    ]
    return concat_results(parts)


def _skip(reason: str) -> Check:
    return Check(HYBRID_CHECK_ID, Status.SKIP, None, None, reason)


def hybrid_check(
    source: VectorStore,
    target: VectorStore,
    source_schema: CollectionSchema,
    target_schema: CollectionSchema,
    queries: QuerySet,
    k: int,
    thresholds: Thresholds,
    mapping: RecordMapping,
) -> Check | None:
    """``quality.hybrid`` (see the module docstring); None when the source has no sparse vectors."""
    names = sorted(source_schema.sparse_vectors)
    if not names:
        return None
    if source_schema.dimension == 0:
        return _skip("the source has no default dense vector to pair with its sparse vectors")
    if len(queries) == 0:
        return _skip("no queries to run as hybrid queries")
    if not isinstance(source, HybridSearch) or not isinstance(target, HybridSearch):
        return _skip("a store here cannot answer hybrid queries")
    source_name = names[0]
    target_name = mapping.target_sparse_name(source_name)
    if target_name not in target_schema.sparse_vectors:
        return Check(
            HYBRID_CHECK_ID,
            Status.FAIL,
            None,
            None,
            f"the target has no sparse vector {target_name!r}: the source's hybrid queries cannot run on it",
        )
    sparse = query_sparse_parts(source, queries, source_name)
    if sparse.nnz == 0:
        return _skip("no query has a sparse part (the sampled records hold no sparse values)")
    blended = source_schema.backend == "pinecone"
    same_semantics = blended == (target_schema.backend == "pinecone")
    source_ranked = Ranked.of(
        _hybrid(source, queries, sparse, k, source_name, None), k, pinecone_to_qdrant=mapping.pinecone_to_qdrant
    )
    overlaps: dict[str, float] = {}
    per_query = np.zeros(len(queries))
    for fusion in ("rrf",) if same_semantics else ("rrf", "dbsf"):
        params = None if target_schema.backend == "pinecone" else {"fusion": fusion}
        target_ranked = Ranked.of(_hybrid(target, queries, sparse, k, target_name, params), k)
        overlap = overlap_at_k(target_ranked, source_ranked, k)
        overlaps[fusion] = float(overlap.mean())
        if fusion == "rrf":
            per_query = overlap
    observed = overlaps["rrf"]
    worst = np.argsort(per_query, kind="stable")[: thresholds.worst_queries].tolist()
    details: dict[str, Any] = {
        "k": k,
        "queries": len(queries),
        "queries_with_sparse": int((sparse.row_lengths() > 0).sum()),
        "source": "one blended score (Pinecone)" if blended else "dense + sparse prefetch fused by RRF",
        "target": "one blended score (Pinecone)"
        if target_schema.backend == "pinecone"
        else "dense + sparse prefetch fused by RRF",
        "overlap_by_fusion": overlaps,
        "overlap_min": thresholds.overlap_min,
        "sparse_vectors": {"source": source_name, "target": target_name},
        "worst_queries": [{"query": queries.labels[q], "overlap": float(per_query[q])} for q in worst],
    }
    ok = observed >= thresholds.overlap_min
    if same_semantics:
        message = (
            f"hybrid overlap@{k} {observed:.3f} of the target with the source over {len(queries)} queries "
            f"({'≥' if ok else '<'} {thresholds.overlap_min}); both sides fuse dense and sparse rankings the same way"
        )
    else:
        message = (
            f"hybrid overlap@{k} {observed:.3f} (RRF) / {overlaps['dbsf']:.3f} (DBSF) of the target with the source "
            f"over {len(queries)} queries: Pinecone blends dense and sparse into one score, Qdrant fuses two "
            "rankings, so hybrid rankings are expected to differ (compared by overlap, never by score)"
        )
    return Check(
        HYBRID_CHECK_ID, Status.PASS if ok else Status.WARN, observed, thresholds.overlap_min, message, details
    )
