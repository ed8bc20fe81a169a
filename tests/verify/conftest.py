"""Stores for the verification tests, built independently: an exact source and Qdrant Edge targets.

The 20,000-point corpus and its stores are session-scoped. Edge targets that differ from the source
in one planted way are copies of one base shard directory (copying a closed shard is how Qdrant Edge
clones a collection), so each costs a directory copy rather than 20,000 upserts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.datasets import synthetic_corpus
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores import open_store
from harness.stores.base import VectorStore
from harness.stores.exact import ExactStore
from harness.stores.qdrant_edge import copy_shard

N = 20_000
DIM = 64
SEED = 11


@pytest.fixture(scope="session")
def corpus() -> list[RecordBatch]:
    """20,000 synthetic RAG chunks (int ids 0..N-1, payloads with ints, strings and tags)."""
    return list(synthetic_corpus(N, DIM, seed=SEED, batch_size=2000))


def _exact(name: str, distance: Distance, corpus: list[RecordBatch]) -> ExactStore:
    store = open_store(f"exact://{name}")
    assert isinstance(store, ExactStore)
    store.create(CollectionSchema(DIM, distance))
    for batch in corpus:
        store.upsert(batch)
    return store


@pytest.fixture(scope="session")
def exact_cosine(corpus: list[RecordBatch]) -> Iterator[ExactStore]:
    """The source: an exact cosine store holding the corpus."""
    store = _exact("verify-source-cosine", Distance.COSINE, corpus)
    yield store
    store.drop()


@pytest.fixture(scope="session")
def exact_dot(corpus: list[RecordBatch]) -> Iterator[ExactStore]:
    """A source that keeps the corpus's raw (unnormalised) vectors: exact, dot product."""
    store = _exact("verify-source-dot", Distance.DOT, corpus)
    yield store
    store.drop()


def build_edge(directory: Path, batches: list[RecordBatch], options: str = "", optimize: bool = False) -> Path:
    """A closed Qdrant Edge shard at ``directory`` holding ``batches`` (cosine unless ``options`` say)."""
    store = open_store(f"qdrant-edge://{directory}{options}")
    store.create(CollectionSchema(DIM, Distance.COSINE))
    for batch in batches:
        store.upsert(batch)
    if optimize:
        store.optimize()
    store.close()
    return directory


@pytest.fixture(scope="session")
def edge_base(tmp_path_factory: pytest.TempPathFactory, corpus: list[RecordBatch]) -> Path:
    """A closed Edge shard (cosine, Qdrant's default HNSW settings) holding exactly the corpus."""
    return build_edge(tmp_path_factory.mktemp("edge") / "base", corpus)


@pytest.fixture
def edge_copy(tmp_path: Path, edge_base: Path) -> Iterator[Callable[[str], VectorStore]]:
    """Opens a fresh copy of the base shard under a name; closes every copy after the test."""
    opened: list[VectorStore] = []

    def copy(name: str) -> VectorStore:
        directory = tmp_path / name
        copy_shard(edge_base, directory)
        store = open_store(f"qdrant-edge://{directory}")
        opened.append(store)
        return store

    yield copy
    for store in opened:
        store.close()


@pytest.fixture(scope="session")
def weak_edge(tmp_path_factory: pytest.TempPathFactory, corpus: list[RecordBatch]) -> Iterator[VectorStore]:
    """The corpus on an Edge shard with a weak graph really in use: m=4, ef_construct=8, full_scan_threshold=1."""
    directory = build_edge(
        tmp_path_factory.mktemp("edge") / "weak", corpus, "?m=4&ef_construct=8&full_scan_threshold=1", optimize=True
    )
    store = open_store(f"qdrant-edge://{directory}")
    yield store
    store.close()
