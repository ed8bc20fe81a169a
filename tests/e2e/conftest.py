"""A ``ragmig run`` stack of real processes on loopback.

Debian's ``prometheus`` scrapes the query-service process every second; Debian's
``prometheus-alertmanager`` routes alerts to a webhook receiver in this process; the query service
(``python -m harness.service``) reads the flagd file through OpenFeature's flagd provider and dual-writes
over the migration's journal; a bounded ``SteadyLoad`` drives it; ``ragmig run`` is the controller.
Stores: two indexes of the project's Pinecone-compatible server (source and target), because the
service process and the controller must both reach them and a Qdrant Edge shard is held by one process.

Without the Debian binaries every test that uses the stack skips with the reason (``.ci/run`` installs
them): the ``monitoring`` fixture skips (a ``pytestmark`` in a conftest marks no test).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.datasets import synthetic_corpus
from harness.deploy import ManagedProcess, free_port, missing_binaries, start_alertmanager, start_prometheus
from harness.deploy.monitoring import reload_prometheus
from harness.load.steady import SteadyLoad
from harness.migration.flags_flagd import read_flag_file
from harness.migration.journal import Event, Journal
from harness.model import CollectionSchema, Distance
from harness.pinecone_local.testing import PineconeServer
from harness.stores.pinecone import PineconeStore

MISSING = missing_binaries()
DIMENSION = 32
CORPUS = 2000
STEPS = [5.0, 25.0, 50.0, 100.0]


class Receiver:
    """Alertmanager's webhook receiver: keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification received so far."""
        return [alert for body in list(self.bodies) for alert in body.get("alerts", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Monitoring:
    """Prometheus and Alertmanager for the module; each run gets its own scrape job."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.receiver = Receiver()
        self.targets: dict[str, str] = {}
        self.prometheus, self.prometheus_url = start_prometheus(root / "prometheus", {})
        self.alertmanager, self.alertmanager_url = start_alertmanager(root / "alertmanager", self.receiver.url)

    def scrape(self, job: str, address: str) -> None:
        self.targets[job] = address
        reload_prometheus(self.prometheus_url, self.root / "prometheus", self.targets)

    def close(self) -> None:
        self.prometheus.stop()
        self.alertmanager.stop()
        self.receiver.close()


@pytest.fixture(scope="module")
def monitoring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitoring]:
    if MISSING:
        pytest.skip(f"needs Debian's {', '.join(MISSING)} (apt-get install prometheus prometheus-alertmanager)")
    stack = Monitoring(tmp_path_factory.mktemp("monitoring"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def pinecone() -> Iterator[tuple[PineconeServer, str]]:
    """The server with a loaded source index; yields it and the source URI."""
    with PineconeServer() as server:
        host = server.index_host("rag-docs")
        store = PineconeStore("rag-docs", host=host, control_host=server.url)
        store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
        for batch in synthetic_corpus(CORPUS, DIMENSION, seed=3, batch_size=500):
            store.upsert(batch)
        store.close()
        yield server, f"pinecone://rag-docs?host={host}"


class LiveRun:
    """One migration on the stack: a fresh target index, flag file, journal, service process and load."""

    def __init__(self, root: Path, monitoring: Monitoring, pinecone: tuple[PineconeServer, str], **changes: Any):
        server, source_uri = pinecone
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = {"PINECONE_CONTROLLER_HOST": server.url}
        name = f"rag-new-{uuid.uuid4().hex[:8]}"
        self.target_uri = f"pinecone://{name}?host={server.index_host(name)}"
        self.flags = root / "flags.json"
        self.journal = root / "journal.sqlite"
        self.job = f"svc-{uuid.uuid4().hex[:6]}"
        self.config = root / "migration.toml"
        # Each check's interval holds two 1 s scrapes; evidence spans up to 30 s.
        canary = {"bake_time_s": 4.0, "health_interval_s": 2.0, "window_s": 30.0, "live_bake_s": 2.0}
        canary.update(changes.pop("canary", {}))
        lines = [
            f'source = "{source_uri}"',
            f'target = "{self.target_uri}"',
            f'name = "{name}"',
            f'journal = "{self.journal}"',
            "batch_size = 500",
            "flag_propagation_s = 1.0",
            "[thresholds]",
            "min_samples = 5",
            # Seconds of 120 requests/s: a 5 % gate at 90 % confidence needs 45 clean canary requests a step.
            "error_rate_max = 0.05",
            "confidence = 0.9",
            "cache_hit_rate_min = 0.0",
            # Latency is the latency game days' subject, not these tests': on a shared 2-core machine running
            # other tests beside them, a healthy target's p99 over a dozen canary requests reached 955 ms.
            "p99_ms_max = 10000",
            'no_data_policy = "hold"',
            "max_hold_s = 30",
            "failure_limit = 3",
            "[canary]",
            f"steps = {STEPS}",
            *(f"{k} = {v}" for k, v in canary.items()),
            "[shadow]",
            "queries = 20",
            "[warm_up]",
            "enabled = false",
            "[verification]",
            "queries = 20",
            "k = 5",
            "recheck_rounds = 1",
            "recheck_settle_s = 0.0",
            "[flags]",
            'provider = "flagd-file"',
            f'path = "{self.flags}"',
            "[metrics]",
            'provider = "prometheus"',
            f'url = "{monitoring.prometheus_url}"',
            f"selector = 'job=\"{self.job}\"'",
            "scrape_interval_s = 1.0",
            "step_s = 2.0",
            "[[alerts]]",
            'type = "alertmanager"',
            f'url = "{monitoring.alertmanager_url}"',
        ]
        self.config.write_text("\n".join(lines) + "\n")
        # The controller writes the flag file; the application needs one to start from (0 %, source only).
        from harness.migration.flags_flagd import FlagdFileFlags

        FlagdFileFlags(self.flags)
        # The target index exists before the application mirrors writes to it (the controller would create it).
        target = PineconeStore(name, host=server.index_host(name), control_host=server.url)
        target.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
        target.close()
        self.port = free_port()
        self.service = ManagedProcess(
            "query-service",
            [
                sys.executable,
                "-m",
                "harness.service",
                "--source",
                source_uri,
                "--target",
                self.target_uri,
                "--flags",
                str(self.flags),
                "--journal",
                str(self.journal),
                "--port",
                str(self.port),
                "--fault-injection",
                "--flag-poll-ms",
                "100",
                "--cache-size",
                "0",  # every query reaches the store: users see what the store does
            ],
            root / "service.log",
            env=self.env,
        ).wait_ready(f"http://127.0.0.1:{self.port}/healthz")
        monitoring.scrape(self.job, f"127.0.0.1:{self.port}")
        self.load = SteadyLoad(f"http://127.0.0.1:{self.port}", rate_per_s=120, threads=4).start()
        self.controllers: list[ManagedProcess] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, resume: bool = False) -> ManagedProcess:
        """``ragmig run --config ...`` as a child process."""
        argv = [sys.executable, "-m", "harness.cli", "run", "--config", str(self.config)]
        controller = ManagedProcess(
            "ragmig-run",
            [*argv, "--resume"] if resume else argv,
            self.root / f"run-{len(self.controllers)}.log",
            env=self.env,
        )
        self.controllers.append(controller)
        return controller

    def wait_exit(self, controller: ManagedProcess, timeout_s: float = 120.0) -> int:
        try:
            return controller.process.wait(timeout=timeout_s)
        except Exception:
            controller.kill()
            raise AssertionError(f"ragmig run did not finish within {timeout_s:g} s:\n{controller.tail()}") from None

    def flag_percent(self) -> float:
        return read_flag_file(self.flags)[0]

    def events(self, kind: str | None = None) -> list[Event]:
        """The journal's events, read without writing (the controller holds the journal)."""
        if not self.journal.exists():
            return []
        db = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=5)
        try:
            sql = "SELECT seq, at, kind, data FROM events" + (" WHERE kind = ?" if kind else "") + " ORDER BY seq"
            rows = db.execute(sql, (kind,) if kind else ()).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()
        return [Event(seq=r[0], at=r[1], kind=r[2], data=json.loads(r[3])) for r in rows]

    def state(self) -> Any:
        with Journal(self.journal) as journal:
            return journal.state()

    def close(self) -> None:
        self.load.stop()
        for controller in self.controllers:
            controller.kill()
        self.service.stop()


def wait_for(condition: Any, timeout_s: float, what: str, poll_s: float = 0.05) -> Any:
    """Poll ``condition()`` until it returns something truthy (bounded); the value it returned."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)  # polling an outside process's progress, bounded by timeout_s
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


@pytest.fixture
def live_run(tmp_path: Path, monitoring: Monitoring, pinecone: tuple[PineconeServer, str]) -> Iterator[Any]:
    runs: list[LiveRun] = []

    def make(**changes: Any) -> LiveRun:
        run = LiveRun(tmp_path / f"run{len(runs)}", monitoring, pinecone, **changes)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()
