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
import itertools
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import HarnessError, InvalidInputError, InvalidURIError, StoreError, UsageError
from harness.model import Check, CollectionSchema, PointId, SearchResult, Status, Verdict
from harness.parallel import Access, Engine, access_of, engine_for, resolve_workers
from harness.parallel.engine import seed_is_fixed
from harness.parallel.held import WorkerStore
from harness.progress import NO_PROGRESS, Progress
from harness.records import Comparison, RecordMapping
from harness.redact import redact_text, redact_uri
from harness.stores.base import VectorStore, iter_batches
from harness.stores.uri import parse_store_uri
from harness.vectormath import prepare
from harness.verify.filtered import FilterContext, filtered_check, plan_filters, run_filters, skipped_filtered
from harness.verify.findings import ParityFindings
from harness.verify.hybrid import HYBRID_CHECK_ID, hybrid_check
from harness.verify.latency import latency_checks
from harness.verify.parity import DigestTable, DigestTableBuilder, TableDiff, compare_tables
from harness.verify.partitioned import PartitionedScan, Side, scan_partitioned
from harness.verify.payload_fields import FieldStats
from harness.verify.policy import QualityData, namespace_check, quality_checks, skipped_quality, worst_queries
from harness.verify.quality import (
    QueryReservoir,
    Ranked,
    RecallJudge,
    VectorSpill,
    exact_ground_truth,
    overlap_at_k,
)
from harness.verify.queries import QuerySet, check_against_source, subset, user_queries
from harness.verify.sample import sample_parity
from harness.verify.schema import check_schema, recall_affecting
from harness.verify.scoped import Scope, scoped_search, target_scope
from harness.verify.thresholds import Thresholds

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
MANDATORY_QUERIES = 100  # used when queries=0 but schema drift makes the quality checks mandatory
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
    source_fields: FieldStats
    target_fields: FieldStats
    namespace_codes: dict[str, int]  # each source namespace's code in the spill (empty: no namespaces)
    diff: TableDiff | None = None  # the bulk comparison, when the scan made it (partitioned)
    partitions: PartitionedScan | None = None

    def ground_truth(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        distance: Any,
        *,
        scopes: I64 | None = None,
        own: I64 | None = None,
        advance: Callable[[int], None] | None = None,
    ) -> tuple[I64, npt.NDArray[np.float32], I64]:
        """Exact top-``k`` scan positions and scores of each query over the scanned source vectors, and how
        many each query really has (``quality.exact_ground_truth``; merged from the partitions' partial
        top-k when the scan was partitioned)."""
        if self.partitions is not None:
            return self.partitions.ground_truth(queries, k, distance, scopes=scopes, own=own, advance=advance)
        return exact_ground_truth(queries, self.spill, k, distance, scopes=scopes, own=own, advance=advance)


@dataclass(frozen=True, slots=True)
class Truth:
    """Exact ground truth of the queries that have one (a sampled query alone in its namespace has none)."""

    queries: QuerySet
    rows: I64  # scan positions, queries × k
    scores: npt.NDArray[np.float32]
    k_eff: I64  # per query, the neighbours it is judged on (k, fewer in a small namespace)
    own_keys: list[int | None] | None  # leave-one-out: each query's own record (parity's key space)
    dropped: int  # sampled queries without any other record in their namespace


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
        query_vectors: npt.ArrayLike | QuerySet | None = None,
        measure_latency: bool = True,
        batch_size: int = 1000,
        spill_dir: str | None = None,
        timer: Callable[[], float] = time.perf_counter,
        sample: int | None = None,
        leave_one_out: bool = True,
        progress: Progress = NO_PROGRESS,
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
        if query_vectors is None or isinstance(query_vectors, QuerySet):
            self.query_vectors = query_vectors
        else:
            self.query_vectors = user_queries(query_vectors)
        self.leave_one_out = leave_one_out
        self.progress = progress
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
        if not cluster and workers in (None, "auto") and not seed_is_fixed():
            return  # a local cluster could not make this process's parity keys (Engine.check_same_hashing)
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
        """Decide where each store is read; a store already held by a worker stays there. ``StoreError`` when
        the cluster has no worker left, or the worker that held a store is gone; ``UsageError`` when the workers
        would make other parity keys than this process (``Engine.check_same_hashing``)."""
        addresses = engine.workers()
        if not addresses:
            raise StoreError(f"{engine.description}: no worker is left to verify on")
        for name, store in (("source", self.source), ("target", self.target)):
            if isinstance(store, WorkerStore) and store.worker not in addresses:
                raise StoreError(
                    f"the Dask worker {store.worker} that held the {name} {redact_uri(store.uri)} is gone "
                    f"({engine.description} now): the store it held went with it"
                )
        engine.check_same_hashing()
        self._engine = engine
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
        return check_schema(
            self.source_schema,
            self.target_schema,
            accept=self.thresholds.accept,
            required_indexes=self.thresholds.payload_indexes,
            pinecone_to_qdrant=self.mapping.pinecone_to_qdrant,
        )

    @cached_property
    def mapping(self) -> RecordMapping:
        """How source records are written to the target (``records.mapping_for`` on both schemas)."""
        from harness.records import mapping_for

        return mapping_for(self.source_schema, self.target_schema, default_namespace=self._source_namespace or "")

    @cached_property
    def _source_namespace(self) -> str | None:
        """The namespace the source URI is confined to (None: all, or not a partitioned store)."""
        try:
            return parse_store_uri(self.source.uri).options.get("namespace")
        except UsageError:
            return None

    # -- the one scan ----------------------------------------------------------------------------------
    def scan(self) -> Scan:
        """Scroll the source once (digests, query sample, spilled vectors) and the target once (digests).

        Done on first call; later calls return the same scan.
        """
        if self._scan is None:
            self._scan = self._scan_stores()
        return self._scan

    def _scan_stores(self) -> Scan:
        if self.query_vectors is not None:
            check_against_source(
                self.query_vectors, self.source_schema, redact_uri(self.source.uri), confined_to=self._source_namespace
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
            scan = self._scan_partitioned(self._engine, comparison, counts, wanted, scan_source, sampled)
            self._check_query_namespaces(scan)
            return scan
        source_digests = DigestTableBuilder(comparison, target_side=False, capacity=counts[0] if scan_source else 0)
        source_fields, target_fields = FieldStats(), FieldStats()
        codes: dict[str, int] = {}
        try:
            with self.progress.phase("scanning the source", counts[0] if scan_source else 0, "records") as advance:
                for batch in iter_batches(self.source, self.batch_size) if scan_source else ():
                    position = len(source_digests.ids)
                    source_digests.add(batch)
                    namespaces = batch.namespaces or (("",) * len(batch) if codes else None)
                    batch_codes = _codes(namespaces, codes)
                    if batch_codes is not None and spill.uncoded_rows:
                        spill.code_earlier_rows(codes.setdefault("", len(codes)))
                    spill.append(prepare(batch.vectors, distance), batch_codes)
                    reservoir.add(batch.vectors, batch.ids, first_position=position, namespaces=batch.namespaces)
                    source_fields.add(batch.payloads)
                    advance(len(batch))
            target_digests = DigestTableBuilder(comparison, target_side=True, capacity=0 if sampled else counts[1])
            with self.progress.phase("scanning the target", 0 if sampled else counts[1], "records") as advance:
                for batch in iter_batches(self.target, self.batch_size) if not sampled else ():
                    target_digests.add(batch)
                    target_fields.add(batch.payloads)
                    advance(len(batch))
        except BaseException:
            spill.close()
            raise
        queries = self.query_vectors if self.query_vectors is not None else reservoir.result()
        scan = Scan(
            counts=counts,
            comparison=comparison,
            source_table=source_digests.finish(),
            target_table=target_digests.finish(),
            queries=queries,
            spill=spill,
            source_fields=source_fields,
            target_fields=target_fields,
            namespace_codes=codes,
        )
        self._check_query_namespaces(scan)
        return scan

    def _check_query_namespaces(self, scan: Scan) -> None:
        """``UsageError`` (the scan closed) when a query asks a namespace without records on the source."""
        queries = scan.queries
        if queries.scoped and queries.namespaces is not None:
            empty = sorted({ns for ns in queries.namespaces if ns is not None and ns not in scan.namespace_codes})
            if empty:
                scan.spill.close()
                if scan.partitions is not None:
                    scan.partitions.close()
                raise UsageError(
                    f"the queries ({queries.origin}) ask namespace {empty[0]!r}, which holds no records on the "
                    f"source {redact_uri(self.source.uri)}"
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
            progress=self.progress,
        )
        try:
            if self.query_vectors is not None:
                queries = self.query_vectors
            elif scan_source:
                queries = partitions.sample_queries(min(wanted, counts[0]), self.seed)
            else:
                queries = QueryReservoir(0, self.seed).result()
            source_fields, target_fields = partitions.field_stats("source"), partitions.field_stats("target")
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
            source_fields=source_fields,
            target_fields=target_fields,
            namespace_codes=partitions.namespace_codes,
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
    def truth(self) -> Truth:
        """Exact ground truth of the query set (within each query's namespace, leaving a sampled query's
        own record out); queries without any record to find are dropped."""
        s = self.scan()
        queries = s.queries
        loo = self.leave_one_out and queries.leave_one_out
        own = queries.own_positions if loo else None
        scopes = None
        if queries.scoped and queries.namespaces is not None:
            scopes = np.asarray([-1 if ns is None else s.namespace_codes[ns] for ns in queries.namespaces], np.int64)
        k = min(self.k, max(1, len(s.source_table)))
        with self.progress.phase("exact ground truth", s.spill.rows, "vectors") as advance:
            rows, scores, found = s.ground_truth(
                queries.vectors, k, self.source_schema.distance, scopes=scopes, own=own, advance=advance
            )
        keep = np.flatnonzero(found > 0)
        dropped = len(queries) - len(keep)
        if dropped:
            queries, rows, scores, found = subset(queries, keep), rows[keep], scores[keep], found[keep]
        own_keys: list[int | None] | None = None
        if loo and queries.own_positions is not None:
            own_keys = [int(key) for key in s.source_table.keys_at(queries.own_positions).tolist()]
        return Truth(queries, rows, scores, np.minimum(found, self.k), own_keys, dropped)

    def _scopes(self, queries: QuerySet) -> tuple[list[Scope] | None, list[Scope] | None]:
        """Each query's scope on the source and on the target (None: all unscoped)."""
        if not queries.scoped or queries.namespaces is None:
            return None, None
        source = [Scope(ns, None) for ns in queries.namespaces]
        return source, [target_scope(scope, self.mapping) for scope in source]

    @cached_property
    def searches(self) -> Searches:
        """Run the query set on the source, the target, and the source again (timed per query if asked);
        k + 1 results each when a query's own record is left out."""
        queries = self.truth.queries
        q = queries.vectors
        k = self.k + (1 if self.truth.own_keys is not None else 0)
        source_scopes, target_scopes = self._scopes(queries)

        def run(store: VectorStore, scopes: list[Scope] | None, what: str) -> tuple[SearchResult, F64 | None]:
            with self.progress.phase(f"queries on the {what}", len(q), "queries") as advance:
                if isinstance(store, WorkerStore):  # asked (and timed) where the store is, not across the cluster
                    found: tuple[SearchResult, F64 | None] = store.call(
                        scoped_search, q, k, scopes, timed=self.measure_latency
                    )
                    advance(len(q))
                    return found
                return scoped_search(store, q, k, scopes, timed=self.measure_latency, timer=self.timer, advance=advance)

        source, source_ms = run(self.source, source_scopes, "source")
        try:
            target, target_ms = run(self.target, target_scopes, "target")
            error = None
        except InvalidInputError as exc:  # e.g. another dimension: the target cannot take these queries
            target, target_ms, error = None, None, str(exc)
        source_again, _ = run(self.source, source_scopes, "source again")
        return Searches(source, target, source_again, source_ms, target_ms, error)

    def quality_checks(self) -> list[Check]:
        """The six ``quality.*`` checks, and ``quality.hybrid`` when the source has sparse vectors."""
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

    def _about(self, truth: Truth) -> str:
        queries = truth.queries
        about = queries.origin or ("sampled from the source" if queries.sampled else "given")
        if truth.own_keys is not None:
            about += ", each scored leave-one-out (its own record left out of ground truth and results)"
        elif queries.sampled:
            about += ", each finding itself (not left out: recall is overstated)"
        if truth.dropped:
            about += f"; {truth.dropped} dropped (no other record in their namespace)"
        return about

    @cached_property
    def _quality(self) -> tuple[list[Check], QualityData | None]:
        if self.source_schema.dimension == 0:
            return skipped_quality("the source has no default dense vector (only named or sparse ones) to search"), None
        s = self.scan()
        if len(s.queries) == 0:
            why = "no records in the source to sample queries from" if self.queries else "quality not requested"
            return skipped_quality(why), None
        if len(s.source_table) == 0:
            return skipped_quality("the source holds no records: nothing to recall"), None
        truth = self.truth
        if len(truth.queries) == 0:
            return skipped_quality("no query has a record to find (each is alone in its namespace)"), None
        distance = self.source_schema.distance
        k_eff = truth.k_eff
        judge = RecallJudge(
            queries=prepare(truth.queries.vectors, distance),
            kth_scores=truth.scores[np.arange(len(k_eff)), k_eff - 1],
            k_eff=k_eff,
            distance=distance,
            epsilon=self.thresholds.tie_epsilon,
            source_table=s.source_table,
            spill=s.spill,
        )
        searches = self.searches
        mapped = self.mapping.pinecone_to_qdrant
        exclude = truth.own_keys
        source = Ranked.of(searches.source, self.k, pinecone_to_qdrant=mapped, exclude=exclude)
        again = Ranked.of(searches.source_again, self.k, pinecone_to_qdrant=mapped, exclude=exclude)
        recall_source = judge.recall(source, self.source)
        noise = overlap_at_k(source, again, k_eff)
        about = self._about(truth)
        if searches.target is None:
            reason = f"the target cannot be queried: {searches.target_error}"
            failed = {
                cid: Check(cid, Status.FAIL, None, None, reason) for cid in ("quality.recall_target", "quality.overlap")
            }
            placeholder = QualityData(recall_source, recall_source, noise, noise, truth.queries.labels)
            checks = [failed.get(c.id, c) for c in quality_checks(placeholder, self.thresholds, self.k, {}, about)]
            skipped = skipped_quality(
                f"{reason} (see quality.recall_target)", ("quality.namespaces", "quality.filtered")
            )
            return checks + skipped, None
        target = Ranked.of(searches.target, self.k, exclude=exclude)
        data = QualityData(
            recall_source=recall_source,
            recall_target=judge.recall(target, self.target),
            overlap=overlap_at_k(target, source, k_eff),
            noise=noise,
            labels=truth.queries.labels,
            namespaces=truth.queries.namespaces if truth.queries.scoped else None,
        )
        truth_ids = _split(
            _shown(
                s.source_table.ids.get(
                    np.concatenate([row[: int(n)] for row, n in zip(truth.rows, k_eff, strict=True)])
                )
            ),
            k_eff.tolist(),
        )
        target_ids = _split(
            _in_source_terms(
                s.source_table,
                np.concatenate(target.keys) if target.keys else np.zeros(0, dtype=np.uint64),
                [pid for ids in target.ids for pid in ids],
            ),
            [len(keys) for keys in target.keys],
        )
        details = {
            "k": self.k,
            "queries": len(truth.queries),
            "queries_sampled_from_source": truth.queries.sampled,
            "leave_one_out": truth.own_keys is not None,
            "query_origin": truth.queries.origin,
            "queries_dropped": truth.dropped,
            "tie_epsilon": self.thresholds.tie_epsilon,
            "worst_queries": worst_queries(data, truth_ids, target_ids, self.thresholds.worst_queries),
        }
        checks = quality_checks(data, self.thresholds, self.k, details, about)
        checks.append(namespace_check(data, self.thresholds, self.k))
        checks.append(self._filtered_check(truth, float(noise.mean()), about))
        return checks, data

    def _records_differing(self, *, one_side: bool = False) -> int:
        """Records parity found missing, extra or (unless ``one_side``) with another payload: they change
        filtered counts."""
        checks = {c.id: c for c in self.parity_checks()}
        ids = checks.get("parity.ids")
        payloads = checks.get("parity.payloads")
        count = 0
        if ids is not None:
            count += int(ids.details.get("missing_count") or 0) + int(ids.details.get("extra_count") or 0)
        if payloads is not None and not one_side:
            count += int(payloads.details.get("mismatch_count") or 0)
        return count

    def _parity_complete(self) -> bool:
        """True when a full parity scan (not sampled) passed ``parity.ids`` and ``parity.payloads``: every record
        on both sides, every payload equal."""
        if self.sample is not None:
            return False
        checks = {c.id: c.status for c in self.parity_checks()}
        return checks.get("parity.ids") is Status.PASS and checks.get("parity.payloads") is Status.PASS

    def _filtered_check(self, truth: Truth, noise: float, about: str) -> Check:
        s = self.scan()
        cases, left_out = plan_filters(truth.queries, s.source_fields, self.thresholds)
        if not cases:
            why = (
                "the query file has filters but the thresholds run none (filters_max = 0)"
                if truth.queries.filters is not None
                else "no filters to run: the query file has none and the source's payloads hold no fields to filter on"
                if self.thresholds.filters_max
                else "filters_max = 0: no filters requested"
            )
            return skipped_filtered(why)
        ctx = FilterContext(
            source=self.source,
            target=self.target,
            mapping=self.mapping,
            queries=truth.queries,
            own_keys=truth.own_keys,
            k=self.k,
            thresholds=self.thresholds,
            noise=noise,
            source_backend=self.source_schema.backend,
            target_backend=self.target_schema.backend,
            source_stats=s.source_fields,
            target_stats=s.target_fields,
            target_indexes=dict(self.target_schema.payload_indexes),
            source_indexes=dict(self.source_schema.payload_indexes),
            records_differing=self._records_differing(),
            records_one_side=self._records_differing(one_side=True),
            parity_complete=self._parity_complete(),
            concurrent=self._engine is not None,
            held_by_both=lambda keys: (s.source_table.positions(keys) >= 0) & (s.target_table.positions(keys) >= 0),
        )
        with self.progress.phase("filtered searches", len(cases), "filters") as advance:
            outcomes = run_filters(cases, ctx, advance)
        origin = "from the query file" if truth.queries.filters is not None else "generated from the source's payloads"
        return filtered_check(outcomes, left_out, ctx, f"{origin}; queries {about}")

    def latency_checks(self) -> list[Check]:
        """``latency.p50`` and ``latency.p99`` (skipped when latency is not measured)."""
        if (
            self.source_schema.dimension == 0
            or len(self.scan().queries) == 0
            or len(self.scan().source_table) == 0
            or len(self.truth.queries) == 0
        ):
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
    query_vectors: np.ndarray | QuerySet | None = None,
    measure_latency: bool = True,
    progress: Progress = NO_PROGRESS,
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
        progress=progress,
        workers=workers,
        cluster=cluster,
        engine=engine,
    ) as run:
        return run.verdict()


def _codes(namespaces: tuple[str, ...] | None, codes: dict[str, int]) -> I32 | None:
    """Each record's namespace code (new namespaces get the next code), or None for a batch without them."""
    if namespaces is None:
        return None
    return np.fromiter((codes.setdefault(ns, len(codes)) for ns in namespaces), dtype=np.int32, count=len(namespaces))


__all__ = ["MANDATORY_QUERIES", "MAX_K", "Scan", "Searches", "Truth", "VerificationRun", "run_verification"]


def _shown(named: Sequence[tuple[PointId, str]]) -> list[Any]:
    """Ids as a report lists them: the id, or ``{"id", "namespace"}`` for a record in a named namespace
    (the same id can live in two namespaces)."""
    return [pid if not ns else {"id": pid, "namespace": ns} for pid, ns in named]


def _split(items: list[Any], lengths: Sequence[int]) -> list[list[Any]]:
    """``items`` cut into consecutive runs of ``lengths`` (one lookup for all the queries, then each query's
    share: on a partitioned scan every lookup is a round trip to the workers)."""
    ends = itertools.accumulate(lengths)
    return [items[end - n : end] for n, end in zip(lengths, ends, strict=True)]


def _in_source_terms(table: DigestTable, keys: U64, ids: Sequence[PointId]) -> list[Any]:
    """A target's result ids in the source's terms: each record the source holds as its source id (and
    namespace), mapped back through parity's key space (a Pinecone → Qdrant target returns UUIDs); an
    id the source does not hold stays the target's own."""
    positions = table.positions(keys)
    held = iter(_shown(table.ids.get(positions[positions >= 0])))
    return [next(held) if pos >= 0 else pid for pos, pid in zip(positions.tolist(), ids, strict=True)]
