"""The orchestrator's verification gate (``verify/gate.py`` ``make_verifier``) pinned, so a one-line bug fails
a test (``make mutation``): its defaults (200 queries, recall@10, latency measured, four looks with waits
doubling from 2 s), the re-check on the injected clock through the injected call wrapper, a thresholds
file read again on each run, and payload indexes joined with the thresholds' own.

Time is a ManualClock: the re-check's waits are recorded, never slept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.model import CollectionSchema, Distance, RecordBatch, Status
from harness.stores.exact import ExactStore
from harness.verify import Thresholds, make_verifier

RECORDS = 250  # more than the 200 queries a verifier samples by default


def _store(name: str, *, changed: bool = False) -> ExactStore:
    store = ExactStore(name)
    store.create(CollectionSchema(8, Distance.COSINE))
    payloads = [{"doc": f"d{i}"} for i in range(RECORDS)]
    if changed:
        payloads[7] = {"doc": "changed"}  # a real difference: it stays at every look
    store.upsert(RecordBatch.build(range(RECORDS), np.random.default_rng(0).standard_normal((RECORDS, 8)), payloads))
    return store


@pytest.fixture
def pair() -> Iterator[tuple[ExactStore, ExactStore]]:
    source, target = _store("gate-source"), _store("gate-target", changed=True)
    yield source, target
    source.drop()
    target.drop()


class Calls:
    """A call wrapper (what a retry policy would be) that counts the store calls it carries."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return fn(*args, **kwargs)


def test_the_defaults_sample_200_queries_at_k_10_measure_latency_and_look_four_times(
    pair: tuple[ExactStore, ExactStore],
) -> None:
    source, target = pair
    clock, calls = ManualClock(), Calls()
    verdict = make_verifier(clock=clock, call=calls)(source, target)
    payloads = verdict.check("parity.payloads")
    assert payloads.status is Status.FAIL
    recheck = payloads.details["recheck"]
    assert (recheck["rounds"], recheck["still_differing"], recheck["settled"]) == (4, [7], [])
    assert clock.sleeps == [2.0, 4.0, 8.0] and clock.now() == 14.0  # waits doubling from 2 s, on this clock
    assert calls.count == 8  # each look fetches the record from both stores through the wrapper
    recall = verdict.check("quality.recall_target")
    assert recall.details["queries"] == 200 and recall.message.startswith("target recall@10 ")
    assert verdict.check("latency.p99").status is not Status.SKIP
    assert verdict.check("latency.p99").details["target"]["n"] == 200


def test_rounds_settle_and_latency_are_the_callers(pair: tuple[ExactStore, ExactStore]) -> None:
    source, target = pair
    clock = ManualClock()
    verdict = make_verifier(7, 3, clock=clock, rounds=3, settle_s=0.5, measure_latency=False)(source, target)
    assert clock.sleeps == [0.5, 1.0]
    assert verdict.check("parity.payloads").details["recheck"]["rounds"] == 3
    assert verdict.check("quality.recall_target").details["queries"] == 7
    assert verdict.check("quality.recall_target").message.startswith("target recall@3 ")
    assert {verdict.check(c).status for c in ("latency.p50", "latency.p99")} == {Status.SKIP}


def test_a_faithful_copy_is_not_looked_at_again(pair: tuple[ExactStore, ExactStore]) -> None:
    source, _ = pair
    clock, calls = ManualClock(), Calls()
    verdict = make_verifier(5, clock=clock, call=calls, measure_latency=False)(source, source)
    assert verdict.verdict == "pass" and clock.sleeps == [] and calls.count == 0


@pytest.mark.parametrize("as_path", [False, True])
def test_a_thresholds_file_is_read_again_on_each_run(
    pair: tuple[ExactStore, ExactStore], tmp_path: Path, as_path: bool
) -> None:
    source, _ = pair
    file = tmp_path / "gates.toml"
    file.write_text("recall_target_min = 0.5\nrecall_max_drop = 0.5\n", encoding="utf-8")
    verify = make_verifier(5, thresholds=file if as_path else str(file), clock=ManualClock(), measure_latency=False)
    assert verify(source, source).check("quality.recall_target").expected == 0.5
    file.write_text("recall_target_min = 0.75\nrecall_max_drop = 0.5\n", encoding="utf-8")
    assert verify(source, source).check("quality.recall_target").expected == 0.75


def test_payload_indexes_join_the_thresholds_own(pair: tuple[ExactStore, ExactStore], tmp_path: Path) -> None:
    source, _ = pair
    own = Thresholds(payload_indexes={"doc": "keyword"}, recall_target_min=0.6, recall_max_drop=0.5)
    verify = make_verifier(
        5, thresholds=own, clock=ManualClock(), measure_latency=False, payload_indexes={"year": "integer"}
    )
    verdict = verify(source, source)
    check = verdict.check("schema.payload_indexes")
    assert check.status is Status.WARN and check.details["required"] == {"doc": "keyword", "year": "integer"}
    assert check.details["missing"] == ["doc", "year"]
    assert verdict.check("quality.recall_target").expected == 0.6  # the rest of the thresholds kept
    assert own.payload_indexes == {"doc": "keyword"}  # the caller's thresholds are not changed
    defaults = make_verifier(5, clock=ManualClock(), measure_latency=False, payload_indexes={"year": "integer"})
    assert defaults(source, source).check("schema.payload_indexes").details["required"] == {"year": "integer"}
    file = tmp_path / "gates.toml"
    file.write_text('payload_indexes = {doc = "keyword"}\n', encoding="utf-8")
    from_file = make_verifier(
        5, thresholds=file, clock=ManualClock(), measure_latency=False, payload_indexes={"year": "integer"}
    )
    assert from_file(source, source).check("schema.payload_indexes").details["required"] == {
        "doc": "keyword",
        "year": "integer",
    }
    plain = make_verifier(5, thresholds=own, clock=ManualClock(), measure_latency=False)(source, source)
    assert plain.check("schema.payload_indexes").details["required"] == {"doc": "keyword"}
