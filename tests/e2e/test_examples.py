"""Both example configs run with ``ragmig run`` against the demo stack, as the README's "Running the
examples" section shows.

Each test takes ``examples/*.toml`` as a user would and changes only what a shared test machine needs:
its loopback ports (5081, 6333, 9090, 9093) become free ones, its flag file and journal go to a temp
dir, its p99 latency gate is raised to 10 s (a busy test machine is not a slow target), and the stack's
``FAST_VALUES`` are substituted (``python -m harness.deploy.stack --fast``). Then
``DemoStack`` starts what the config names (``ragmig serve-pinecone`` / ``ragmig serve-qdrant`` as child
processes, the application process reading the flag file through the flagd provider, Debian's
``prometheus`` scraping it, ``prometheus-alertmanager``, a steady load) and ``ragmig run --config`` runs
as a child process. Every wait is bounded; nothing here sleeps to decide an outcome.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from harness.deploy import ManagedProcess, free_port, missing_binaries
from harness.deploy.stack import FAST_VALUES, DemoStack, plan_stack, substitute_values
from harness.migration.config import load_config
from harness.migration.flags import WriteMode
from harness.migration.flags_flagd import read_flag_file
from harness.stores.uri import parse_store_uri
from tests.e2e.conftest import wait_for

MISSING = missing_binaries()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"needs Debian's {', '.join(MISSING)} (apt-get install prometheus prometheus-alertmanager)"
)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_PORTS = (5081, 6333, 9090, 9093)
RUN_TIMEOUT_S = 600.0  # a bound, not an expectation: a busy machine sends fewer queries a second


def _distinct_free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _example_config(example: str, root: Path) -> Path:
    """``examples/<example>`` with free ports, temp paths and the stack's fast values; the file's path."""
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    for port, free in zip(EXAMPLE_PORTS, _distinct_free_ports(len(EXAMPLE_PORTS)), strict=True):
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free}")
    values = {table: dict(keys) for table, keys in FAST_VALUES.items()}
    # The example's latency gate (300 / 500 ms) is for a production service; on a shared test machine
    # running other tests beside these, a healthy target's p99 over a dozen canary requests reached 955 ms.
    values["thresholds"]["p99_ms_max"] = 10000
    values[""]["journal"] = str(root / "journal.sqlite")
    values["flags"] = {"path": str(root / "flags.json")}
    config = root / example
    config.write_text(substitute_values(text, values), encoding="utf-8")
    return config


def _events(journal: Path, kind: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT data FROM events WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
    finally:
        db.close()
    return [json.loads(row[0]) for row in rows]


def _qdrant_collection(uri: str) -> Any:
    parsed = parse_store_uri(uri)
    client = QdrantClient(host=parsed.host, port=parsed.port, check_compatibility=False)
    try:
        return client.get_collection(parsed.collection), client.count(parsed.collection, exact=True).count
    finally:
        client.close()


def _run(config: Path, stack: DemoStack, log: Path) -> ManagedProcess:
    argv = [sys.executable, "-m", "harness.cli", "run", "--config", str(config)]
    return ManagedProcess("ragmig-run", argv, log, env=stack.env)


def _wait_exit(controller: ManagedProcess) -> int:
    try:
        return controller.process.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        controller.kill()
        raise AssertionError(f"ragmig run did not finish within {RUN_TIMEOUT_S:g} s:\n{controller.tail()}") from None


@pytest.fixture
def demo_stack(tmp_path: Path) -> Any:
    stacks: list[DemoStack] = []

    def start(config: Path) -> DemoStack:
        stack = DemoStack(plan_stack(config), tmp_path / "stack", records=1500, dimension=32, load_rps=150)
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()


@pytest.mark.parametrize(
    ("example", "hnsw"),
    [("pinecone-to-qdrant.toml", (16, 128)), ("qdrant-to-qdrant.toml", (32, 256))],
)
def test_the_example_config_runs_to_completion_with_ragmig_run_against_the_demo_stack(
    example: str, hnsw: tuple[int, int], tmp_path: Path, demo_stack: Any
) -> None:
    config_path = _example_config(example, tmp_path)
    config = load_config(config_path)
    stack = demo_stack(config_path)
    assert stack.loaded == 1500

    controller = _run(config_path, stack, tmp_path / "run.log")
    code = _wait_exit(controller)

    assert code == 0, controller.tail()
    assert "ragmig run: completed" in controller.log.read_text()
    transitions = _events(stack.journal_path, "transition")
    steps: list[float] = []
    for t in transitions:
        if t["to"] == "canary" and t["read_percent"] > 0 and (not steps or steps[-1] != t["read_percent"]):
            steps.append(t["read_percent"])
    assert steps == [float(s) for s in config.canary.steps]
    assert transitions[-1]["to"] == "completed"
    assert read_flag_file(stack.flags_path) == (100.0, WriteMode.TARGET_ONLY)
    # The canary was judged on the application's traffic as Prometheus scraped it.
    canary = [h for h in _events(stack.journal_path, "health") if str(h.get("check", "")).startswith("canary")]
    assert canary and all(
        h["counted_as"] != "fail" or h["step_failures"] < config.thresholds.failure_limit for h in canary
    )
    assert max(h["requests"] for h in canary) >= config.thresholds.min_samples
    # The target is a collection of the project's Qdrant-compatible server, with the example's index settings.
    info, count = _qdrant_collection(config.target)
    assert count == 1500
    assert (info.config.hnsw_config.m, info.config.hnsw_config.ef_construct) == hnsw
    assert stack.load.failed == 0
    assert stack.exited() == []


def test_a_rollback_of_the_pinecone_example_reaches_the_demo_stacks_alertmanager(
    tmp_path: Path, demo_stack: Any
) -> None:
    config_path = _example_config("pinecone-to-qdrant.toml", tmp_path)
    stack = demo_stack(config_path)
    controller = _run(config_path, stack, tmp_path / "run.log")
    wait_for(lambda: read_flag_file(stack.flags_path)[0] > 0, 120, "the canary's first step in the flag file")

    requested = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "rollback",
            "--journal",
            str(stack.journal_path),
            "--reason",
            "demo drill",
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert requested.returncode == 0, requested.stderr
    assert _wait_exit(controller) == 1
    assert read_flag_file(stack.flags_path)[0] == 0.0
    assert stack.receiver is not None
    (alert, *_) = wait_for(
        lambda: [a for a in stack.receiver.alerts() if a["labels"].get("alertname") == "RagmigRolledBack"],
        30,
        "the rollback alert routed by Alertmanager to the stack's receiver",
    )
    assert alert["status"] == "firing" and alert["labels"]["severity"] == "critical"
    logged = [json.loads(line) for line in (stack.directory / "alerts.jsonl").read_text().splitlines()]
    assert any(a["labels"].get("alertname") == "RagmigRolledBack" for body in logged for a in body["alerts"])
