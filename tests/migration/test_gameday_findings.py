"""Regressions for what the game days found in the orchestrator: each test fails on the code before its fix.

Pinecone read-after-write lag deleting acknowledged writes in the backfill's resync; latency "regressions"
of microseconds; missed health checks fired back to back after a stall; parity findings that were only
writes in flight between the two scans; store calls without retries (backfill, verify, shadow, orphan
baseline); warm-up queries counted in the first canary window; scheme detection after redaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.errors import TransientStoreError
from harness.faults.store import FaultyStore
from harness.migration.alerts import RecordingAlertSink
from harness.migration.backfill import Backfill, RetryPolicy, resolve_mapping
from harness.migration.config import Thresholds
from harness.migration.dualwrite import DualWriteStore
from harness.migration.flags import WriteMode
from harness.migration.flags_openfeature import InMemoryFlags
from harness.migration.health import compare_latency, evaluate_window
from harness.migration.journal import Journal
from harness.migration.metrics import InProcessMetrics, WindowStats
from harness.migration.orchestrator import Orchestrator, Phase
from harness.model import Check, CollectionSchema, Distance, RecordBatch, Status, Verdict
from harness.pinecone_local.testing import PineconeServer
from harness.records import Comparison, RecordId, RecordMapping, mapping_for, qdrant_point_id
from harness.stores import open_store
from harness.stores.base import Cursor, VectorStore
from harness.stores.exact import ExactStore
from harness.verify import Finding, ParityFindings, make_verifier, recheck_parity
from harness.verify.parity import parity_outcome
from tests.migration.conftest import fast_config, records, verdict
from tests.migration.test_orchestrator import Setup

DIMENSION = 8


class ScrollHook:
    """Forwards to ``inner``; ``after_page()`` runs once, right after the ``page``-th scroll (1-based)."""

    def __init__(self, inner: Any, page: int, after_page: Callable[[], None]) -> None:
        self.inner, self.page, self.after_page = inner, page, after_page
        self.uri = inner.uri
        self.pages = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        page = self.inner.scroll(batch_size=batch_size, cursor=cursor)
        self.pages += 1
        if self.pages == self.page:
            self.after_page()
        return page


# -- 1. the resync never deletes (nor rolls back) an acknowledged write the source does not show yet --
@pytest.fixture
def lagging_pinecone(tmp_path: Path) -> Iterator[tuple[Any, PineconeServer, ManualClock, str]]:
    """A Pinecone index (string ids, namespace "docs") whose writes become visible 10 s after they were
    acknowledged, on a ManualClock that only the test moves."""
    clock = ManualClock()
    with PineconeServer(clock=clock) as server:
        from harness.stores.pinecone import PineconeStore

        index = f"lag-{uuid.uuid4().hex[:8]}"
        host = server.index_host(index)
        uri = f"pinecone://{index}?host={host}&namespace=docs"
        store = PineconeStore(index, host=host, control_host=server.url, namespace="docs", redacted_uri=uri)
        store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
        rng = np.random.default_rng(3)
        ids = [f"doc-{i:04d}" for i in range(300)]
        store.upsert(RecordBatch.build(ids, rng.normal(size=(300, DIMENSION)), [{"n": i} for i in range(300)]))
        server.set_faults(index, visibility_lag_ms=10_000.0)
        try:
            yield store, server, clock, index
        finally:
            store.close()


def test_resync_keeps_acknowledged_writes_a_lagging_pinecone_source_does_not_show_yet(
    lagging_pinecone: tuple[Any, PineconeServer, ManualClock, str], tmp_path: Path
) -> None:
    source, _server, clock, _index = lagging_pinecone
    target = open_store(f"qdrant-edge://{tmp_path / 'shard'}")
    flags = InMemoryFlags()
    flags.set_write_mode(WriteMode.DUAL_SOURCE_FIRST)
    rng = np.random.default_rng(9)
    fresh = RecordBatch.build(["live-1", "live-2"], rng.normal(size=(2, DIMENSION)), [{"n": -1}, {"n": -2}])
    updated = RecordBatch.build(["doc-0001"], rng.normal(size=(1, DIMENSION)), [{"n": 1, "edited": True}])
    with Journal(tmp_path / "j.sqlite") as journal:
        writer = DualWriteStore(source, target, journal, flags, clock)
        journal.set_backfill_active(True)  # as the orchestrator's dual_write phase does

        def application_writes() -> None:
            writer.upsert(fresh)  # new records: invisible on the source for 10 s
            writer.upsert(updated)  # an update: the source still shows the old version
            writer.delete(["doc-0002"])  # a delete: the source still shows the record

        hooked = ScrollHook(source, page=1, after_page=application_writes)
        result = Backfill(hooked, target, journal, batch_size=100, clock=clock, progress=False).run()
        assert result.resynced >= 4
        mapping = resolve_mapping(source, target)
        on_target = target.fetch(mapping.target_ids(["live-1", "live-2", "doc-0001", "doc-0002"]))
        by_id = dict(zip(on_target.ids, zip(on_target.vectors, on_target.payloads, strict=True), strict=True))
        for pid, vector, payload in (
            *zip(fresh.ids, fresh.vectors, fresh.payloads, strict=True),
            (updated.ids[0], updated.vectors[0], updated.payloads[0]),
        ):
            held = by_id.get(qdrant_point_id(pid, "docs"))
            assert held is not None, f"acknowledged write {pid} was lost on the target"
            np.testing.assert_allclose(held[0], vector / np.linalg.norm(vector), atol=1e-5)
            assert held[1]["n"] == payload["n"]
        assert qdrant_point_id("doc-0002", "docs") not in by_id  # the delete stands
        assert target.count() == 300 + 2 - 1
    target.close()


def test_resync_reapplies_a_delete_the_page_read_before_it(exact_pair: Any, tmp_path: Path) -> None:
    source, target = exact_pair(1000)
    flags = InMemoryFlags()
    flags.set_write_mode(WriteMode.DUAL_SOURCE_FIRST)
    clock = ManualClock()
    with Journal(tmp_path / "j.sqlite") as journal:
        writer = DualWriteStore(source, target, journal, flags, clock, mapping=RecordMapping())
        journal.set_backfill_active(True)
        target.create(source.describe())
        hooked = ScrollHook(source, page=1, after_page=lambda: writer.delete([5, 6]))
        Backfill(hooked, target, journal, batch_size=250, clock=clock, progress=False).run()
    assert target.fetch([5, 6]).ids == () and target.count() == source.count() == 998


# -- 2. an absolute floor on the latency comparison ----------------------------------------------------
def test_microsecond_differences_between_cache_hits_are_not_a_latency_regression() -> None:
    rng = np.random.default_rng(0)
    canary = 0.0086 + 0.0005 * rng.random(2000)
    baseline = 0.0064 + 0.0005 * rng.random(2000)
    kwargs: dict[str, Any] = {"alpha": 0.02, "tolerance": 0.1, "min_samples": 20}
    result = compare_latency(canary, baseline, min_effect_ms=5.0, **kwargs)
    assert (result.median_ratio or 0) > 1.1  # significant and 30 % slower, but by 2 microseconds
    assert result.regressed is False
    significant = compare_latency(canary, baseline, min_effect_ms=0.0, **kwargs)
    assert significant.regressed is True and significant.p_value is not None and significant.p_value < 0.02
    slower = compare_latency(baseline + 6.0, baseline, min_effect_ms=5.0, **kwargs)
    assert slower.regressed is True
    window = WindowStats("target", 0.0, 10.0, 2000, 0, 2000, canary)
    base = WindowStats("source", 0.0, 10.0, 2000, 0, 2000, baseline)
    health = evaluate_window(window, base, Thresholds(), at=10.0)  # the default floor is 5 ms; 2,000 clean requests
    assert Thresholds().latency_min_effect_ms == 5.0
    assert "latency_regression" not in health.failed and health.outcome.value == "pass"


# -- 3. after a stall, missed checks are skipped, not fired back to back on one window -----------------
def test_a_stall_does_not_fire_the_missed_health_checks_on_the_same_window(setup: Any) -> None:
    s: Setup = setup(warm_up={"enabled": False})
    interval = s.config.canary.health_interval_s
    stalled: list[float] = []

    def stall_once(now: float) -> None:
        s.traffic(now)
        if s.flags.read_percent() > 0 and not stalled:
            stalled.append(now)
            s.clock.sleep(3.5 * interval)  # a lazy import taking far longer than a health interval

    orchestrator = s.orchestrator(traffic=stall_once)
    assert orchestrator.run() is Phase.COMPLETED
    checks = [e.at for e in s.journal.events("health") if "outcome" in e.data]
    gaps = np.diff(checks)
    assert stalled and gaps.min() >= interval - 1e-9, f"checks fired back to back: {checks}"


@pytest.fixture
def setup(exact_pair: Any, tmp_path: Path) -> Iterator[Callable[..., Setup]]:
    made: list[Setup] = []

    def make(**kwargs: Any) -> Setup:
        made.append(Setup(exact_pair, tmp_path / f"s{len(made)}", **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


# -- 4. parity findings re-checked: writes in flight settle, real mismatches still block ---------------
class WriteBetweenScans:
    """The target, with one application write (to both stores) landing when its scan starts — after the
    source was scanned, as a dual-write under live traffic would."""

    def __init__(self, inner: VectorStore, write: Callable[[], None]) -> None:
        self.inner, self.write = inner, write
        self.uri = inner.uri
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        if cursor is None and not self.fired:
            self.fired = True
            self.write()
        return self.inner.scroll(batch_size=batch_size, cursor=cursor)


def _parity_only(clock: ManualClock, rounds: int = 4) -> Callable[[VectorStore, VectorStore], Verdict]:
    """A verifier of parity alone, its findings re-checked (what ``make_verifier`` does after the scan)."""

    def verify(source: VectorStore, target: VectorStore) -> Verdict:
        outcome = parity_outcome(source, target)
        verdict, _ = recheck_parity(Verdict(checks=tuple(outcome.checks)), outcome.findings, source, target,
                                    clock=clock, rounds=rounds)  # fmt: skip
        return verdict

    return verify


def test_verify_rechecks_a_write_that_landed_between_the_two_scans(setup: Any) -> None:
    s: Setup = setup()
    batch = records([900_001, 900_002], version=3)
    late = WriteBetweenScans(s.target, lambda: (s.source.upsert(batch), s.inner_target.upsert(batch)))
    orchestrator = Orchestrator(
        s.config,
        s.source,
        late,
        s.journal,
        clock=s.clock,
        flags=s.flags,
        metrics=s.metrics,
        alerts=[s.sink],
        verifier=_parity_only(s.clock),
    )
    assert orchestrator.run(stop_at=Phase.SHADOW) is Phase.SHADOW
    assert late.fired
    ids = orchestrator.last_verdict.check("parity.ids") if orchestrator.last_verdict else None
    assert ids is not None and ids.status is Status.PASS
    assert ids.details["first_look"]["observed"] == {"missing": 0, "extra": 2}
    (recheck,) = [e.data for e in s.journal.events("info") if e.data.get("message") == "parity re-check"]
    assert sorted(recheck["checks"]["parity.ids"]["settled"]) == [900_001, 900_002]
    assert recheck["checks"]["parity.ids"]["still_differing"] == []


def test_a_real_mismatch_still_blocks_after_the_recheck(setup: Any) -> None:
    s: Setup = setup()
    orchestrator = s.orchestrator(verifier=_parity_only(s.clock, s.config.verification.recheck_rounds))
    assert orchestrator.run(stop_at=Phase.VERIFY) is Phase.VERIFY
    s.inner_target.delete([7])  # lost on the target for good
    s.inner_target.upsert(records([8], version=5))  # and one record really differs
    assert orchestrator.run() is Phase.BLOCKED
    verdict = orchestrator.last_verdict
    assert verdict is not None
    assert verdict.check("parity.ids").details["missing"] == [7]
    assert verdict.check("parity.vectors").details["mismatched"] == [8]
    (recheck,) = [e.data for e in s.journal.events("info") if e.data.get("message") == "parity re-check"]
    still = {cid: c["still_differing"] for cid, c in recheck["checks"].items()}
    assert still == {"parity.count": [], "parity.ids": [7], "parity.vectors": [8], "parity.payloads": [8]}
    assert recheck["checks"]["parity.count"]["counts"] == [1200, 1199]
    assert {c["rounds"] for c in recheck["checks"].values()} == {s.config.verification.recheck_rounds}


def test_the_gate_keeps_a_bool_turned_int_failing_and_settles_a_write_in_flight(setup: Any) -> None:
    """The standard gate (``make_verifier``): parity says ``true`` ≠ ``1``, and so does its re-check — the
    re-check once compared payloads by Python equality (True == 1) and turned this corruption into a pass."""
    s: Setup = setup(verification={"queries": 20, "k": 5})
    batch = records([900_003], version=4)
    late = WriteBetweenScans(s.target, lambda: (s.source.upsert(batch), s.inner_target.upsert(batch)))
    flagged = RecordBatch.build([5], s.source.fetch([5]).vectors, [{"doc": 5, "v": 0, "public": True}])
    s.source.upsert(flagged)
    v = s.config.verification
    gate = make_verifier(v.queries, v.k, clock=s.clock, rounds=v.recheck_rounds, settle_s=v.recheck_settle_s,
                         measure_latency=False)  # fmt: skip
    orchestrator = s.orchestrator(verifier=gate)
    assert orchestrator.run(stop_at=Phase.VERIFY) is Phase.VERIFY
    corrupted = RecordBatch.build([5], flagged.vectors, [{"doc": 5, "v": 0, "public": 1}])  # bool → int
    s.inner_target.upsert(corrupted)
    blocked = Orchestrator(s.config, s.source, late, s.journal, clock=s.clock, flags=s.flags, metrics=s.metrics,
                           alerts=[s.sink], verifier=gate)  # fmt: skip
    assert blocked.run() is Phase.BLOCKED
    verdict = blocked.last_verdict
    assert verdict is not None and late.fired
    assert verdict.check("parity.ids").status is Status.PASS  # the write in flight settled
    payloads = verdict.check("parity.payloads")
    assert payloads.status is Status.FAIL and payloads.details["mismatched"] == [5]
    assert payloads.details["recheck"]["still_differing"] == [5]
    # Put right, the same gate lets the migration through.
    s.inner_target.upsert(flagged)
    assert blocked.retry() is Phase.VERIFY
    assert blocked.run(stop_at=Phase.SHADOW) is Phase.SHADOW


def _finding_verdict(check: Check) -> Verdict:
    return Verdict(checks=(check,))


def test_a_check_with_more_findings_than_kept_is_not_rechecked(exact_pair: Any) -> None:
    source, _ = exact_pair(10)
    failing = Check("parity.ids", Status.FAIL, {"missing": 500, "extra": 0}, {"missing": 0, "extra": 0}, "", {})
    findings = ParityFindings(Comparison(), (), {"parity.ids": "more than 100000 ids differ"})
    verdict, report = recheck_parity(_finding_verdict(failing), findings, source, source, clock=ManualClock())
    assert verdict.check("parity.ids") == failing and "parity.ids" in report.not_rechecked
    # A failing check without a record to look at is left as found too: never a pass by default.
    verdict, report = recheck_parity(_finding_verdict(failing), ParityFindings(Comparison()), source, source,
                                     clock=ManualClock())  # fmt: skip
    assert verdict.check("parity.ids") == failing and "parity.ids" in report.not_rechecked


def test_recheck_through_the_pinecone_mapping_settles_when_the_target_caught_up(exact_pair: Any) -> None:
    """A mapped finding (target point ids are uuid5 of namespace and id) is fetched through the mapping."""
    source = ExactStore(f"recheck-src-{uuid.uuid4().hex[:8]}")
    target = ExactStore(f"recheck-tgt-{uuid.uuid4().hex[:8]}")
    schema = CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE)
    source.create(schema)
    target.create(schema)
    try:
        mapping = mapping_for("pinecone", "qdrant-edge")
        batch = RecordBatch.build(["a", "b"], np.eye(2, DIMENSION), [{"n": 1.0}, {"n": 2.0}], ["x", "y"])
        source.upsert(batch)
        target.upsert(mapping.records(batch))
        stale = Check("parity.ids", Status.FAIL, {"missing": 1, "extra": 1}, {"missing": 0, "extra": 0}, "", {})
        a, b = RecordId("x", "a"), RecordId("", qdrant_point_id("b", "y"))
        findings = ParityFindings(
            Comparison(mapping, normalise=True, tolerance=1e-4),
            (
                Finding("parity.ids", "missing", a, mapping.target_record(a), "a"),
                Finding("parity.ids", "extra", None, b, b.id),
            ),
        )
        verdict, report = recheck_parity(_finding_verdict(stale), findings, source, target, clock=ManualClock())
        assert verdict.check("parity.ids").status is Status.PASS and report.rounds == 1
        target.delete([qdrant_point_id("a", "x")])
        verdict, report = recheck_parity(_finding_verdict(stale), findings, source, target, clock=ManualClock())
        assert verdict.check("parity.ids").status is Status.FAIL
        assert verdict.check("parity.ids").details["missing"] == ["a"]
        assert report.still_differing == {"parity.ids": ["a"]}
        # The target holding 1.0 where the mapping writes 1 is a difference too (Pinecone doubles → ints).
        target.upsert(RecordBatch.build([a_point := qdrant_point_id("a", "x")], np.eye(1, DIMENSION),
                                        [{"n": 1.0, "__id__": "a", "__namespace__": "x"}]))  # fmt: skip
        verdict, _ = recheck_parity(_finding_verdict(stale), findings, source, target, clock=ManualClock())
        assert verdict.check("parity.ids").status is Status.FAIL and a_point
    finally:
        source.drop()
        target.drop()


# -- 5. every backfill store call retries: the existence check and the count ride out an outage --------
def test_backfill_retries_the_existence_check_and_count_through_an_outage(exact_pair: Any, tmp_path: Path) -> None:
    source, target = exact_pair(600)
    clock = ManualClock()
    down = FaultyStore(target, clock=clock)
    down.set_faults(outages=((0.0, 5.0),))
    flaky_source = FaultyStore(source, clock=clock)
    flaky_source.set_faults(outages=((0.0, 2.0),))
    with Journal(tmp_path / "j.sqlite") as journal:
        policy = RetryPolicy(max_attempts=8, base_s=0.5, max_s=2.0)
        result = Backfill(flaky_source, down, journal, batch_size=200, clock=clock, retry=policy, progress=False).run()
    assert result.done == 600 and result.retries >= 3 and clock.now() >= 5.0
    assert any("during exists" in line for line in result.retry_log)
    assert target.count() == 600


# -- 6. verify, shadow and the orphan baseline retry, and fail cleanly when retries run out ------------
def test_verify_retries_a_429_then_passes(setup: Any) -> None:
    s: Setup = setup()
    calls: list[int] = []

    def throttled(source: VectorStore, target: VectorStore) -> Verdict:
        calls.append(1)
        if len(calls) <= 2:
            raise TransientStoreError("429 Too Many Requests", 1.0)
        return Verdict(checks=(Check("parity.ids", Status.PASS),))

    assert s.orchestrator(verifier=throttled).run(stop_at=Phase.SHADOW) is Phase.SHADOW
    assert len(calls) == 3
    retried = [e.data for e in s.journal.events("fault") if e.data.get("fault") == "store_call_retried"]
    assert len(retried) == 2 and all(r["wait_s"] >= 1.0 for r in retried)


def test_verify_and_shadow_block_cleanly_when_retries_run_out(setup: Any) -> None:
    s: Setup = setup(faulty_target=True, backfill={"max_attempts": 3})

    def always_429(source: VectorStore, target: VectorStore) -> Verdict:
        raise TransientStoreError("429 Too Many Requests")

    assert s.orchestrator(verifier=always_429).run() is Phase.BLOCKED
    (fault,) = [e.data for e in s.journal.events("fault") if e.data.get("fault") == "store_unavailable"]
    assert fault["phase"] == "verify" and fault["attempts"] == 3
    assert "429" in (s.journal.state().reason or "") and s.flags.read_percent() == 0.0
    # The store is back for verification, then the target goes down during the shadow reads.
    orchestrator = s.orchestrator()
    assert orchestrator.retry() is Phase.VERIFY
    assert orchestrator.run(stop_at=Phase.SHADOW) is Phase.SHADOW
    s.target.set_faults(outages=((s.clock.now(), s.clock.now() + 1e6),))
    assert orchestrator.run() is Phase.BLOCKED
    faults = [e.data["phase"] for e in s.journal.events("fault") if e.data.get("fault") == "store_unavailable"]
    assert faults == ["verify", "shadow"]


def test_an_orphan_baseline_the_source_refuses_is_alerted_not_raised(exact_pair: Any, tmp_path: Path) -> None:
    inner, target = exact_pair(300)
    clock = ManualClock()
    source = FaultyStore(inner, clock=clock)
    config = fast_config(
        source.uri, target.uri, backfill={"max_attempts": 2}, canary={"live_bake_s": 0.0}, warm_up={"enabled": False}
    )
    metrics = InProcessMetrics()
    sink = RecordingAlertSink()
    with Journal(tmp_path / "j.sqlite") as journal:
        orchestrator = Orchestrator(
            config,
            source,
            target,
            journal,
            clock=clock,
            flags=InMemoryFlags(),
            metrics=metrics,
            alerts=[sink],
            verifier=lambda a, b: verdict(True),
            traffic=lambda now: _healthy_tick(metrics, now),
        )
        assert orchestrator.run(stop_at=Phase.LIVE) is Phase.LIVE
        source.set_faults(outages=((clock.now(), clock.now() + 1e6),))
        assert orchestrator.run() is Phase.COMPLETED
        assert "orphaned-write watch not started" in [a.title for a in sink.alerts]
        assert journal.orphan_baseline() is None
        source.clear()
        report = orchestrator.check_orphaned_writes()  # the baseline is taken now
        assert report.count == 0 and journal.orphan_baseline() is not None


def _healthy_tick(metrics: InProcessMetrics, now: float) -> None:
    for i in range(60):
        metrics.record("target", now + i * 0.01, 20.0, cache_hit=True)
        metrics.record("source", now + i * 0.01, 20.0, cache_hit=True)


# -- 7. warm-up traffic never counts in a canary window -------------------------------------------------
def test_warm_up_queries_do_not_count_in_the_first_canary_window(setup: Any) -> None:
    s: Setup = setup()
    ended: list[float] = []

    def warm_up(n: int) -> None:
        # As the service records them: the target cohort, at completion time (cache hits cost 0 ms).
        for _ in range(n):
            s.metrics.record("target", s.clock.now(), 999.0, cache_hit=True)
        ended.append(s.clock.now())

    orchestrator = s.orchestrator(warm_up=warm_up)
    assert orchestrator.run(stop_at=Phase.LIVE) is Phase.LIVE
    first = next(e.data for e in s.journal.events("health") if "outcome" in e.data)
    start, end = first["window"]
    assert start > ended[-1], "the first canary window starts before the warm-up ended"
    canary_only = s.metrics.window("target", ended[-1] + 1e-9, end)
    assert first["requests"] == canary_only.requests
    assert first["p99_ms"] is not None and first["p99_ms"] < 999.0


# -- redact_uri keeps qdrant-edge:///dir: the scheme comes from parsing the URI -------------------------
@dataclasses.dataclass
class _Named:
    uri: str
    backend: str = "exact"

    def describe(self) -> CollectionSchema:
        return CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE, backend=self.backend)

    def exists(self) -> bool:
        return True


def test_the_mapping_comes_from_the_parsed_uri_schemes() -> None:
    pinecone = _Named("pinecone://idx?host=http://127.0.0.1:5081&namespace=docs", backend="pinecone")
    edge = _Named("qdrant-edge:///var/lib/shard?m=16")
    assert resolve_mapping(pinecone, edge) == RecordMapping(pinecone_to_qdrant=True, default_namespace="docs")  # type: ignore[arg-type]
    # A wrapper's label is no URI: the backend decides.
    wrapped = _Named("dual-write(a -> b)", backend="qdrant-edge")
    assert resolve_mapping(pinecone, wrapped).pinecone_to_qdrant  # type: ignore[arg-type]
    assert not resolve_mapping(pinecone, _Named("exact://x")).pinecone_to_qdrant  # type: ignore[arg-type]
