"""One verification of a target against its source: schema, parity, quality and latency from one scan.

``VerificationRun`` does each piece lazily and once: ``scan()`` scrolls the source once (parity digests,
the query sample, the spilled vectors for ground truth) and the target once (parity digests); the
searches run once and serve quality and latency. The pytest suite runs the families as separate tests
on one run; ``run_verification`` returns its ``Verdict``, and the orchestrator's gate (``make_verifier``)
re-checks its ``parity_findings()`` after it.

With ``workers`` > 1 (a local Dask cluster of that many processes), ``cluster`` (a remote Dask scheduler)
or ``engine`` (a running one: the caller's, not closed by the run)
the scan is partitioned (``harness.verify.partitioned``): both stores are read at once, a store that
allows concurrent readers in chunks, each partition digested where it is read and compared in key-space
buckets on the workers; ground truth is merged from each partition's partial top-k. A Qdrant Edge shard is
then opened only by the worker that reads it (``harness.parallel.held.WorkerStore``), never here. The
verdict is the single-process one. ``workers=1`` (the default) is the in-process path.

With ``sample=N`` parity is sampled (``harness.verify.sample``: N source records fetched from both sides,
the verdict stating the bound it proves) and the target is not scanned; the source is scanned only when
quality needs its ground truth. The full scan stays the default: it is what a final gate uses.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DimensionMismatchError, HarnessError, InvalidInputError, InvalidURIError
from harness.model import Check, CollectionSchema, SearchResult, Status, Verdict
from harness.parallel import Access, Engine, access_of, engine_for, resolve_workers
from harness.parallel.held import WorkerStore
from harness.records import Comparison
from harness.redact import redact_text, redact_uri
from harness.stores.base import VectorStore, iter_batches
from harness.stores.uri import parse_store_uri
from harness.vectormath import prepare
from harness.verify.findings import ParityFindings
from harness.verify.hybrid import HYBRID_CHECK_ID, hybrid_check
from harness.verify.latency import concat_results, latency_checks, timed_search
from harness.verify.parity import DigestTable, DigestTableBuilder, TableDiff, compare_tables
from harness.verify.partitioned import PartitionedScan, Side, scan_partitioned
from harness.verify.quality import (
    QualityData,
    QueryReservoir,
    QuerySet,
    Ranked,
    RecallJudge,
    VectorSpill,
    exact_ground_truth,
    overlap_at_k,
    quality_checks,
    skipped_quality,
    user_queries,
    worst_queries,
)
from harness.verify.sample import sample_parity
from harness.verify.schema import check_schema, recall_affecting
from harness.verify.thresholds import Thresholds

F64 = npt.NDArray[np.float64]
MANDATORY_QUERIES = 100  # used when queries=0 but schema drift makes the quality checks mandatory
SEARCH_CHUNK = 32  # queries per batched search request when latency is not measured
MAX_K = 1000  # neighbours per query: more is a typo, and k × queries results would not fit in memory


@dataclass(frozen=True, slots=True)
class Scan:
    """What one pass over each store left behind."""

    counts: tuple[int, int]  # the stores' own exact counts (source, target)
    comparison: Comparison
    source_table: DigestTable
    target_table: DigestTable
    queries: QuerySet
    spill: VectorSpill
    diff: TableDiff | None = None  # the bulk comparison, when the scan made it (partitioned)
    partitions: PartitionedScan | None = None

    def ground_truth(self, queries: npt.NDArray[np.float32], k: int, distance: Any) -> tuple[Any, Any]:
        """Exact top-``k`` scan positions and scores of each query over the scanned source vectors."""
        if self.partitions is not None:
            return self.partitions.ground_truth(queries, k, distance)
        return exact_ground_truth(queries, self.spill, k, distance)


@dataclass(frozen=True, slots=True)
class Searches:
    """Each store's answers to the query set (the source twice, for the noise floor) and their latencies."""

    source: SearchResult
    target: SearchResult | None
    source_again: SearchResult
    source_ms: F64 | None
    target_ms: F64 | None
    target_error: str | None = None


class VerificationRun:
    """Verification of ``target`` against ``source``; each family is computed on first use, once."""

    def __init__(
        self,
        source: VectorStore,
        target: VectorStore,
        *,
        queries: int = 200,
        k: int = 10,
        thresholds: Thresholds | None = None,
        seed: int = 0,
        query_vectors: npt.ArrayLike | None = None,
        measure_latency: bool = True,
        batch_size: int = 1000,
        spill_dir: str | None = None,
        timer: Callable[[], float] = time.perf_counter,
        sample: int | None = None,
        workers: int | str | None = 1,
        cluster: str | None = None,
        chunk_records: int | None = None,
        engine: Engine | None = None,
    ) -> None:
        if not 1 <= k <= MAX_K or queries < 0 or batch_size < 1:
            raise InvalidInputError(
                f"need 1 <= k <= {MAX_K}, queries >= 0 and batch_size >= 1 (got {k}, {queries}, {batch_size})"
            )
        if sample is not None and sample < 1:
            raise InvalidInputError(f"a parity sample needs at least 1 record, got {sample}")
        self.source = source
        self.target = target
        self.queries = queries
        self.k = k
        self.thresholds = thresholds or Thresholds()
        self.seed = seed
        self.query_vectors = None if query_vectors is None else user_queries(query_vectors)
        self.measure_latency = measure_latency
        self.batch_size = batch_size
        self.spill_dir = spill_dir
        self.timer = timer
        self.sample = sample
        self.started = time.monotonic()
        self._scan: Scan | None = None
        self.chunk_records = chunk_records  # per chunk of a store read in chunks (None: planned)
        self._engine: Engine | None = None
        self._owns_engine = engine is None
        self._sides: dict[str, Side] = {}
        if engine is not None:
            self._use_engine(engine)
        elif cluster or workers != 1:
            self._start_engine(workers, cluster)

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> VerificationRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Delete the spilled vectors (the stores stay open: they belong to the caller); with workers, free
        the partitions, close the stores the workers held and stop the local cluster."""
        if self._scan is not None:
            self._scan.spill.close()
            if self._scan.partitions is not None:
                self._scan.partitions.close()
        engine, self._engine = self._engine, None
        if engine is not None and self._owns_engine:
            try:
                for side in self._sides.values():
                    if side.worker is not None:
                        side.store.close()
            finally:
                engine.close()

    # -- workers ---------------------------------------------------------------------------------------
    def _start_engine(self, workers: int | str | None, cluster: str | None) -> None:
        """Start the Dask engine (``workers`` "auto" counts the stores first) and decide where each store
        is read; an exclusive store (Qdrant Edge) is closed here and from now on used in its worker only."""
        if not cluster:
            records = self.source.count() + self.target.count() if workers in (None, "auto") else 0
            workers = resolve_workers(workers, records)
        engine = engine_for(int(workers or 1), cluster)
        if engine is None:
            return
        try:
            self._use_engine(engine)
        except BaseException:
            self._engine = None
            engine.close()
            raise

    def _use_engine(self, engine: Engine) -> None:
        """Decide where each store is read; a store already held by a worker stays there."""
        self._engine = engine
        addresses = engine.workers()
        for i, (name, store) in enumerate((("source", self.source), ("target", self.target))):
            if isinstance(store, WorkerStore):
                self._sides[name] = Side(store, store.uri, store.worker)
                continue
            access = access_of(_scheme(store.uri))
            if access is Access.EXCLUSIVE:
                worker = addresses[i % len(addresses)]
                store.close()  # the worker opens it; this process must not hold it meanwhile
                self._sides[name] = Side(WorkerStore(engine, store.uri, worker), store.uri, worker)
            elif access is Access.SHARED:
                self._sides[name] = Side(store, store.uri, shared=True)
            else:
                self._sides[name] = Side(store)
        self.source = self._sides["source"].store
        self.target = self._sides["target"].store

    @property
    def parallel(self) -> str | None:
        """Where the scan runs when it is partitioned (None: in this process)."""
        return None if self._engine is None else self._engine.description

    # -- schema ----------------------------------------------------------------------------------------
    @cached_property
    def source_schema(self) -> CollectionSchema:
        """The source's schema as its backend reports it."""
        return self.source.describe()

    @cached_property
    def target_schema(self) -> CollectionSchema:
        """The target's schema as its backend reports it."""
        return self.target.describe()

    def schema_checks(self) -> list[Check]:
        """The six ``schema.*`` checks."""
        return self._schema_checks

    @cached_property
    def _schema_checks(self) -> list[Check]:
        return check_schema(self.source_schema, self.target_schema, accept=self.thresholds.accept)

    # -- the one scan ----------------------------------------------------------------------------------
    def scan(self) -> Scan:
        """Scroll the source once (digests, query sample, spilled vectors) and the target once (digests).

        Done on first call; later calls return the same scan.
        """
        if self._scan is None:
            self._scan = self._scan_stores()
        return self._scan

    def _scan_stores(self) -> Scan:
        if self.query_vectors is not None and self.query_vectors.vectors.shape[1] != self.source_schema.dimension:
            raise DimensionMismatchError(
                f"query vectors have dimension {self.query_vectors.vectors.shape[1]} but the source has "
                f"dimension {self.source_schema.dimension}"
            )
        comparison = Comparison.for_schemas(self.source_schema, self.target_schema, self.thresholds.vector_tolerance)
        counts = (self.source.count(), self.target.count())
        wanted = self.queries or (MANDATORY_QUERIES if recall_affecting(self.schema_checks()) else 0)
        # Never more queries than the source holds: the reservoir allocates its size up front.
        reservoir = QueryReservoir(min(wanted, counts[0]) if self.query_vectors is None else 0, self.seed)
        spill = VectorSpill(self.spill_dir)
        weakref.finalize(self, spill.close)  # a run nobody closed still deletes its file
        distance = self.source_schema.distance
        sampled = self.sample is not None
        # Sampled parity reads neither store in full: the source is scanned only for quality's ground truth.
        scan_source = not sampled or wanted > 0 or self.query_vectors is not None
        if self._engine is not None:
            spill.close()
            return self._scan_partitioned(self._engine, comparison, counts, wanted, scan_source, sampled)
        source_digests = DigestTableBuilder(comparison, target_side=False, capacity=counts[0] if scan_source else 0)
        target_digests = DigestTableBuilder(comparison, target_side=True, capacity=0 if sampled else counts[1])
        try:
            for batch in iter_batches(self.source, self.batch_size) if scan_source else ():
                source_digests.add(batch)
                spill.append(prepare(batch.vectors, distance))
                reservoir.add(batch.vectors, batch.ids)
            for batch in iter_batches(self.target, self.batch_size) if not sampled else ():
                target_digests.add(batch)
        except BaseException:
            spill.close()
            raise
        return Scan(
            counts=counts,
            comparison=comparison,
            source_table=source_digests.finish(),
            target_table=target_digests.finish(),
            queries=self.query_vectors if self.query_vectors is not None else reservoir.result(),
            spill=spill,
        )

    def _scan_partitioned(
        self,
        engine: Engine,
        comparison: Comparison,
        counts: tuple[int, int],
        wanted: int,
        scan_source: bool,
        sampled: bool,
    ) -> Scan:
        """The scan on the workers (``harness.verify.partitioned``); the same ``Scan`` as in one process."""
        spill_vectors = wanted > 0 or self.query_vectors is not None
        partitions = scan_partitioned(
            engine,
            self._sides["source"] if scan_source else None,
            None if sampled else self._sides["target"],
            comparison,
            counts,
            batch_size=self.batch_size,
            spill_vectors=spill_vectors,
            dimension=self.source_schema.dimension,
            distance=self.source_schema.distance,
            chunk_records=self.chunk_records,
        )
        try:
            if self.query_vectors is not None:
                queries = self.query_vectors
            elif scan_source:
                queries = partitions.sample_queries(min(wanted, counts[0]), self.seed)
            else:
                queries = QueryReservoir(0, self.seed).result()
        except BaseException:
            partitions.close()
            raise
        return Scan(
            counts=counts,
            comparison=comparison,
            source_table=partitions.source_table,
            target_table=partitions.target_table,
            queries=queries,
            spill=partitions.spill,
            diff=partitions.diff,
            partitions=partitions,
        )

    def parity_checks(self) -> list[Check]:
        """The six ``parity.*`` checks (sampled ones with ``sample``)."""
        return self._parity[0]

    def parity_findings(self) -> ParityFindings:
        """What the parity checks found, as typed records (for ``harness.verify.recheck``)."""
        return self._parity[1]

    @cached_property
    def _parity(self) -> tuple[list[Check], ParityFindings]:
        if self.sample is not None:
            result = sample_parity(self.source, self.target, self.sample, seed=self.seed, thresholds=self.thresholds)
            return result.checks, result.findings
        s = self.scan()
        outcome = compare_tables(
            self.source, self.target, s.source_table, s.target_table, s.comparison, self.thresholds, s.counts, s.diff
        )
        # The digests have done their work; quality only looks ids up. Dropping them halves what a
        # 1M-record pair keeps resident from here on.
        self._scan = dataclasses.replace(
            s, source_table=s.source_table.without_digests(), target_table=s.target_table.without_digests()
        )
        return outcome.checks, outcome.findings

    # -- searches, quality, latency --------------------------------------------------------------------
    @cached_property
    def searches(self) -> Searches:
        """Run the query set on the source, the target, and the source again (timed per query if asked)."""
        q = self.scan().queries.vectors

        def run(store: VectorStore) -> tuple[SearchResult, F64 | None]:
            if self.measure_latency:
                if isinstance(store, WorkerStore):  # timed where the store is, not across the cluster
                    timed: tuple[SearchResult, F64] = store.call(timed_search, q, self.k)
                    return timed
                return timed_search(store, q, self.k, timer=self.timer)
            # A few queries per request: a store's batched search holds queries × block scores at once.
            parts = [store.search(q[i : i + SEARCH_CHUNK], self.k) for i in range(0, len(q), SEARCH_CHUNK)]
            return concat_results(parts), None

        source, source_ms = run(self.source)
        try:
            target, target_ms = run(self.target)
            error = None
        except InvalidInputError as exc:  # e.g. another dimension: the target cannot take these queries
            target, target_ms, error = None, None, str(exc)
        source_again, _ = run(self.source)
        return Searches(source, target, source_again, source_ms, target_ms, error)

    def quality_checks(self) -> list[Check]:
        """The four ``quality.*`` checks, and ``quality.hybrid`` when the source has sparse vectors."""
        return self._quality[0] + self._hybrid

    @cached_property
    def _hybrid(self) -> list[Check]:
        """``quality.hybrid`` (``harness.verify.hybrid``), or nothing for a source without sparse vectors."""
        if not self.source_schema.sparse_vectors:
            return []
        s = self.scan()
        k = max(1, min(self.k, s.counts[0]))
        try:
            check = hybrid_check(
                self.source,
                self.target,
                self.source_schema,
                self.target_schema,
                s.queries,
                k,
                self.thresholds,
                s.comparison.mapping,
            )
        except HarnessError as exc:  # e.g. a store that takes no prefetch + fusion query: this check only
            reason = f"hybrid queries could not run: {redact_text(str(exc))}"
            return [Check(HYBRID_CHECK_ID, Status.ERROR, None, None, reason)]
        return [check] if check is not None else []

    def quality_data(self) -> QualityData | None:
        """Per-query recall / overlap / noise arrays (None when quality was not measured)."""
        return self._quality[1]

    @cached_property
    def _quality(self) -> tuple[list[Check], QualityData | None]:
        if self.source_schema.dimension == 0:
            return skipped_quality("the source has no default dense vector (only named or sparse ones) to search"), None
        s = self.scan()
        if len(s.queries) == 0:
            why = "no records in the source to sample queries from" if self.queries else "quality not requested"
            return skipped_quality(why), None
        k_eff = min(self.k, len(s.source_table))
        if k_eff == 0:
            return skipped_quality("the source holds no records: nothing to recall"), None
        distance = self.source_schema.distance
        truth_rows, truth_scores = s.ground_truth(s.queries.vectors, k_eff, distance)
        judge = RecallJudge(
            queries=prepare(s.queries.vectors, distance),
            kth_scores=truth_scores[:, k_eff - 1],
            k_eff=k_eff,
            distance=distance,
            epsilon=self.thresholds.tie_epsilon,
            source_table=s.source_table,
            spill=s.spill,
        )
        searches = self.searches
        mapping = s.comparison.mapping.pinecone_to_qdrant
        source = Ranked.of(searches.source, self.k, pinecone_to_qdrant=mapping)
        again = Ranked.of(searches.source_again, self.k, pinecone_to_qdrant=mapping)
        recall_source = judge.recall(source, self.source)
        noise = overlap_at_k(source, again, k_eff)
        if searches.target is None:
            reason = f"the target cannot be queried: {searches.target_error}"
            failed = {
                cid: Check(cid, Status.FAIL, None, None, reason) for cid in ("quality.recall_target", "quality.overlap")
            }
            placeholder = QualityData(recall_source, recall_source, noise, noise, s.queries.labels)
            return [failed.get(c.id, c) for c in quality_checks(placeholder, self.thresholds, self.k, {})], None
        target = Ranked.of(searches.target, self.k)
        data = QualityData(
            recall_source=recall_source,
            recall_target=judge.recall(target, self.target),
            overlap=overlap_at_k(target, source, k_eff),
            noise=noise,
            labels=s.queries.labels,
        )
        truth_ids = [[pid for pid, _ in s.source_table.ids.get(row)] for row in truth_rows]
        details = {
            "k": self.k,
            "queries": len(s.queries),
            "queries_sampled_from_source": s.queries.sampled,
            "tie_epsilon": self.thresholds.tie_epsilon,
            "worst_queries": worst_queries(data, truth_ids, target.ids, self.thresholds.worst_queries),
        }
        return quality_checks(data, self.thresholds, self.k, details), data

    def latency_checks(self) -> list[Check]:
        """``latency.p50`` and ``latency.p99`` (skipped when latency is not measured)."""
        if self.source_schema.dimension == 0 or len(self.scan().queries) == 0:
            return latency_checks(None, None, self.thresholds)
        return latency_checks(self.searches.source_ms, self.searches.target_ms, self.thresholds)

    # -- results ---------------------------------------------------------------------------------------
    def checks(self) -> list[Check]:
        """Every check, in the order of design.md."""
        return self.schema_checks() + self.parity_checks() + self.quality_checks() + self.latency_checks()

    def side_info(self, side: str) -> dict[str, Any]:
        """What the verdict says about the ``"source"`` or ``"target"`` store: redacted uri, count, schema."""
        store, schema = (self.source, self.source_schema) if side == "source" else (self.target, self.target_schema)
        count = self._scan.counts[0 if side == "source" else 1] if self._scan is not None else store.count()
        return {"uri": redact_uri(store.uri), "count": count, "schema": schema.to_dict()}

    def plot_data(self) -> dict[str, Any]:
        """Arrays the report plots, from what has run so far (nothing is computed for them):
        per-query recall of each side and overlap, per-request latencies (ms)."""
        quality = self.__dict__.get("_quality")
        data = quality[1] if quality is not None else None
        searches = self.__dict__.get("searches")
        latency = None
        if searches is not None and searches.source_ms is not None and searches.target_ms is not None:
            latency = {"source": searches.source_ms, "target": searches.target_ms}
        return {
            "recall": None if data is None else {"source": data.recall_source, "target": data.recall_target},
            "overlap": None if data is None else data.overlap,
            "latency_ms": latency,
        }

    def verdict(self) -> Verdict:
        """The JSON verdict of design.md over every check."""
        checks = self.checks()
        return Verdict(
            checks=tuple(checks),
            source=self.side_info("source"),
            target=self.side_info("target"),
            duration_s=time.monotonic() - self.started,
            thresholds=self.thresholds.describe(),
            accepted=tuple(c.id for c in checks if c.details.get("accepted")),
        )


def _scheme(uri: str) -> str | None:
    """The scheme of a store URI (None for a wrapper's label that is not one)."""
    try:
        return parse_store_uri(uri).scheme
    except InvalidURIError:
        return None


def run_verification(
    source: VectorStore,
    target: VectorStore,
    *,
    queries: int = 200,
    k: int = 10,
    thresholds: Thresholds | None = None,
    seed: int = 0,
    query_vectors: np.ndarray | None = None,
    measure_latency: bool = True,
    workers: int | str | None = 1,
    cluster: str | None = None,
    engine: Engine | None = None,
) -> Verdict:
    """Verify ``target`` against ``source``: schema drift, parity, search quality, latency.

    Each store is scrolled once. ``queries`` are sampled from the source (seeded by ``seed``) unless
    ``query_vectors`` are given; recall and overlap are @``k``. The verdict fails when any check fails
    (gates in ``thresholds``, defaults in ``Thresholds``). ``workers`` / ``cluster`` / ``engine``: see ``VerificationRun``.
    """
    with VerificationRun(
        source,
        target,
        queries=queries,
        k=k,
        thresholds=thresholds,
        seed=seed,
        query_vectors=query_vectors,
        measure_latency=measure_latency,
        workers=workers,
        cluster=cluster,
        engine=engine,
    ) as run:
        return run.verdict()


__all__ = ["MANDATORY_QUERIES", "MAX_K", "Scan", "Searches", "VerificationRun", "run_verification"]
