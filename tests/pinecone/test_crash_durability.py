"""``ragmig serve-pinecone --data-dir`` killed with SIGKILL while several threads upsert through the real SDK:
after each restart, every upsert the server answered 200 to is there, with its values and its metadata.

Kills are placed by observed progress, never by sleeping: the test counts the acknowledged upserts of the
running trial and kills the server the moment that count reaches the trial's seeded target, while the
writer threads still have requests in flight. What was in flight may or may not be there; what was
acknowledged must be (the mutation log is synced before the response).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pinecone import Index, Pinecone, ServerlessSpec

REPO = Path(__file__).resolve().parents[2]
KILLS = 10
WRITERS = 4
BATCH = 40
DIMENSION = 16
KEY = "crash-test-key"
INDEX = "crash"


@dataclass(frozen=True, slots=True)
class Acked:
    """One upsert the server answered 200 to."""

    ids: tuple[str, ...]
    values: np.ndarray
    metadata: tuple[dict[str, object], ...]


@contextmanager
def _server(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The real command in a subprocess; yields it and its URL once it listens."""
    cmd = [sys.executable, "-m", "harness.cli", "serve-pinecone", "--port", "0", "--data-dir", str(data_dir)]
    env = {**os.environ, "RAGMIG_PINECONE_SERVER_KEY": KEY, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()  # printed once the log is replayed and the port bound
        match = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert match, banner + proc.stderr.read()
        yield proc, f"http://127.0.0.1:{match.group(1)}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def _check_all_present(url: str, acked: list[Acked]) -> int:
    """Every acknowledged record is there with its values and metadata; returns how many were checked."""
    index = Index(host=f"{url}/data/{INDEX}", api_key=KEY)
    checked = 0
    try:
        for batch in acked:
            found = index.fetch(ids=list(batch.ids)).vectors
            missing = [i for i in batch.ids if i not in found]
            assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:3]}"
            for row, record_id in enumerate(batch.ids):
                got = found[record_id]
                np.testing.assert_array_equal(np.asarray(got.values, dtype=np.float32), batch.values[row])
                expected = {k: float(v) if isinstance(v, int) else v for k, v in batch.metadata[row].items()}
                assert got.metadata == expected, record_id
                checked += 1
    finally:
        index.close()
    return checked


def _writer(url: str, trial: int, writer: int, acked: list[Acked], lock: threading.Lock, stop: threading.Event) -> None:
    """Upsert batches until the server dies (or ``stop``); record each batch the server acknowledged."""
    rng = np.random.default_rng([trial, writer])
    index = Index(host=f"{url}/data/{INDEX}", api_key=KEY)
    try:
        batch_no = 0
        while not stop.is_set():
            ids = tuple(f"t{trial}-w{writer}-b{batch_no}-{i}" for i in range(BATCH))
            values = rng.normal(size=(BATCH, DIMENSION)).astype(np.float32)
            metadata = tuple(
                {"trial": trial, "writer": writer, "text": f"r{i}", "tags": ["a", f"b{i}"]} for i in range(BATCH)
            )
            try:
                index.upsert(
                    vectors=[
                        {"id": i, "values": v.tolist(), "metadata": m}
                        for i, v, m in zip(ids, values, metadata, strict=True)
                    ]
                )
            except Exception:  # the server was killed under this request: not acknowledged, stop writing
                return
            with lock:
                acked.append(Acked(ids, values, metadata))
            batch_no += 1
    finally:
        index.close()


@pytest.mark.slow
def test_sigkill_during_concurrent_upserts_loses_no_acknowledged_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK retries a refused connection with backoff; a dead server should end a writer at once.
    import pinecone._internal.http_client as http_client

    monkeypatch.setattr(http_client, "_retry_sleep", lambda _seconds: None)
    data_dir = tmp_path / "data"
    rng = random.Random(20261130)
    acked: list[Acked] = []
    lock = threading.Lock()
    kills: list[tuple[int, int]] = []  # (acknowledged batches this trial when killed, records checked after)
    for trial in range(KILLS):
        with _server(data_dir) as (proc, url):
            if trial == 0:
                pc = Pinecone(api_key=KEY, host=url)
                pc.create_index(
                    name=INDEX,
                    dimension=DIMENSION,
                    metric="cosine",
                    spec=ServerlessSpec(cloud="aws", region="us-east-1"),
                )
                pc.close()
            checked = _check_all_present(url, acked)
            before = len(acked)
            target = before + rng.randint(3, 12)
            stop = threading.Event()
            threads = [
                threading.Thread(target=_writer, args=(url, trial, w, acked, lock, stop), daemon=True)
                for w in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            # Poll the acknowledged count (a bounded wait for real I/O, not an outcome), then kill at once.
            deadline = time.monotonic() + 120
            while len(acked) < target:
                assert time.monotonic() < deadline and proc.poll() is None, f"trial {trial}: no progress"
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
                assert not thread.is_alive()
            kills.append((len(acked) - before, checked))
    with _server(data_dir) as (proc, url):
        total = _check_all_present(url, acked)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert len(kills) == KILLS and all(batches >= 3 for batches, _ in kills), kills
    assert total == len(acked) * BATCH > 0
    # The clean shutdown compacted the log into snapshots; a last start from them alone still has it all.
    with _server(data_dir) as (proc, url):
        assert _check_all_present(url, acked) == total
