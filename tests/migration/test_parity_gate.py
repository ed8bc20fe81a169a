"""The parity gate before live and completed, and the read-your-writes probes: silent drops block and are
replayed; writes in flight, writes queued in the outbox and a healthy target do not block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.assembly import build_collection_parity
from harness.faults import FaultPlan
from harness.migration.orchestrator import Phase
from harness.records import RecordId
from tests.migration.conftest import records
from tests.migration.test_orchestrator import Setup


@pytest.fixture
def setup(exact_pair: Any, tmp_path: Path) -> Any:
    made: list[Setup] = []

    def make(**kwargs: Any) -> Setup:
        s = Setup(exact_pair, tmp_path / f"s{len(made)}", **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def _decisions(s: Setup, name: str) -> list[dict[str, Any]]:
    return [e.data for e in s.journal.events("decision") if e.data["decision"] == name]


def test_a_healthy_target_passes_the_gate_before_live_and_before_completed(setup: Any) -> None:
    s = setup(parity_gate={"sample": 5000})  # more than the source holds: every record is compared
    assert s.orchestrator(collection_parity=build_collection_parity(s.config, s.clock)).run() is Phase.COMPLETED
    passed = _decisions(s, "parity gate passed")
    assert [d["before"] for d in passed] == ["before live", "before completed"]
    assert all(d["read_back"]["checked"] == len(set(s.traffic.acknowledged)) for d in passed[-1:])
    assert passed[0]["collection"]["scope"].startswith("every record")
    probes = [e.data["probe"] for e in s.journal.events("health") if e.data.get("probe")]
    assert probes and all(p["dropped"] == 0 for p in probes) and sum(p["checked"] for p in probes) > 0


def test_a_dropped_write_found_by_a_probe_blocks_lists_replays_and_alerts(setup: Any) -> None:
    s = setup(faulty_target=True, parity_gate={"replay_rounds": 5})

    def drop_from_25(now: float, percent: float) -> None:
        if percent >= 25 and not s.target.plan.drop_write_rate:
            s.target.set_faults(drop_write_rate=0.5)

    s.traffic.when = drop_from_25  # type: ignore[assignment]
    assert s.orchestrator().run() is Phase.BLOCKED
    (blocked,) = _decisions(s, "blocked")
    dropped = sorted(set(s.target.dropped_ids))
    assert sorted(blocked["ids"]) == dropped and dropped
    assert "read-your-writes probe" in blocked["trigger"] and blocked["still_differ"] == []
    assert s.flags.read_percent() == 0.0 and str(s.flags.write_mode()) == "dual_source_first"
    assert s.sink.alerts[-1].title == "acknowledged writes missing on the target"
    assert set(s.inner_target.fetch(dropped).ids) == set(dropped)  # replayed from the source
    assert any(e.data.get("fault") == "silent_drop" for e in s.journal.events("fault"))


def test_a_dropped_delete_is_found_and_replayed_as_a_delete(setup: Any) -> None:
    s = setup(faulty_target=True, parity_gate={"probes_per_check": 0})
    orchestrator = s.orchestrator()
    assert orchestrator.run(stop_at=Phase.LIVE) is Phase.LIVE
    s.target.set_faults(drop_write_rate=1.0)
    s.writer.delete([5, 6])  # target-first: "acknowledged" by a target that ignores it, applied on the source
    s.target.clear()
    assert orchestrator.run() is Phase.BLOCKED
    (blocked,) = _decisions(s, "blocked")
    assert sorted(blocked["ids"]) == [5, 6] and blocked["before"] == "before completed"
    assert blocked["read_back"]["extra"] == [5, 6]
    assert len(s.inner_target.fetch([5, 6])) == 0


def test_writes_queued_in_the_outbox_are_known_not_silent(setup: Any) -> None:
    s = setup(faulty_target=True, parity_gate={"probes_per_check": 0})
    orchestrator = s.orchestrator()
    assert orchestrator.run(stop_at=Phase.CANARY) is Phase.CANARY
    with s.target.faults(write_error_rate=1.0):
        s.writer.upsert(records([900_001, 900_002]))  # the target refuses: queued in the outbox
        assert s.journal.outbox.size("target") == 1
        found = orchestrator._read_back([RecordId("", 900_001), RecordId("", 900_002)])
    assert found.dropped == () and {r.id for r in found.pending} == {900_001, 900_002}


def test_a_write_in_flight_settles_and_does_not_block(setup: Any) -> None:
    s = setup(faulty_target=True, verification={"recheck_rounds": 3, "recheck_settle_s": 2.0})
    orchestrator = s.orchestrator()
    assert orchestrator.run(stop_at=Phase.CANARY) is Phase.CANARY
    s.target.set_faults(FaultPlan(read_lag_s=3.0))  # the target shows its writes 3 s late
    s.writer.upsert(records([910_000]))
    found = orchestrator._read_back([RecordId("", 910_000)])
    assert found.dropped == ()  # seen as missing at first, present after the settle waits (2 + 4 s)
    s.target.clear()


def test_a_record_lost_outside_the_write_log_is_found_by_the_collection_parity(setup: Any) -> None:
    s = setup(parity_gate={"probes_per_check": 0})
    orchestrator = s.orchestrator(collection_parity=build_collection_parity(s.config, s.clock))
    assert orchestrator.run(stop_at=Phase.LIVE) is Phase.LIVE
    s.inner_target.delete([17])  # a backfilled record the target lost: no acknowledged write names it
    assert orchestrator.run() is Phase.BLOCKED
    (blocked,) = _decisions(s, "blocked")
    assert blocked["ids"] == [17] and blocked["collection"]["missing"] == [17]
    assert blocked["read_back"]["dropped"] == 0
    assert len(s.inner_target.fetch([17])) == 1


def test_a_large_source_is_sampled_at_each_gate_and_lost_records_in_the_sample_block(setup: Any) -> None:
    s = setup(parity_gate={"probes_per_check": 0, "sample": 40})
    held = s.source.count()
    assert held > 40
    check = build_collection_parity(s.config, s.clock)
    if not s.inner_target.exists():
        s.inner_target.create(s.source.describe())
    s.inner_target.upsert(s.source.fetch(list(range(held))))  # a faithful copy
    healthy = check(s.source, s.inner_target)
    assert healthy.scope.startswith(f"a random sample of 40 of {held:,} source records") and not healthy.missing
    assert all(c.status == "pass" for c in healthy.checks if c.id in ("parity.count", "parity.ids"))
    # Every record but one lost: each sample of 40 finds lost ones, names only lost ones, and the counts fail.
    s.inner_target.delete([pid for pid in range(held) if pid != 17])
    lost = check(s.source, s.inner_target)
    missing = {r.id for r in lost.missing}
    assert missing and 17 not in missing and len(missing) <= 40
    assert next(c for c in lost.checks if c.id == "parity.count").status == "fail"


def test_the_gate_off_lets_a_dropped_write_through_and_says_so(setup: Any) -> None:
    s = setup(faulty_target=True, parity_gate={"enabled": False})

    def drop_from_50(now: float, percent: float) -> None:
        if percent >= 50:
            s.target.set_faults(drop_write_rate=0.5)

    s.traffic.when = drop_from_50  # type: ignore[assignment]
    assert s.orchestrator().run() is Phase.COMPLETED
    assert [d["before"] for d in _decisions(s, "parity gate skipped")] == ["before live", "before completed"]
    assert s.target.dropped_ids  # lost, unnoticed: what the gate is for
