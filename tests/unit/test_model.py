import json

import numpy as np
import pytest

from harness.model import Check, Distance, RecordBatch, Status, Verdict


def test_distance_parses_vendor_names() -> None:
    assert Distance.parse("Cosine") is Distance.COSINE
    assert Distance.parse("dotproduct") is Distance.DOT
    assert Distance.parse("euclidean") is Distance.EUCLID
    assert Distance.parse("Euclid") is Distance.EUCLID
    with pytest.raises(ValueError, match="unknown distance"):
        Distance.parse("hamming")


def test_record_batch_rejects_misaligned_parts() -> None:
    with pytest.raises(ValueError, match="2 ids"):
        RecordBatch(ids=(1, 2), vectors=np.zeros((3, 4), dtype=np.float32), payloads=({}, {}))
    with pytest.raises(ValueError, match="payloads"):
        RecordBatch(ids=(1, 2), vectors=np.zeros((2, 4), dtype=np.float32), payloads=({},))


def test_record_batch_take_slice_concat_keep_alignment() -> None:
    batch = RecordBatch.build(["a", "b", "c"], np.arange(6).reshape(3, 2), [{"i": 0}, {"i": 1}, None], ["x", "y", "z"])
    assert batch.vectors.dtype == np.float32
    assert batch.payloads[2] == {}
    taken = batch.take([2, 0])
    assert taken.ids == ("c", "a") and taken.namespaces == ("z", "x")
    assert taken.vectors.tolist() == [[4.0, 5.0], [0.0, 1.0]]
    joined = RecordBatch.concat([batch.slice(0, 1), batch.slice(1, 3)])
    assert joined.ids == batch.ids and joined.namespaces == batch.namespaces
    assert np.array_equal(joined.vectors, batch.vectors)


def test_verdict_fails_when_any_check_fails_and_round_trips() -> None:
    checks = (
        Check("parity.count", Status.PASS, 10, 10),
        Check("parity.ids", Status.FAIL, 9, 10, "1 missing", {"missing_count": 1, "missing": ["x"]}),
        Check("schema.hnsw", Status.WARN, {"m": 4}, {"m": 16}),
    )
    verdict = Verdict(checks=checks, source={"uri": "exact://a"}, duration_s=1.23456)
    assert verdict.verdict is Status.FAIL and not verdict.passed
    data = json.loads(verdict.to_json())
    assert data["verdict"] == "fail"
    assert [c["id"] for c in data["checks"]] == ["parity.count", "parity.ids", "schema.hnsw"]
    assert set(data) == {
        "schema_version",
        "tool",
        "started_at",
        "finished_at",
        "verdict",
        "source",
        "target",
        "thresholds",
        "accepted",
        "checks",
        "duration_s",
    }
    assert data["schema_version"] == 2 and data["tool"]["name"] == "ragmig"
    assert set(data["checks"][0]) == {"id", "status", "observed", "expected", "message", "details"}
    assert Verdict.from_dict(data).check("parity.ids").details["missing_count"] == 1
    assert Verdict(checks=checks[::2]).passed


@pytest.mark.parametrize(
    ("checks", "incomplete", "expected"),
    [
        ((), None, Status.ERROR),  # zero checks is never a pass
        ((Check("a", Status.SKIP),), None, Status.PASS),
        ((Check("a", Status.PASS), Check("b", Status.ERROR, message="store died")), None, Status.ERROR),
        ((Check("a", Status.FAIL), Check("b", Status.ERROR)), None, Status.ERROR),  # error outranks fail
        ((Check("a", Status.PASS),), "checks parity.* did not run", Status.ERROR),
        ((Check("a", Status.PASS), Check("b", Status.WARN)), None, Status.PASS),
        ((Check("a", Status.PASS), Check("b", Status.FAIL)), None, Status.FAIL),
    ],
)
def test_verdict_is_error_when_the_run_is_incomplete(
    checks: tuple[Check, ...], incomplete: str | None, expected: Status
) -> None:
    verdict = Verdict(checks=checks, incomplete=incomplete)
    assert verdict.verdict is expected
    assert verdict.passed is (expected is Status.PASS)
    assert verdict.exit_code == {Status.PASS: 0, Status.FAIL: 1, Status.ERROR: 2}[expected]
    again = Verdict.from_dict(json.loads(verdict.to_json()))
    assert again.verdict is expected and again.incomplete == incomplete


def test_check_json_is_safe_for_numpy_and_nan() -> None:
    check = Check("quality.overlap", Status.PASS, np.float32(0.5), float("nan"), details={"per_query": np.arange(3)})
    data = check.to_dict()
    assert data["observed"] == 0.5 and data["expected"] is None and data["details"]["per_query"] == [0, 1, 2]
    json.dumps(data, allow_nan=False)
