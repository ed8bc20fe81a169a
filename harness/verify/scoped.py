"""Searches asked the way an application asks them: in one namespace, under one filter, each store in
its own terms.

A ``Scope`` is (namespace, filter) as the *source's* applications write it. On the target of a Pinecone
→ Qdrant migration the same scope is the mapped one (``target_scope``): the namespace becomes the
filter ``__namespace__ == X`` (the mapping keeps each record's namespace there), and the filter goes
through the translator (``records.filters.for_qdrant_target``); any other target takes the scope as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.model import SearchResult
from harness.records import NAMESPACE_FIELD, RecordMapping
from harness.records.filters import And, Filter, Match, for_qdrant_target
from harness.stores.base import VectorStore
from harness.verify.latency import concat_results

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
SEARCH_CHUNK = 32  # queries per batched request when latency is not measured


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a query is asked: a namespace (None: all) and a metadata filter (None: none)."""

    namespace: str | None = None
    where: Filter | None = None

    @property
    def everything(self) -> bool:
        """True for the unscoped, unfiltered search (plain ``VectorStore.search``)."""
        return self.namespace is None and self.where is None


EVERYTHING = Scope()


def target_scope(scope: Scope, mapping: RecordMapping) -> Scope:
    """``scope`` as the target must be asked it (module docstring)."""
    if not mapping.pinecone_to_qdrant:
        return scope
    where = for_qdrant_target(scope.where)
    if scope.namespace is not None:
        in_namespace = Match(NAMESPACE_FIELD, scope.namespace)
        where = in_namespace if where is None else And((in_namespace, where))
    return Scope(None, where)


def scoped_search(
    store: VectorStore,
    queries: F32,
    k: int,
    scopes: Sequence[Scope] | None = None,
    *,
    timed: bool = False,
    timer: Callable[[], float] = time.perf_counter,
    advance: Callable[[int], None] | None = None,
) -> tuple[SearchResult, F64 | None]:
    """Each query's ``k`` nearest records within its scope (``scopes[q]``; None: every query unscoped),
    in query order. ``timed``: one query per request, with each request's latency in ms; otherwise a
    few queries per request. ``advance(n)`` after each request."""
    n = len(queries)
    groups: dict[Scope, list[int]] = {}
    for q in range(n):
        groups.setdefault(EVERYTHING if scopes is None else scopes[q], []).append(q)
    latencies = np.empty(n, dtype=np.float64) if timed else None
    parts: dict[int, SearchResult] = {}
    step = 1 if timed else SEARCH_CHUNK
    for scope, rows in groups.items():
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            block = queries[chunk]
            began = timer()
            if scope.everything:
                result = store.search(block, k)
            else:
                result = store.search_filtered(block, k, scope.where, namespace=scope.namespace)
            if latencies is not None:
                latencies[chunk[0]] = (timer() - began) * 1000.0
            for i, q in enumerate(chunk):
                parts[q] = SearchResult(
                    ids=(result.ids[i],),
                    scores=(result.scores[i],),
                    namespaces=None if result.namespaces is None else (result.namespaces[i],),
                )
            if advance is not None:
                advance(len(chunk))
    return concat_results([parts[q] for q in range(n)]), latencies
