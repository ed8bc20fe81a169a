"""Corpora for the harness: seeded synthetic RAG corpora, and loaders for a user's own vectors and payloads.

Synthetic embeddings are a mixture of anisotropic Gaussians: each cluster (a "topic") has its own
centre, a random low-rank basis with decaying axis scales, its own overall scale and a small isotropic
floor. HNSW behaves very differently on that than on isotropic noise (where every neighbour is almost
equally far and recall collapses), so benchmarks and recall checks mean something on it.

Everything streams batch by batch: a 1M-vector corpus never holds more than one batch of Python
objects. Vectors are generated in fixed blocks of ``BLOCK_ROWS`` rows from ``(seed, block)``, so a
corpus is the same whatever ``batch_size`` reads it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.errors import UsageError
from harness.model import Payload, PointId, RecordBatch

IdKind = Literal["int", "uuid", "str"]

BLOCK_ROWS = 1024
CHUNKS_PER_DOC = 8  # BLOCK_ROWS is a multiple, so a document never straddles two blocks
DEFAULT_CLUSTERS = 32
DEFAULT_RANK = 16
SOURCES = ("confluence", "zendesk", "github", "gdrive", "slack", "notion")
TOPIC_WORDS = (
    "billing", "refund", "invoice", "login", "password", "sso", "deploy", "rollback", "kubernetes",
    "latency", "outage", "pricing", "contract", "onboarding", "api", "webhook", "export", "privacy",
    "gdpr", "search", "index", "backup", "migration", "alerting",
)  # fmt: skip
CREATED_FROM = 1_640_995_200  # 2022-01-01T00:00:00Z, epoch seconds
CREATED_SPAN_S = 3 * 365 * 86_400
_UUID_NAMESPACE = uuid.UUID("0f6d7c1e-5b7a-4d53-9c3e-6a1f1d0b2c4e")


@dataclass(frozen=True, slots=True)
class Mixture:
    """The generative model of one synthetic corpus (a function of dimension, seed, clusters, rank)."""

    centres: npt.NDArray[np.float32]  # (clusters, dim)
    bases: npt.NDArray[np.float32]  # (clusters, dim, rank), orthonormal columns
    axis_scales: npt.NDArray[np.float32]  # (clusters, rank) standard deviation along each basis column
    floor: npt.NDArray[np.float32]  # (clusters,) isotropic standard deviation per coordinate
    weights: npt.NDArray[np.float64]  # (clusters,) share of documents per cluster
    topics: tuple[tuple[str, ...], ...]  # three topic words per cluster

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self.centres.shape[1])

    def sample(self, rng: np.random.Generator, clusters: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        """One vector per entry of ``clusters`` (cluster indices), drawn from that cluster's Gaussian."""
        dim = self.dimension
        rank = self.bases.shape[2]
        out = np.empty((len(clusters), dim), dtype=np.float32)
        # Draw in row order so the output depends only on the rng state and ``clusters``.
        z = rng.standard_normal((len(clusters), rank), dtype=np.float32)
        noise = rng.standard_normal((len(clusters), dim), dtype=np.float32)
        for c in np.unique(clusters):
            rows = np.flatnonzero(clusters == c)
            low_rank = (z[rows] * self.axis_scales[c]) @ self.bases[c].T
            out[rows] = self.centres[c] + low_rank + noise[rows] * self.floor[c]
        return out


@lru_cache(maxsize=8)
def mixture(dim: int, seed: int = 0, n_clusters: int = DEFAULT_CLUSTERS, rank: int = DEFAULT_RANK) -> Mixture:
    """The mixture behind ``synthetic_corpus(…, dim, seed=seed, n_clusters=n_clusters)``; cached, treat as read-only."""
    rng = np.random.default_rng([seed, 0])
    rank = max(1, min(rank, dim))
    # Centres about unit norm apart; topics of very different breadth (log-normal overall scale).
    centres = rng.standard_normal((n_clusters, dim)) / np.sqrt(dim)
    overall = 0.35 * rng.lognormal(0.0, 0.4, n_clusters)
    decay = 0.8 ** np.arange(rank)
    axis_scales = overall[:, None] * decay[None, :] * rng.uniform(0.7, 1.3, (n_clusters, rank))
    bases = np.empty((n_clusters, dim, rank))
    for c in range(n_clusters):
        q, _ = np.linalg.qr(rng.standard_normal((dim, rank)))
        bases[c] = q
    floor = 0.05 * overall / np.sqrt(dim) * np.sqrt(rank)
    weights = rng.dirichlet(np.full(n_clusters, 2.0))
    topics = tuple(tuple(str(w) for w in rng.choice(TOPIC_WORDS, size=3, replace=False)) for _ in range(n_clusters))
    return Mixture(
        centres=centres.astype(np.float32),
        bases=bases.astype(np.float32),
        axis_scales=axis_scales.astype(np.float32),
        floor=floor.astype(np.float32),
        weights=weights,
        topics=topics,
    )


@dataclass(frozen=True, slots=True)
class _Block:
    """Rows ``[index * BLOCK_ROWS, (index + 1) * BLOCK_ROWS)`` of a corpus: vectors and payload parts."""

    index: int
    vectors: npt.NDArray[np.float32]
    clusters: npt.NDArray[np.intp]  # per row
    sources: npt.NDArray[np.intp]  # per document
    created: npt.NDArray[np.int64]  # per document, epoch seconds
    n_tags: npt.NDArray[np.intp]  # per row, 1..3


def _block(mix: Mixture, seed: int, index: int) -> _Block:
    rng = np.random.default_rng([seed, 1, index])
    n_docs = BLOCK_ROWS // CHUNKS_PER_DOC
    # A document's chunks share its topic, as chunks of one real document do.
    doc_clusters = rng.choice(len(mix.weights), size=n_docs, p=mix.weights)
    clusters = np.repeat(doc_clusters, CHUNKS_PER_DOC)
    vectors = mix.sample(rng, clusters)
    return _Block(
        index=index,
        vectors=vectors,
        clusters=clusters,
        sources=rng.integers(0, len(SOURCES), n_docs),
        created=CREATED_FROM + rng.integers(0, CREATED_SPAN_S, n_docs, dtype=np.int64),
        n_tags=rng.integers(1, 4, BLOCK_ROWS),
    )


def _point_id(row: int, seed: int, id_kind: IdKind) -> PointId:
    if id_kind == "int":
        return row
    if id_kind == "uuid":
        return str(uuid.uuid5(_UUID_NAMESPACE, f"{seed}/{row}"))
    return f"doc-{row // CHUNKS_PER_DOC:07d}#{row % CHUNKS_PER_DOC}"


def _payload(mix: Mixture, block: _Block, offset: int, row: int) -> Payload:
    doc = offset // CHUNKS_PER_DOC
    chunk = row % CHUNKS_PER_DOC
    topic = mix.topics[int(block.clusters[offset])]
    doc_id = f"doc-{row // CHUNKS_PER_DOC:07d}"
    tags = [topic[(chunk + j) % len(topic)] for j in range(int(block.n_tags[offset]))]
    return {
        "doc_id": doc_id,
        "chunk": chunk,
        "source": SOURCES[int(block.sources[doc])],
        "tags": tags,
        "created_at": int(block.created[doc]),
        "text": f"{' '.join(topic)}: part {chunk + 1} of {doc_id}",
    }


def synthetic_corpus(
    n: int,
    dim: int,
    *,
    seed: int = 0,
    batch_size: int = 1000,
    id_kind: IdKind = "int",
    n_clusters: int = DEFAULT_CLUSTERS,
) -> Iterator[RecordBatch]:
    """``n`` synthetic RAG chunks of dimension ``dim`` in batches of ``batch_size`` (the last may be short).

    Payloads: ``doc_id`` (str), ``chunk`` (int, 0..7), ``source`` (str from ``SOURCES``), ``tags``
    (1–3 topic words), ``created_at`` (int, epoch seconds), ``text`` (short str). Ids by ``id_kind``:
    ``int`` (the row number), ``uuid`` (uuid5 of seed and row) or ``str`` (``doc-0000042#3``, Pinecone-like).
    The same ``(n, dim, seed, id_kind, n_clusters)`` always gives the same corpus, whatever ``batch_size``.
    """
    if n < 0 or dim < 1 or batch_size < 1 or n_clusters < 1 or seed < 0:
        raise UsageError(
            f"synthetic corpus needs n >= 0, dim >= 1, batch_size >= 1, n_clusters >= 1 and seed >= 0 "
            f"(got n={n}, dim={dim}, batch_size={batch_size}, n_clusters={n_clusters}, seed={seed})"
        )
    if id_kind not in ("int", "uuid", "str"):
        raise UsageError(f"id_kind must be int, uuid or str, got {id_kind!r}")
    return _corpus_batches(n, mixture(dim, seed, n_clusters), seed, batch_size, id_kind)


def _corpus_batches(n: int, mix: Mixture, seed: int, batch_size: int, id_kind: IdKind) -> Iterator[RecordBatch]:
    cached: _Block | None = None
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        parts: list[npt.NDArray[np.float32]] = []
        payloads: list[Payload] = []
        row = start
        while row < stop:
            index = row // BLOCK_ROWS
            if cached is None or cached.index != index:
                cached = _block(mix, seed, index)
            lo = row - index * BLOCK_ROWS
            hi = min(stop - index * BLOCK_ROWS, BLOCK_ROWS)
            parts.append(cached.vectors[lo:hi])
            payloads.extend(_payload(mix, cached, off, index * BLOCK_ROWS + off) for off in range(lo, hi))
            row = index * BLOCK_ROWS + hi
        yield RecordBatch(
            ids=tuple(_point_id(r, seed, id_kind) for r in range(start, stop)),
            vectors=np.ascontiguousarray(np.concatenate(parts)),
            payloads=tuple(payloads),
        )


def synthetic_queries(n: int, dim: int, seed: int = 0, *, n_clusters: int = DEFAULT_CLUSTERS) -> np.ndarray:
    """``n`` query vectors (float32, shape ``(n, dim)``) drawn from the same mixture as the corpus of ``seed``.

    They are fresh draws, not copies of corpus vectors (a query is never its own nearest neighbour).
    """
    if n < 0 or dim < 1 or seed < 0:
        raise UsageError(f"synthetic queries need n >= 0, dim >= 1 and seed >= 0 (got n={n}, dim={dim}, seed={seed})")
    mix = mixture(dim, seed, n_clusters)
    rng = np.random.default_rng([seed, 2])
    clusters = rng.choice(len(mix.weights), size=n, p=mix.weights)
    return mix.sample(rng, clusters)


def load_corpus(vectors_npy: Path, payloads_jsonl: Path | None = None, batch_size: int = 1000) -> Iterator[RecordBatch]:
    """Batches of a user's corpus: vectors from a 2-D ``.npy`` (memory-mapped), payloads from JSONL.

    Line ``i`` of the JSONL (blank lines skipped) is the payload of row ``i``; its ``"id"`` field, when
    present, becomes the record's id (int or str) and is removed from the payload; without payloads or
    without ``"id"`` fields the row number is the id. Raises ``UsageError`` (one line) for a missing or
    malformed file or mismatched lengths up front, and for a bad JSON line (with its line number) when
    the iteration reaches it.
    """
    vectors_npy, payloads_path = Path(vectors_npy), None if payloads_jsonl is None else Path(payloads_jsonl)
    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {batch_size}")
    if not vectors_npy.is_file():
        raise UsageError(f"vectors file {vectors_npy} not found")
    try:
        vectors = np.load(vectors_npy, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UsageError(f"{vectors_npy} is not a .npy array file ({exc})") from None
    if vectors.ndim != 2 or not (np.issubdtype(vectors.dtype, np.floating) or np.issubdtype(vectors.dtype, np.integer)):
        raise UsageError(
            f"{vectors_npy} must hold a 2-D numeric array (rows are vectors), got {vectors.dtype} {vectors.shape}"
        )
    if payloads_path is not None:
        if not payloads_path.is_file():
            raise UsageError(f"payloads file {payloads_path} not found")
        with payloads_path.open("rb") as fh:
            lines = sum(1 for line in fh if line.strip())
        if lines != vectors.shape[0]:
            raise UsageError(
                f"{payloads_path} has {lines} payload lines but {vectors_npy} has {vectors.shape[0]} vectors; "
                "they must match row for row"
            )
    return _loaded_batches(vectors, payloads_path, batch_size)


def _loaded_batches(vectors: np.ndarray, payloads_path: Path | None, batch_size: int) -> Iterator[RecordBatch]:
    n = vectors.shape[0]
    lines = _payload_lines(payloads_path) if payloads_path is not None else None
    with_ids: bool | None = None
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        chunk = np.array(vectors[start:stop], dtype=np.float32, order="C")
        if lines is None:
            yield RecordBatch(ids=tuple(range(start, stop)), vectors=chunk, payloads=({},) * (stop - start))
            continue
        ids: list[PointId] = []
        payloads: list[Payload] = []
        for row in range(start, stop):
            lineno, payload = next(lines)
            has_id = "id" in payload
            if with_ids is None:
                with_ids = has_id
            elif has_id != with_ids:
                raise UsageError(
                    f'{payloads_path}:{lineno}: every payload line must have an "id" field or none may '
                    f"(line {lineno} {'has' if has_id else 'lacks'} one)"
                )
            point_id = payload.pop("id") if has_id else row
            if isinstance(point_id, bool) or not isinstance(point_id, int | str):
                raise UsageError(f'{payloads_path}:{lineno}: "id" must be an integer or a string, got {point_id!r}')
            ids.append(point_id)
            payloads.append(payload)
        yield RecordBatch(ids=tuple(ids), vectors=chunk, payloads=tuple(payloads))


def _payload_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                payload = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(payload, dict):
                raise UsageError(f"{path}:{lineno}: a payload must be a JSON object, got {type(payload).__name__}")
            yield lineno, payload
