"""Small exact pairs for the judges' tests: a clustered corpus, decoys far from every query, and query
vectors given by the test (never sampled from the source, so what a query is never depends on sampling).

Main records (ids 0..N-1) sit around +3·e0, the decoys (ids DECOY0..) around −3·e0, and the queries
around +3·e0: for cosine, dot and euclid alike a decoy is never among a query's true top k, so a result
list with j decoys in it has recall and overlap (k − j) / k exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import pytest

from harness.model import CollectionSchema, Distance, Payload, RecordBatch, Status, Verdict
from harness.stores.exact import ExactStore

DIM, N, DECOYS, QUERIES, K = 16, 300, 40, 20, 10
DECOY0 = 1000
DECOY_IDS = list(range(DECOY0, DECOY0 + DECOYS))


def corpus(seed: int = 3) -> tuple[list[int], npt.NDArray[np.float32], list[Payload]]:
    """(ids, vectors, payloads) of the main records and the decoys."""
    rng = np.random.default_rng(seed)
    main = rng.standard_normal((N, DIM))
    main[:, 0] += 3.0
    decoys = rng.standard_normal((DECOYS, DIM))
    decoys[:, 0] -= 3.0
    ids = list(range(N)) + DECOY_IDS
    payloads: list[Payload] = [{"doc": f"d{i}", "year": 2000 + i % 25, "ratio": i / 7} for i in ids]
    return ids, np.vstack([main, decoys]).astype(np.float32), payloads


def query_vectors(n: int = QUERIES, seed: int = 5) -> npt.NDArray[np.float32]:
    q = np.random.default_rng(seed).standard_normal((n, DIM))
    q[:, 0] += 3.0
    return q.astype(np.float32)


def failing(verdict: Verdict) -> set[str]:
    """Ids of the verdict's failing checks (and an assertion that nothing errored)."""
    errors = {c.id for c in verdict.checks if c.status is Status.ERROR}
    assert not errors, [verdict.check(cid).message for cid in errors]
    return {c.id for c in verdict.checks if c.status is Status.FAIL}


Pair = tuple[ExactStore, ExactStore]


@pytest.fixture
def exact_pair(request: pytest.FixtureRequest) -> Iterator[Callable[..., Pair]]:
    """``make(distance, edit=None)``: an exact source holding the corpus and an exact target holding the
    same records, or what ``edit(ids, vectors, payloads)`` makes of them. Dropped after the test."""
    made: list[ExactStore] = []

    def make(distance: Distance = Distance.COSINE, edit: Callable[..., None] | None = None) -> Pair:
        name = f"{request.node.name}-{len(made)}"
        source, target = ExactStore(f"judges-src-{name}"), ExactStore(f"judges-tgt-{name}")
        made.extend([source, target])
        ids, vectors, payloads = corpus()
        for store in (source, target):
            store.create(CollectionSchema(DIM, distance))
        source.upsert(RecordBatch.build(ids, vectors, payloads))
        t_ids, t_vectors, t_payloads = list(ids), vectors.copy(), [dict(p) for p in payloads]
        if edit is not None:
            edit(t_ids, t_vectors, t_payloads)
        target.upsert(RecordBatch.build(t_ids, t_vectors, t_payloads))
        return source, target

    yield make
    for store in made:
        store.drop()
