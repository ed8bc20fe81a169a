"""Synthetic RAG corpora (determinism, shapes, anisotropy) and the loaders for a user's own data."""

from __future__ import annotations

import json
import uuid
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from harness.datasets import CHUNKS_PER_DOC, SOURCES, load_corpus, mixture, synthetic_corpus, synthetic_queries
from harness.errors import UsageError
from harness.model import RecordBatch


def _all(batches: object) -> RecordBatch:
    return RecordBatch.concat(list(batches))  # type: ignore[call-overload]


def test_same_seed_same_corpus_whatever_the_batch_size() -> None:
    a = _all(synthetic_corpus(2500, 24, seed=5, batch_size=1000))
    b = _all(synthetic_corpus(2500, 24, seed=5, batch_size=333))

    assert a.ids == b.ids
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert a.payloads == b.payloads


def test_different_seeds_differ() -> None:
    a = next(synthetic_corpus(100, 24, seed=1))
    b = next(synthetic_corpus(100, 24, seed=2))

    assert not np.allclose(a.vectors, b.vectors)


def test_batches_have_the_requested_sizes() -> None:
    batches = list(synthetic_corpus(2500, 8, batch_size=1000))

    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert all(b.vectors.dtype == np.float32 and b.vectors.shape[1] == 8 for b in batches)
    assert _all(batches).ids == tuple(range(2500))
    assert list(synthetic_corpus(0, 8)) == []


def test_generation_is_lazy_so_huge_corpora_stream() -> None:
    first = next(iter(synthetic_corpus(10**9, 16, batch_size=500)))  # would not fit in memory at once

    assert len(first) == 500


def test_payloads_are_shaped_like_rag_chunks() -> None:
    batch = next(synthetic_corpus(64, 8, seed=3))

    for row, payload in enumerate(batch.payloads):
        assert set(payload) == {"doc_id", "chunk", "source", "tags", "created_at", "text"}
        assert payload["doc_id"] == f"doc-{row // CHUNKS_PER_DOC:07d}"
        assert payload["chunk"] == row % CHUNKS_PER_DOC
        assert payload["source"] in SOURCES
        assert 1 <= len(payload["tags"]) <= 3 and all(isinstance(t, str) for t in payload["tags"])
        assert isinstance(payload["created_at"], int) and payload["created_at"] > 1_600_000_000
        assert isinstance(payload["text"], str) and 0 < len(payload["text"]) < 200
    # The chunks of one document share its source and date, as real chunks do.
    doc = batch.payloads[:CHUNKS_PER_DOC]
    assert len({(p["source"], p["created_at"]) for p in doc}) == 1


@pytest.mark.parametrize("id_kind", ["int", "uuid", "str"])
def test_id_kinds(id_kind: str) -> None:
    ids = _all(synthetic_corpus(300, 8, id_kind=id_kind, batch_size=128)).ids  # type: ignore[arg-type]

    assert len(set(ids)) == 300
    if id_kind == "int":
        assert ids == tuple(range(300))
    elif id_kind == "uuid":
        assert all(str(uuid.UUID(str(i))) == i for i in ids)
    else:
        assert ids[9] == "doc-0000001#1"


def test_clusters_are_anisotropic_and_of_different_scales() -> None:
    dim = 64
    mix = mixture(dim, seed=0)
    rng = np.random.default_rng(0)
    shares, spreads = [], []
    for cluster in range(4):
        sample = mix.sample(rng, np.full(4000, cluster))
        eigenvalues = np.linalg.eigvalsh(np.cov(sample, rowvar=False))
        shares.append(eigenvalues[-1] / eigenvalues.sum())
        spreads.append(eigenvalues.sum())

    # Isotropic noise would give every direction 1/dim of the variance (0.016 here).
    assert min(shares) > 10 / dim
    assert max(spreads) / min(spreads) > 1.2


def test_points_cluster_around_their_centres() -> None:
    dim = 32
    mix = mixture(dim, seed=0)
    vectors = _all(synthetic_corpus(2048, dim, seed=0)).vectors
    distances = np.linalg.norm(vectors[:, None, :] - mix.centres[None, :, :], axis=2)
    nearest = np.sort(distances, axis=1)

    # Most points are much closer to one centre than to the next: clusters, not a cloud.
    assert np.median(nearest[:, 0] / nearest[:, 1]) < 0.7


def test_queries_come_from_the_same_mixture_but_are_fresh() -> None:
    queries = synthetic_queries(50, 16, seed=4)
    corpus = _all(synthetic_corpus(1024, 16, seed=4)).vectors
    mix = mixture(16, seed=4)

    assert queries.shape == (50, 16) and queries.dtype == np.float32
    np.testing.assert_array_equal(queries, synthetic_queries(50, 16, seed=4))
    assert np.linalg.norm(queries[:, None, :] - corpus[None, :, :], axis=2).min() > 1e-3
    query_to_centre = np.linalg.norm(queries[:, None, :] - mix.centres[None], axis=2).min(axis=1)
    corpus_to_centre = np.linalg.norm(corpus[:, None, :] - mix.centres[None], axis=2).min(axis=1)
    assert 0.7 < np.median(query_to_centre) / np.median(corpus_to_centre) < 1.4


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"dim": 0}, {"batch_size": 0}, {"id_kind": "hex"}])
def test_bad_arguments_are_usage_errors(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"n": 10, "dim": 4, **kwargs}
    with pytest.raises(UsageError):
        synthetic_corpus(**args)  # type: ignore[arg-type]


# -- loaders ---------------------------------------------------------------------------------------------
def _write(tmp_path: Path, vectors: np.ndarray, lines: list[str] | None) -> tuple[Path, Path | None]:
    npy = tmp_path / "vectors.npy"
    np.save(npy, vectors)
    if lines is None:
        return npy, None
    jsonl = tmp_path / "payloads.jsonl"
    jsonl.write_text("".join(line + "\n" for line in lines))
    return npy, jsonl


def test_load_corpus_with_ids_and_payloads(tmp_path: Path) -> None:
    vectors = np.arange(30, dtype=np.float64).reshape(10, 3)
    lines = [json.dumps({"id": f"doc-{i}", "title": f"t{i}", "n": i}) for i in range(10)]
    npy, jsonl = _write(tmp_path, vectors, lines)

    batches = list(load_corpus(npy, jsonl, batch_size=4))

    assert [len(b) for b in batches] == [4, 4, 2]
    whole = _all(batches)
    assert whole.ids == tuple(f"doc-{i}" for i in range(10))
    assert whole.payloads[3] == {"title": "t3", "n": 3}  # the id is not left in the payload
    assert whole.vectors.dtype == np.float32
    np.testing.assert_array_equal(whole.vectors, vectors.astype(np.float32))


def test_load_corpus_without_payloads_numbers_rows(tmp_path: Path) -> None:
    npy, _ = _write(tmp_path, np.ones((5, 2), dtype=np.float32), None)

    whole = _all(load_corpus(npy, None, batch_size=2))

    assert whole.ids == (0, 1, 2, 3, 4)
    assert whole.payloads == ({},) * 5


def test_load_corpus_rejects_mismatched_lengths_up_front(tmp_path: Path) -> None:
    npy, jsonl = _write(tmp_path, np.ones((5, 2)), ["{}"] * 4)

    with pytest.raises(UsageError, match=r"4 payload lines but .* 5 vectors"):
        load_corpus(npy, jsonl)


def test_load_corpus_names_the_bad_json_line(tmp_path: Path) -> None:
    npy, jsonl = _write(tmp_path, np.ones((4, 2)), ['{"a": 1}', "", '{"a": 2}', "{not json", '{"a": 4}'])

    batches = load_corpus(npy, jsonl, batch_size=10)
    with pytest.raises(UsageError, match=r"payloads.jsonl:4: not valid JSON"):
        list(batches)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": 1}', '{"x": 2}'], r":2: every payload line must have an \"id\""),
        (['{"id": [1]}', '{"id": 2}'], r":1: \"id\" must be an integer or a string"),
        (["[1, 2]", "{}"], r":1: a payload must be a JSON object"),
    ],
)
def test_load_corpus_rejects_bad_payload_lines(tmp_path: Path, lines: list[str], message: str) -> None:
    npy, jsonl = _write(tmp_path, np.ones((2, 2)), lines)

    with pytest.raises(UsageError, match=message):
        list(load_corpus(npy, jsonl))


def test_load_corpus_rejects_bad_vector_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_corpus(tmp_path / "absent.npy")
    flat = tmp_path / "flat.npy"
    np.save(flat, np.ones(6))
    with pytest.raises(UsageError, match="2-D"):
        load_corpus(flat)
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not an array")
    with pytest.raises(UsageError, match=r"not a \.npy"):
        load_corpus(junk)


def test_load_corpus_streams_from_a_memory_map(tmp_path: Path) -> None:
    npy, _ = _write(tmp_path, np.random.default_rng(0).normal(size=(5000, 8)), None)

    first_two = list(islice(load_corpus(npy, batch_size=100), 2))

    assert [b.ids[0] for b in first_two] == [0, 100]
