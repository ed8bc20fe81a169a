"""Hostile targets: ``VectorStore`` wrappers that break one promise each, composed like ``FaultyStore``.

Each forwards to the store it wraps and lies in one way a broken engine, adapter or migration could:

- ``RepeatsTopResult``: every result list is its first id ``k`` times (results not de-duplicated);
- ``ShortResults``: result lists cut to their first ``keep`` ids (2 of 10 answers);
- ``GhostResults``: result lists of ids no store holds (records that no longer exist);
- ``DisplacedResults``: in chosen queries, the last results replaced by records far from every query
  (a recall or overlap of exactly known size); with ``on_repeat`` only when a query is asked again (a
  source that disagrees with itself: the noise floor);
- ``Rescaled``: every vector read back multiplied by ``factor`` (a target that rescaled its vectors);
- ``HidesFromFetch``: ``fetch`` leaves out ``ids`` that scans still return (a record that cannot be
  fetched back);
- ``ReportsSchema``: ``describe`` reports a schema with ``changes`` (index drift without building an index).

They judge nothing themselves: the tests hand them to the public verification API (``run_verification``,
``VerificationRun``, ``make_verifier``, ``recheck_parity``) and assert the exact failing check ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from harness.model import CollectionSchema, PointId, RecordBatch, SearchResult
from harness.records.filters import Filter
from harness.stores.base import Cursor, SearchParams, VectorStore

__all__ = [
    "DisplacedResults",
    "Forwarding",
    "GhostResults",
    "HidesFromFetch",
    "RepeatsTopResult",
    "ReportsSchema",
    "Rescaled",
    "ShortResults",
]

Row = tuple[tuple[PointId, ...], tuple[float, ...]]


class Forwarding:
    """A ``VectorStore`` that forwards every call to ``inner``; the hostile wrappers override one part."""

    def __init__(self, inner: VectorStore) -> None:
        self.inner = inner
        self.uri = inner.uri

    def describe(self) -> CollectionSchema:
        return self.inner.describe()

    def exists(self) -> bool:
        return self.inner.exists()

    def create(self, schema: CollectionSchema) -> None:
        self.inner.create(schema)

    def count(self) -> int:
        return self.inner.count()

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        return self.inner.scroll(batch_size=batch_size, cursor=cursor)

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        return self.inner.fetch(ids)

    def upsert(self, batch: RecordBatch) -> None:
        self.inner.upsert(batch)

    def delete(self, ids: Sequence[PointId]) -> None:
        self.inner.delete(ids)

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        return self.inner.search(queries, k, params)

    def search_filtered(
        self,
        queries: np.ndarray,
        k: int,
        where: Filter | None,
        *,
        namespace: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """Forwarded as it is: the wrappers lie in unfiltered searches only (``quality.filtered`` sees the truth)."""
        return self.inner.search_filtered(queries, k, where, namespace=namespace, params=params)

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        return self.inner.count_filtered(where, namespace=namespace)

    def optimize(self) -> None:
        self.inner.optimize()

    def close(self) -> None:
        self.inner.close()


class _RewritesResults(Forwarding):
    """Base of the wrappers that rewrite each query's result list (``rewrite(query index, row, query)``)."""

    def rewrite(self, q: int, ids: tuple[PointId, ...], scores: tuple[float, ...], query: np.ndarray, k: int) -> Row:
        raise NotImplementedError

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        result = self.inner.search(queries, k, params)
        rows = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        out = [
            self.rewrite(q, ids, scores, rows[q], k)
            for q, (ids, scores) in enumerate(zip(result.ids, result.scores, strict=True))
        ]
        return SearchResult(ids=tuple(r[0] for r in out), scores=tuple(r[1] for r in out))


class RepeatsTopResult(_RewritesResults):
    """Every result list is its top id ``k`` times over."""

    def rewrite(self, q: int, ids: tuple[PointId, ...], scores: tuple[float, ...], query: np.ndarray, k: int) -> Row:
        return (ids[:1] * k, scores[:1] * k) if ids else (ids, scores)


class ShortResults(_RewritesResults):
    """Result lists cut to their first ``keep`` ids."""

    def __init__(self, inner: VectorStore, keep: int) -> None:
        super().__init__(inner)
        self.keep = keep

    def rewrite(self, q: int, ids: tuple[PointId, ...], scores: tuple[float, ...], query: np.ndarray, k: int) -> Row:
        return ids[: self.keep], scores[: self.keep]


class GhostResults(_RewritesResults):
    """Every result id replaced by one of ``ghosts`` (ids neither store holds), scores kept."""

    def __init__(self, inner: VectorStore, ghosts: Sequence[PointId]) -> None:
        super().__init__(inner)
        self.ghosts = tuple(ghosts)

    def rewrite(self, q: int, ids: tuple[PointId, ...], scores: tuple[float, ...], query: np.ndarray, k: int) -> Row:
        return self.ghosts[: len(ids)], scores


class DisplacedResults(_RewritesResults):
    """In query ``q``, the last ``displaced(q)`` results replaced by ``decoys`` (records the store holds
    that are far from every query), so that query's recall and overlap drop by exactly that many / k.

    ``on_repeat``: only when the same query vector is asked again (the source's re-run for the noise floor).
    """

    def __init__(
        self,
        inner: VectorStore,
        displaced: Callable[[int], int],
        decoys: Sequence[PointId],
        *,
        on_repeat: bool = False,
    ) -> None:
        super().__init__(inner)
        self.displaced = displaced
        self.decoys = tuple(decoys)
        self.on_repeat = on_repeat
        self._seen: set[bytes] = set()

    def rewrite(self, q: int, ids: tuple[PointId, ...], scores: tuple[float, ...], query: np.ndarray, k: int) -> Row:
        key = query.tobytes()
        repeat = key in self._seen
        self._seen.add(key)
        if self.on_repeat and not repeat:
            return ids, scores
        n = min(self.displaced(q), len(ids))
        if n == 0:
            return ids, scores
        worst = scores[-1]
        return ids[: len(ids) - n] + self.decoys[:n], scores[: len(ids) - n] + (worst,) * n


class Rescaled(Forwarding):
    """Every vector read back (scroll, fetch) multiplied by ``factor``; searches as the inner store ranks."""

    def __init__(self, inner: VectorStore, factor: float) -> None:
        super().__init__(inner)
        self.factor = factor

    def _scaled(self, batch: RecordBatch) -> RecordBatch:
        if not len(batch):
            return batch
        return dataclasses.replace(batch, vectors=(batch.vectors * self.factor).astype(np.float32))

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        batch, cursor = self.inner.scroll(batch_size=batch_size, cursor=cursor)
        return self._scaled(batch), cursor

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        return self._scaled(self.inner.fetch(ids))


class HidesFromFetch(Forwarding):
    """``fetch`` leaves out ``ids`` (scans still return them): a record that cannot be fetched back."""

    def __init__(self, inner: VectorStore, ids: Iterable[PointId]) -> None:
        super().__init__(inner)
        self.hidden = set(ids)

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        return self.inner.fetch([pid for pid in ids if pid not in self.hidden])


class ReportsSchema(Forwarding):
    """``describe`` reports the inner schema with ``changes`` applied (e.g. ``hnsw=...``, ``quantization=...``)."""

    def __init__(self, inner: VectorStore, **changes: Any) -> None:
        super().__init__(inner)
        self.changes = changes

    def describe(self) -> CollectionSchema:
        return dataclasses.replace(self.inner.describe(), **self.changes)
