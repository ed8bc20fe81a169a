"""``ragmig migrate`` killed with SIGKILL at seeded points of its progress, then resumed: the target ends
identical to the source, and no work before the last checkpoint is redone.

Kills are placed by observed progress, never by sleeping: the test watches the journal's checkpoint and,
once it reaches the trial's seeded target, freezes the child with SIGSTOP (so the point where it dies is
read back exactly) and then kills it with SIGKILL. Wherever the child was frozen — inside an upsert,
between an upsert and its checkpoint, in a commit — is where the crash lands. Targets lie in the first
half of the copy, so a slow or busy machine changes only how long the test waits, not where kills land.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.migration.journal import Journal
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores import open_store
from harness.stores.base import iter_batches

RECORDS = 50_000
BATCH = 500
KILLS = 5
REPO = Path(__file__).resolve().parents[2]


def _build_source(path: Path) -> None:
    store = open_store(f"qdrant-edge://{path}")
    store.create(CollectionSchema(dimension=16, distance=Distance.COSINE))
    rng = np.random.default_rng(11)
    for start in range(0, RECORDS, 10_000):
        ids = range(start, start + 10_000)
        store.upsert(RecordBatch.build(ids, rng.normal(size=(10_000, 16)), [{"g": i % 7, "s": f"t{i}"} for i in ids]))
    store.close()


def _done(journal: Path) -> int:
    """Records in the checkpoint, read without writing (the child holds the journal)."""
    if not journal.exists():
        return 0
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT done FROM checkpoints WHERE name = 'backfill'").fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        db.close()
    return int(row[0]) if row else 0


def _ids(uri: str) -> list[int]:
    store = open_store(uri)
    try:
        return sorted(int(i) for batch in iter_batches(store, 2000) for i in batch.ids)
    finally:
        store.close()


@pytest.mark.slow
def test_sigkill_at_seeded_progress_points_then_resume_ends_identical(tmp_path: Path) -> None:
    source_uri = f"qdrant-edge://{tmp_path / 'source'}"
    # A high indexing threshold: no HNSW build, so optimize is quick; the copy is what gets killed.
    target_uri = f"qdrant-edge://{tmp_path / 'target'}?indexing_threshold=1000000"
    journal = tmp_path / "journal.sqlite"
    _build_source(tmp_path / "source")
    rng = random.Random(20240605)
    # Seeded kill points in the first half of the copy, one per trial, increasing (a batch apart at least).
    targets = sorted(rng.sample(range(2, RECORDS // (2 * BATCH)), KILLS))
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "migrate",
        "--source",
        source_uri,
        "--target",
        target_uri,
        "--journal",
        str(journal),
        "--batch-size",
        str(BATCH),
        "--json",
        str(tmp_path / "verdict.json"),
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    kills: list[tuple[int, int]] = []  # (checkpoint before the run, checkpoint after the kill)
    for trial in range(KILLS):
        before = _done(journal)
        child = subprocess.Popen(
            command + (["--resume"] if trial else []),
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        target = max(targets[trial] * BATCH, before + BATCH)
        # Poll the checkpoint (a bounded wait for a real process, not an outcome) until this run has reached
        # its kill point, then freeze the child at once and kill it where it stands.
        deadline = time.monotonic() + 300
        while _done(journal) < target and child.poll() is None:
            assert time.monotonic() < deadline, f"trial {trial}: the copy made no progress to {target} records"
            time.sleep(0.005)
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else "the child exited early"
        child.send_signal(signal.SIGSTOP)
        landed = _done(journal)  # exact: the child is frozen
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        if child.stderr:
            child.stderr.close()
        kills.append((before, landed))
    # Every kill landed mid-copy, after the run's own kill point (progress, not time, placed it).
    assert all(target * BATCH <= after < RECORDS for (_, after), target in zip(kills, targets, strict=True)), kills

    final = subprocess.run([*command, "--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "resuming from the checkpoint" in final.stdout
    assert json.loads((tmp_path / "verdict.json").read_text())["verdict"] == "pass"

    # The target is the source: no missing point, no duplicate, nothing extra.
    assert _ids(target_uri) == _ids(source_uri) == list(range(RECORDS))
    with Journal(journal) as jnl:
        checkpoint = jnl.checkpoint()
        finished = [e.data for e in jnl.events("info") if e.data.get("message") == "backfill finished"]
    assert checkpoint.done == RECORDS and checkpoint.status == "optimized"
    # Work before each kill's last checkpoint was not redone: at most the batch in flight per kill.
    assert checkpoint.attempted <= RECORDS + BATCH * len(kills), (checkpoint.attempted, kills)
    # The last run started from the checkpoint the last kill left, not from the first record.
    assert finished[-1]["resumed_from"] == kills[-1][1] > 0
