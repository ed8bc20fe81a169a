"""The engine's inputs: how many local workers ``--workers`` means, and a ``--cluster`` nobody answers."""

from __future__ import annotations

import socket

import pytest

from harness.errors import UsageError
from harness.parallel import engine
from harness.parallel.engine import AUTO_MIN_RECORDS, check_cluster, hash_seed_env, resolve_workers


def test_auto_stays_in_process_below_the_threshold_and_uses_the_cores_from_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 8)
    assert resolve_workers("auto", AUTO_MIN_RECORDS - 1) == 1
    assert resolve_workers(None, AUTO_MIN_RECORDS) == engine.MAX_AUTO_WORKERS  # at most 4
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 1)
    assert resolve_workers("auto", AUTO_MIN_RECORDS) == 2  # a cluster of one worker would only add cost


@pytest.mark.parametrize(("given", "expected"), [("1", 1), (3, 3), ("2", 2)])
def test_a_count_is_taken_as_given(given: int | str, expected: int) -> None:
    assert resolve_workers(given, 0) == expected


@pytest.mark.parametrize(("given", "says"), [("0", "at least 1"), (-2, "at least 1"), ("two", "number of worker")])
def test_a_bad_count_is_a_usage_error(given: int | str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        resolve_workers(given, 10**9)


def test_the_hash_seed_is_the_one_set_else_the_dask_workers_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "123")
    assert hash_seed_env() == {"PYTHONHASHSEED": "123"}
    for unset in ("random", ""):
        monkeypatch.setenv("PYTHONHASHSEED", unset)
        assert hash_seed_env() == {"PYTHONHASHSEED": engine.HASH_SEED}


@pytest.mark.slow
def test_a_cluster_address_nobody_answers_is_a_usage_error_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(UsageError, match=f"--cluster tcp://127.0.0.1:{port}: no Dask scheduler answered"):
        check_cluster(f"tcp://127.0.0.1:{port}")


def test_auto_stays_in_process_when_this_process_hashes_at_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local cluster's workers could not make the keys of a process with a random hash seed: "auto"
    then runs in process (an explicit count is refused instead, see tests/verify/test_partitioned.py)."""
    from harness.datasets import synthetic_corpus
    from harness.model import CollectionSchema, Distance
    from harness.stores.exact import ExactStore
    from harness.verify import VerificationRun

    monkeypatch.setattr(engine, "AUTO_MIN_RECORDS", 0)  # auto would start a cluster for any pair
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    stores = ExactStore("auto-source"), ExactStore("auto-target")
    for store in stores:
        store.create(CollectionSchema(8, Distance.COSINE))
        for batch in synthetic_corpus(50, 8, seed=3, batch_size=50):
            store.upsert(batch)
    with VerificationRun(*stores, queries=5, workers="auto") as run:
        assert run.parallel is None
        assert run.verdict().verdict.value == "pass"
