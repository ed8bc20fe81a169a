"""The parity re-check (``verify.recheck_parity``) read exactly: what it settles, what it keeps failing,
and what the re-checked checks and its report say.

Findings come from a real parity run over exact stores (``parity_outcome``), except where a test needs a
mapping no exact store's schema yields (a URI's default namespace): then they are built as parity builds
them. Writes in flight land before the re-check or, on ``WritesWhileWaiting``, during one of its waits;
time is a ``ManualClock``, so every outcome is a pure function of the data and the order of events.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.model import Check, CollectionSchema, Distance, PointId, RecordBatch, Status, Verdict
from harness.records import Comparison, RecordId, RecordMapping, mapping_for
from harness.stores.base import VectorStore
from harness.stores.exact import ExactStore
from harness.verify import Finding, ParityFindings, recheck_parity
from harness.verify.parity import parity_outcome
from harness.verify.recheck import FETCH_CHUNK, ParityRecheck
from tests.judges.hostile import Forwarding, ReportsSchema

DIM = 4
SETTLED_NOTE = "records found are equal on both sides or on neither (writes in flight during the scan)"


# -- stores, records and seams -------------------------------------------------------------------------------
def records(
    ids: Sequence[PointId], *, shift: float = 0.0, namespaces: Sequence[str] | None = None, tag: str = "d"
) -> RecordBatch:
    """One record per id: a vector of the id's own (component 2 moved by ``shift``), payload ``{"doc": tag+id}``."""
    base = [float(pid) if isinstance(pid, int) else float(sum(map(ord, pid))) for pid in ids]
    vectors = np.array([[b + 1.0, 1.0, 0.5 + shift, -1.0] for b in base], dtype=np.float32)
    return RecordBatch.build(list(ids), vectors, [{"doc": f"{tag}{pid}"} for pid in ids], namespaces)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Iterator[Callable[..., ExactStore]]:
    """``make(*batches)``: an empty exact DOT collection holding ``batches``; dropped after the test."""
    made: list[ExactStore] = []

    def make(*batches: RecordBatch) -> ExactStore:
        s = ExactStore(f"recheck-{request.node.name}-{len(made)}")
        made.append(s)
        s.create(CollectionSchema(DIM, Distance.DOT))
        for batch in batches:
            s.upsert(batch)
        return s

    yield make
    for s in made:
        s.drop()


class WritesWhileWaiting(ManualClock):
    """A manual clock on which ``writes[n]`` runs during the n-th wait (1-based): a write that lands while
    the re-check waits (a source showing its own writes late)."""

    def __init__(self, writes: dict[int, Callable[[], Any]]) -> None:
        super().__init__()
        self.writes = dict(writes)

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        write = self.writes.pop(len(self.sleeps), None)
        if write is not None:
            write()


class CountsOneMore(Forwarding):
    """A target whose ``count`` says one record more than it holds until ``caught_up`` (every scan and
    fetch is faithful): a count that lags behind a delete."""

    def __init__(self, inner: VectorStore) -> None:
        super().__init__(inner)
        self.lag = 1

    def count(self) -> int:
        return self.inner.count() + self.lag

    def caught_up(self) -> None:
        self.lag = 0


class RecordsFetches(Forwarding):
    """Forwards everything; remembers how many ids each ``fetch`` asked for."""

    def __init__(self, inner: VectorStore) -> None:
        super().__init__(inner)
        self.fetched: list[int] = []

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        self.fetched.append(len(ids))
        return self.inner.fetch(ids)


def scanned(source: VectorStore, target: VectorStore) -> tuple[Verdict, ParityFindings, dict[str, Check]]:
    """Parity's verdict and findings for the pair, and its checks by id."""
    outcome = parity_outcome(source, target)
    verdict = Verdict(checks=tuple(outcome.checks))
    return verdict, outcome.findings, {c.id: c for c in outcome.checks}


def first_look(check: Check) -> dict[str, Any]:
    return {"status": "fail", "observed": check.observed, "message": check.message}


def summary(rounds: int, settled: list[Any], still: list[Any], **more: Any) -> dict[str, Any]:
    return {
        "rounds": rounds,
        "settled_count": len(settled),
        "still_differing_count": len(still),
        "settled": settled,
        "still_differing": still,
        **more,
    }


# -- what is looked at again -----------------------------------------------------------------------------------
def test_only_failing_parity_checks_are_looked_at_again(store: Callable[..., ExactStore]) -> None:
    s = store(records(range(3)))
    verdict = Verdict(
        checks=(
            Check("parity.ids", Status.PASS, {"missing": 0, "extra": 0}, {"missing": 0, "extra": 0}, "ok", {}),
            Check("quality.recall_target", Status.FAIL, 0.5, 0.95, "recall 0.5 < 0.95", {}),
        )
    )
    clock = ManualClock()
    out, report = recheck_parity(verdict, ParityFindings(Comparison()), s, s, clock=clock)
    assert out is verdict and report == ParityRecheck() and not report.any
    assert clock.sleeps == []
    assert report.to_dict() == {
        "rechecked": {},
        "settled": {},
        "still_differing": {},
        "not_rechecked": {},
        "counts": None,
        "rounds": 0,
    }


def test_a_check_without_records_or_with_too_many_is_left_as_found(store: Callable[..., ExactStore]) -> None:
    s = store(records(range(3)))
    payloads = Check("parity.payloads", Status.FAIL, 2, 0, "2 payloads differ", {"mismatch_count": 2})
    vectors = Check("parity.vectors", Status.FAIL, 200_001, 0, "many differ", {"mismatch_count": 200_001})
    verdict = Verdict(checks=(payloads, vectors))
    findings = ParityFindings(Comparison(), (), {"parity.vectors": "more than 100000 vectors differ"})
    clock = ManualClock()
    out, report = recheck_parity(verdict, findings, s, s, clock=clock)
    assert out.checks == verdict.checks and out.verdict is Status.FAIL
    assert report.any and clock.sleeps == []
    assert report.to_dict() == {
        "rechecked": {},
        "settled": {},
        "still_differing": {},
        "not_rechecked": {
            "parity.payloads": "the check failed without a record to look at again",
            "parity.vectors": "more than 100000 vectors differ",
        },
        "counts": None,
        "rounds": 1,
    }


# -- parity.count and parity.ids: writes in flight ---------------------------------------------------------------
def test_a_write_in_flight_on_the_target_settles_once_the_source_has_it(store: Callable[..., ExactStore]) -> None:
    source = store(records(range(10)))
    target = store(records(range(10)), records([99]))  # the dual-write reached the target first
    verdict, findings, first = scanned(source, target)
    assert {c.id for c in verdict.checks if c.status is Status.FAIL} == {"parity.count", "parity.ids"}
    source.upsert(records([99]))
    clock = ManualClock()
    out, report = recheck_parity(verdict, findings, source, target, clock=clock)

    assert out.verdict is Status.PASS and clock.sleeps == []
    assert report.to_dict() == {
        "rechecked": {"parity.count": 1, "parity.ids": 1},
        "settled": {"parity.ids": [99]},
        "still_differing": {},
        "not_rechecked": {},
        "counts": [11, 11],
        "rounds": 1,
    }
    count = first["parity.count"]
    assert out.check("parity.count") == dataclasses.replace(
        count,
        status=Status.PASS,
        observed=11,
        expected=11,
        message=f"{count.message}; on a re-check both stores hold 11 records (writes in flight during the scan)",
        details={**count.details, "first_look": first_look(count), "recheck": summary(1, [], [], counts=[11, 11])},
    )
    ids = first["parity.ids"]
    assert out.check("parity.ids") == dataclasses.replace(
        ids,
        status=Status.PASS,
        message=f"{ids.message}; on a re-check all 1 {SETTLED_NOTE}",
        details={**ids.details, "first_look": first_look(ids), "recheck": summary(1, [99], [])},
    )
    for check_id in ("parity.vectors", "parity.payloads", "parity.mapping", "parity.sparse"):
        assert out.check(check_id) is first[check_id]


def test_a_count_that_stays_different_fails_after_every_look_and_the_waits_double(
    store: Callable[..., ExactStore],
) -> None:
    source = store(records(range(10)))
    target = CountsOneMore(store(records(range(10))))
    verdict, findings, first = scanned(source, target)
    assert {c.id for c in verdict.checks if c.status is Status.FAIL} == {"parity.count"}
    clock = ManualClock()
    out, report = recheck_parity(verdict, findings, source, target, clock=clock)  # the default looks and waits

    assert clock.sleeps == [2.0, 4.0, 8.0] and clock.now() == 14.0
    assert report.rounds == 4 and report.counts == (10, 11) and report.rechecked == {"parity.count": 1}
    count = first["parity.count"]
    assert out.check("parity.count") == dataclasses.replace(
        count,
        details={**count.details, "first_look": first_look(count), "recheck": summary(4, [], [], counts=[10, 11])},
    )
    assert out.verdict is Status.FAIL


def test_a_source_that_shows_a_write_late_settles_on_a_later_look(store: Callable[..., ExactStore]) -> None:
    source = store(records(range(10)))
    target = store(records(range(10)), records([99]))
    verdict, findings, _ = scanned(source, target)
    clock = WritesWhileWaiting({2: lambda: source.upsert(records([99]))})
    out, report = recheck_parity(verdict, findings, source, target, clock=clock, rounds=5, settle_s=1.5)

    assert clock.sleeps == [1.5, 3.0]  # the write landed during the second wait; the third look settled it
    assert report.rounds == 3 and report.counts == (11, 11)
    assert report.settled == {"parity.ids": [99]} and report.still_differing == {}
    assert out.verdict is Status.PASS
    assert out.check("parity.count").details["recheck"]["counts"] == [11, 11]


def test_a_count_that_evens_out_during_a_wait_is_counted_again(store: Callable[..., ExactStore]) -> None:
    # Only the counts differ: the re-check must count again after each wait, not keep its first counts.
    source = store(records(range(10)))
    target = CountsOneMore(store(records(range(10))))
    verdict, findings, first = scanned(source, target)
    clock = WritesWhileWaiting({1: target.caught_up})
    out, report = recheck_parity(verdict, findings, source, target, clock=clock, rounds=4, settle_s=1.0)
    assert clock.sleeps == [1.0] and report.rounds == 2 and report.counts == (10, 10)
    count = first["parity.count"]
    assert count.observed == 11 and count.expected == 10
    assert out.check("parity.count") == dataclasses.replace(
        count,
        status=Status.PASS,
        observed=10,
        expected=10,
        message=f"{count.message}; on a re-check both stores hold 10 records (writes in flight during the scan)",
        details={**count.details, "first_look": first_look(count), "recheck": summary(2, [], [], counts=[10, 10])},
    )


def test_ids_still_missing_or_extra_are_listed_with_the_namespaces_still_missing(
    store: Callable[..., ExactStore],
) -> None:
    source = store(records([1, 2, 3], namespaces=["a", "", ""]), records(range(5, 10)))
    target = store(records(range(5, 10)), records([97, 98, 99]))  # as many records: parity.count passes
    verdict, findings, first = scanned(source, target)
    assert {c.id for c in verdict.checks if c.status is Status.FAIL} == {"parity.ids"}
    ids = first["parity.ids"]
    assert ids.details["missing_namespaces"] == ["a", "", ""]

    target.upsert(records([2]))  # one missing record arrives,
    target.delete([97])  # one extra record's delete lands; the rest stays as it was
    clock = ManualClock()
    out, report = recheck_parity(verdict, findings, source, target, clock=clock, rounds=2, settle_s=3.0)
    assert clock.sleeps == [3.0]
    assert report.to_dict() == {
        "rechecked": {"parity.ids": 6},
        "settled": {"parity.ids": [2, 97]},
        "still_differing": {"parity.ids": [1, 3, 98, 99]},
        "not_rechecked": {},
        "counts": None,
        "rounds": 2,
    }
    assert ids.details["extra"] == [97, 98, 99] and ids.details["extra_count"] == 3
    assert out.check("parity.ids") == dataclasses.replace(
        ids,
        observed={"missing": 2, "extra": 2},
        message="2 source ids missing on the target, 2 extra ids on the target (re-checked)",
        details={
            **ids.details,
            "first_look": first_look(ids),
            "recheck": summary(2, [2, 97], [1, 3, 98, 99]),
            "missing": [1, 3],
            "extra": [98, 99],
            "missing_count": 2,
            "extra_count": 2,
            "missing_namespaces": ["a", ""],
        },
    )

    target.upsert(records([1], namespaces=["a"]))  # the namespaced record arrives too
    out, _ = recheck_parity(verdict, findings, source, target, clock=ManualClock(), rounds=1)
    details = out.check("parity.ids").details
    assert details["missing"] == [3] and details["extra"] == [98, 99]
    assert "missing_namespaces" not in details  # the first look's list named records no longer missing
    assert out.check("parity.ids").observed == {"missing": 1, "extra": 2}


# -- parity.mapping: points that name no source record ----------------------------------------------------------
def test_a_point_naming_an_unknown_record_settles_only_when_the_source_holds_that_record(
    store: Callable[..., ExactStore],
) -> None:
    mapping = mapping_for("pinecone", "qdrant-edge")
    batch = records(["a", "b", "c"], namespaces=["", "x", ""])
    ghost, early = records(["g"], namespaces=["x"], tag="ghost"), records(["h"], namespaces=[""], tag="early")
    source_store = store(batch)
    target_store = store(mapping.records(batch), mapping.records(ghost), mapping.records(early))
    source = ReportsSchema(source_store, backend="pinecone")
    target = ReportsSchema(target_store, backend="qdrant-edge")
    verdict, findings, first = scanned(source, target)
    assert {c.id for c in verdict.checks if c.status is Status.FAIL} == {"parity.count", "parity.ids", "parity.mapping"}
    g, h = (mapping.target_record(RecordId(ns, pid)).id for ns, pid in (("x", "g"), ("", "h")))
    unknown = first["parity.mapping"]
    assert unknown.observed == 2 and unknown.details["counts"]["unknown"] == 2

    source_store.upsert(early)  # the write of h reaches the source: h settles, g still names nothing
    out, report = recheck_parity(verdict, findings, source, target, clock=ManualClock(), rounds=1)
    assert sorted(report.still_differing["parity.mapping"]) == [g] and report.settled["parity.mapping"] == [h]
    assert report.still_differing["parity.ids"] == [g] and report.settled["parity.ids"] == [h]
    assert out.check("parity.mapping") == dataclasses.replace(
        unknown,
        observed=1,
        message=f"{unknown.message} — 1 points still name no source record on a re-check",
        details={
            **unknown.details,
            "first_look": first_look(unknown),
            "recheck": summary(1, [h], [g]),
            "counts": {"unnamed": 0, "wrong_point_id": 0, "duplicate": 0, "unknown": 1},
            "mismatch_count": 1,
        },
    )
    ids = out.check("parity.ids")
    assert ids.status is Status.FAIL and ids.observed == {"missing": 0, "extra": 1}
    assert ids.details["extra"] == [g] and ids.details["missing"] == [] and "missing_namespaces" not in ids.details
    assert out.check("parity.count").details["recheck"]["counts"] == [4, 5]

    # The point vanished before the re-check: nothing names its source record, so nothing settles it.
    target_store.delete([g])
    out, report = recheck_parity(verdict, findings, source, target, clock=ManualClock(), rounds=1)
    assert {c.id for c in out.checks if c.status is Status.FAIL} == {"parity.ids", "parity.mapping"}
    assert report.still_differing == {"parity.ids": [g], "parity.mapping": [g]}

    # A write in flight: the point came back and the source now holds the record it names.
    target_store.upsert(mapping.records(ghost))
    source_store.upsert(ghost)
    out, report = recheck_parity(verdict, findings, source, target, clock=ManualClock(), rounds=1)
    assert out.verdict is Status.PASS
    assert out.check("parity.mapping").message == f"{unknown.message}; on a re-check all 2 {SETTLED_NOTE}"


# -- parity.vectors: still differing, non-finite values --------------------------------------------------------
def test_vectors_still_differing_and_non_finite_ones_are_listed_apart(
    store: Callable[..., ExactStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The exact store refuses NaN/±Inf; a broken engine might not: let it hold them.
    monkeypatch.setattr("harness.stores.exact.validate_batch", lambda batch, dimension: None)
    clean = records(range(10))
    source_vectors = clean.vectors.copy()
    source_vectors[[1, 2, 3], 1] = np.nan
    target_vectors = clean.vectors.copy()
    target_vectors[4, 0] = np.inf
    target_vectors[5, 2] += 1.0
    target_vectors[6, 2] += 1.0
    source = store(dataclasses.replace(clean, vectors=source_vectors))
    target = store(dataclasses.replace(clean, vectors=target_vectors))
    verdict, findings, first = scanned(source, target)
    vectors = first["parity.vectors"]
    assert vectors.details["non_finite"] == {"source_count": 3, "target_count": 1, "source": [1, 2, 3], "target": [4]}

    target.upsert(clean.take([6]))  # one differing record repaired,
    source.upsert(clean.take([1]))  # and one non-finite record rewritten on both sides
    out, report = recheck_parity(verdict, findings, source, target, clock=ManualClock(), rounds=1)
    assert report.settled == {"parity.vectors": [1, 6, 1]}
    # A NaN or ±Inf record is a finding twice (its vectors differ, and they are not finite): both stay.
    assert report.still_differing == {"parity.vectors": [2, 3, 4, 5, 2, 3, 4]}
    rechecked = out.check("parity.vectors")
    assert rechecked.status is Status.FAIL and rechecked.observed == 4
    assert rechecked.message == f"{vectors.message} — 4 still differ on a re-check"  # records, not its 7 findings
    assert rechecked.details["mismatched"] == [2, 3, 4, 5] and rechecked.details["mismatch_count"] == 4
    assert rechecked.details["non_finite"] == {"source_count": 2, "target_count": 1, "source": [2, 3], "target": [4]}
    assert rechecked.details["first_look"] == first_look(vectors)


def test_a_vector_that_still_differs_is_kept_and_no_non_finite_entry_appears(store: Callable[..., ExactStore]) -> None:
    source = store(records(range(10)))
    target = store(records(range(10)), records([7], shift=0.5), records([8], shift=0.5))
    verdict, findings, first = scanned(source, target)
    target.upsert(records([8]))  # repaired
    out, report = recheck_parity(verdict, findings, source, target, clock=ManualClock(), rounds=1)
    vectors = first["parity.vectors"]
    assert out.check("parity.vectors") == dataclasses.replace(
        vectors,
        observed=1,
        message=f"{vectors.message} — 1 still differ on a re-check",
        details={
            **vectors.details,
            "first_look": first_look(vectors),
            "recheck": summary(1, [8], [7]),
            "mismatched": [7],
            "mismatch_count": 1,
        },
    )
    assert "non_finite" not in out.check("parity.vectors").details
    assert report.rechecked == {"parity.vectors": 2}


# -- how records are fetched -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mapped", [False, True], ids=["same ids", "pinecone to qdrant"])
def test_records_of_a_batch_without_namespaces_are_in_the_uris_namespace(
    store: Callable[..., ExactStore], mapped: bool
) -> None:
    # A store whose batches carry no namespaces (its URI names one): both sides' records are keyed by the
    # mapping's default namespace, or a finding could never settle (or would settle unseen).
    mapping = RecordMapping(pinecone_to_qdrant=mapped, default_namespace="x")
    batch = records(["a", "b"])
    source = store(batch)
    target = store(mapping.records(batch))
    target.upsert(mapping.records(records(["b"], tag="changed")))
    a, b = RecordId("x", "a"), RecordId("x", "b")
    findings = ParityFindings(
        Comparison(mapping),
        tuple(Finding("parity.payloads", "payloads", r, mapping.target_record(r), r.id) for r in (a, b)),
    )
    failing = Check("parity.payloads", Status.FAIL, 2, 0, "2 payloads differ", {"mismatch_count": 2})
    out, report = recheck_parity(Verdict(checks=(failing,)), findings, source, target, clock=ManualClock(), rounds=1)
    assert report.settled == {"parity.payloads": ["a"]} and report.still_differing == {"parity.payloads": ["b"]}
    assert out.check("parity.payloads").details["mismatched"] == ["b"]


def test_many_findings_are_fetched_in_chunks_once_per_side_and_all_settle(store: Callable[..., ExactStore]) -> None:
    n = 2 * FETCH_CHUNK + 88
    source = store(records(range(n)))
    inner = store(records(range(n), shift=0.25))  # an update reached the target first
    verdict, findings, _ = scanned(source, inner)
    assert len(findings.of("parity.vectors")) == n
    source.upsert(records(range(n), shift=0.25))
    source_calls, target = RecordsFetches(source), RecordsFetches(inner)
    out, report = recheck_parity(verdict, findings, source_calls, target, clock=ManualClock())
    assert out.verdict is Status.PASS and report.rounds == 1
    assert len(report.settled["parity.vectors"]) == n
    chunks = [FETCH_CHUNK, FETCH_CHUNK, 88]
    assert source_calls.fetched == chunks and target.fetched == chunks  # no id fetched twice, none one by one
    assert math.fsum(target.fetched) == n
