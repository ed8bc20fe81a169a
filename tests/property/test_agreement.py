"""The exact store and Qdrant Edge, driven in lock-step, agree on every observable result.

Hypothesis picks the distance, then interleaves upserts (repeated ids inside a batch included), deletes,
counts, fetches, full scrolls with varying page sizes and exact searches. Ids mix non-negative integers
and UUID strings, so Qdrant's id order (integers first) is exercised too.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from harness.model import CollectionSchema, Distance, PointId, RecordBatch, SearchResult
from harness.stores import VectorStore, iter_batches, open_store

DIMENSION = 4
TOLERANCE = 1e-4
ID_POOL: list[PointId] = [0, 1, 2, 7, 42, 2**40, *(str(uuid.UUID(int=(i + 1) * 0x1234567890ABCDEF)) for i in range(6))]

ids_st = st.sampled_from(ID_POOL)
# Coordinates in ±[0.5, 5.5]: never a zero vector (cosine of zero is undefined), ties still possible.
vector_st = st.lists(st.integers(-5, 5).map(lambda v: v + 0.5), min_size=DIMENSION, max_size=DIMENSION)
payload_st = st.fixed_dictionaries({"n": st.integers(-1000, 1000), "tag": st.sampled_from(["a", "b", "c"])})


def _same_neighbours(got: SearchResult, want: SearchResult) -> None:
    """Equal scores, and equal ids wherever no tie at the k-th score makes the choice arbitrary."""
    for got_ids, got_scores, want_ids, want_scores in zip(got.ids, got.scores, want.ids, want.scores, strict=True):
        assert len(got_ids) == len(want_ids)
        np.testing.assert_allclose(got_scores, want_scores, rtol=TOLERANCE, atol=TOLERANCE)
        if not want_scores:
            continue
        boundary = want_scores[-1]
        clear_want = {i for i, s in zip(want_ids, want_scores, strict=True) if abs(s - boundary) > TOLERANCE}
        clear_got = {i for i, s in zip(got_ids, got_scores, strict=True) if abs(s - boundary) > TOLERANCE}
        assert clear_got == clear_want


class ExactAgreesWithEdge(RuleBasedStateMachine):
    """Lock-step machine: ``self.exact`` is the oracle, ``self.edge`` the real engine."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="ragmig-agreement-"))
        self.exact: VectorStore | None = None
        self.edge: VectorStore | None = None
        self.distance = Distance.COSINE

    @initialize(distance=st.sampled_from([Distance.COSINE, Distance.DOT, Distance.EUCLID]))
    def create_both(self, distance: Distance) -> None:
        self.distance = distance
        schema = CollectionSchema(dimension=DIMENSION, distance=distance)
        self.exact = open_store(f"exact://agreement-{uuid.uuid4().hex}")
        self.edge = open_store(f"qdrant-edge://{self.directory / 'shard'}")
        self.exact.create(schema)
        self.edge.create(schema)

    def _both(self) -> tuple[VectorStore, VectorStore]:
        assert self.exact is not None and self.edge is not None
        return self.exact, self.edge

    @rule(records=st.lists(st.tuples(ids_st, vector_st, payload_st), min_size=1, max_size=8))
    def upsert(self, records: list[tuple[PointId, list[float], dict[str, Any]]]) -> None:
        batch = RecordBatch.build([r[0] for r in records], [r[1] for r in records], [r[2] for r in records])
        for store in self._both():
            store.upsert(batch)

    @rule(ids=st.lists(ids_st, max_size=4))
    def delete(self, ids: list[PointId]) -> None:
        for store in self._both():
            store.delete(ids)

    @rule()
    def optimize(self) -> None:
        self._both()[1].optimize()

    # Distinct ids: whether a repeated id comes back once or twice is not part of the contract.
    @rule(ids=st.lists(ids_st, min_size=1, max_size=5, unique=True))
    def fetch_agrees(self, ids: list[PointId]) -> None:
        exact, edge = self._both()
        want, got = exact.fetch(ids), edge.fetch(ids)
        assert got.ids == want.ids
        np.testing.assert_allclose(got.vectors, want.vectors, rtol=1e-6, atol=1e-6)
        assert got.payloads == want.payloads

    @rule(batch_size=st.integers(1, 12))
    def scroll_agrees(self, batch_size: int) -> None:
        exact, edge = self._both()
        want = [b for b in iter_batches(exact, batch_size=batch_size)]
        got = [b for b in iter_batches(edge, batch_size=batch_size)]
        assert [pid for b in got for pid in b.ids] == [pid for b in want for pid in b.ids]
        assert all(len(b) <= batch_size for b in got)
        if want:
            got_all, want_all = RecordBatch.concat(got), RecordBatch.concat(want)
            np.testing.assert_allclose(got_all.vectors, want_all.vectors, rtol=1e-6, atol=1e-6)
            assert got_all.payloads == want_all.payloads

    @rule(query=vector_st, k=st.integers(1, 6))
    def exact_search_agrees(self, query: list[float], k: int) -> None:
        exact, edge = self._both()
        q = np.asarray([query], dtype=np.float32)
        _same_neighbours(edge.search(q, k, {"exact": True}), exact.search(q, k))

    @invariant()
    def counts_agree(self) -> None:
        if self.exact is not None and self.edge is not None:
            assert self.edge.count() == self.exact.count()

    def teardown(self) -> None:
        if self.edge is not None:
            self.edge.close()
        if self.exact is not None:
            self.exact.drop()  # type: ignore[attr-defined]
        shutil.rmtree(self.directory, ignore_errors=True)


ExactAgreesWithEdge.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
test_exact_agrees_with_edge = ExactAgreesWithEdge.TestCase
