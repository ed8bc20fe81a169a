"""``ragmig demo`` (``make demo``): the main job end to end on the embedded default, with nothing to install.

1. A Pinecone-compatible server in this process holds a synthetic RAG corpus (20 000 × 128, cosine, two
   namespaces), written and read through the real ``pinecone`` SDK.
2. The full orchestrated migration into a Qdrant Edge shard — dual-write, backfill, verification,
   shadow reads, warm-up, the 5 → 25 → 50 → 100 % canary with health checks, live, completed — while
   locust users query the RAG query service over loopback HTTP (real time, bakes of seconds).
3. Certification of the target against the source (``ragmig certify``), the runbook of the same
   configuration (``ragmig plan``), and the game days (``ragmig gameday``).

It ends by naming the reports it wrote under ``out_dir``. Exit 0 when the migration completed, the
certification passed and every game day met its expectation; 1 otherwise (the reports say why).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.clock import SystemClock
from harness.datasets import synthetic_corpus, synthetic_queries
from harness.migration.alerts import RecordingAlertSink
from harness.migration.config import MigrationConfig, parse_config
from harness.migration.metrics import InProcessMetrics
from harness.migration.orchestrator import Phase
from harness.model import Check, CollectionSchema, Distance, RecordBatch, Status, Verdict

__all__ = ["run_demo"]

INDEX = "rag-docs"
DIMENSION = 128
NAMESPACES = {"docs": 12_000, "support": 8_000}
QUERY_KEYS = 500
LOAD_USERS = 16
COPY_LOAD_S = 25.0  # locust during dual-write, backfill, verification and shadow reads
CANARY_LOAD_S = 30.0  # locust during warm-up, the canary steps and live
LOCUST_START_S = 3.0  # locust's own start-up before its users send requests
DEMO_CONFIG: dict[str, Any] = {
    "batch_size": 1000,
    "flag_propagation_s": 0.5,
    # Cache hits take microseconds; the health check has no absolute latency floor, so a 2 µs
    # difference between cohorts is "significant": ask for a 2× slowdown before calling it one.
    # Seconds, not minutes, of load: a 5 % error gate at 90 % confidence needs 45 clean canary requests a
    # step (a 1 % gate at 99 % needs 459: README, "Canary decisions").
    "thresholds": {
        "min_samples": 20,
        "max_hold_s": 10.0,
        "latency_tolerance": 1.0,
        "error_rate_max": 0.05,
        "confidence": 0.9,
    },
    "canary": {"bake_time_s": 3.0, "health_interval_s": 0.5, "window_s": 10.0, "live_bake_s": 2.0},
    "shadow": {"queries": 100},
    "warm_up": {"queries": QUERY_KEYS, "max_rounds": 5},
    "backfill": {"backoff_base_s": 0.1, "backoff_max_s": 1.0},
    "verification": {"queries": 200, "k": 10},
    "alerts": [{"type": "log"}],
    "runbook": {"escalation": "#search-oncall (demo)"},
}


def run_demo(out_dir: Path) -> int:
    """Run the demo, writing its reports under ``out_dir``; returns the exit code (see the module docstring)."""
    from harness.pinecone_local.testing import PineconeServer

    console = Console(highlight=False)
    out_dir = Path(out_dir).resolve()
    state = out_dir / "demo"
    shutil.rmtree(state, ignore_errors=True)  # a demo starts from nothing: no journal, no shard
    state.mkdir(parents=True)
    started = time.monotonic()
    console.rule("[bold]ragmig demo: Pinecone → Qdrant Edge, under load, certified, rehearsed")
    written: dict[str, Path] = {}
    with PineconeServer() as server, _controller(server.url):
        source_uri = f"pinecone://{INDEX}?host={server.index_host(INDEX)}"
        target_uri = f"qdrant-edge://{state / 'target'}"
        config = parse_config(
            {"source": source_uri, "target": target_uri, "journal": str(state / "journal.sqlite"), **DEMO_CONFIG}
        )
        config_path = out_dir / "demo-migration.toml"
        config_path.write_text(_toml(config.model_dump(exclude_none=True)))
        written["migration config"] = config_path
        _load_source(console, server, source_uri)
        migration = _migrate(console, config, state)
        written["migration verdict (JSON)"] = out_dir / "migration.json"
        written["migration report (HTML)"] = out_dir / "migration.html"
        written["migration verdict (JSON)"].write_text(migration.to_json() + "\n")
        written["migration report (HTML)"].write_text(_migration_html(migration), encoding="utf-8")
        migrated = migration.check("migration.completed").status is Status.PASS

        console.rule("[bold]certification: ragmig certify (schema, parity, quality, latency)")
        from harness.reporting.certify import certify_command

        certified = certify_command(
            source=source_uri,
            target=target_uri,
            queries=200,
            k=10,
            thresholds=None,
            html=out_dir / "certify.html",
            json_path=out_dir / "certify.json",
            junit=None,
        )
        written["certification (HTML)"] = out_dir / "certify.html"
        written["certification (JSON)"] = out_dir / "certify.json"

    console.rule("[bold]runbook: ragmig plan")
    from harness.reporting.runbook import render_runbook

    runbook = out_dir / "runbook.md"
    runbook.write_text(render_runbook(config, str(config_path)))
    written["runbook (Markdown)"] = runbook
    console.print(f"rendered the runbook of {config_path.name}")

    console.rule("[bold]game days: ragmig gameday (every scenario)")
    from harness.reporting.gameday import gameday_command

    gamedays = gameday_command([], html=out_dir / "gameday.html", json_path=out_dir / "gameday.json")
    written["game days (HTML)"] = out_dir / "gameday.html"
    written["game days (JSON)"] = out_dir / "gameday.json"

    outcome = {
        "migration": "completed" if migrated else str(migration.check("migration.completed").observed),
        "certification": "pass" if certified == 0 else "findings",
        "game days": "every scenario met its expectation" if gamedays == 0 else "some scenarios failed",
    }
    _print_reports(console, written, outcome, time.monotonic() - started)
    return 0 if migrated and certified == 0 and gamedays == 0 else 1


@contextlib.contextmanager
def _controller(url: str) -> Iterator[None]:
    """Point the Pinecone control plane (``PINECONE_CONTROLLER_HOST``) at the local server while the demo
    runs, for this process and the certification's child process; restored afterwards."""
    previous = os.environ.get("PINECONE_CONTROLLER_HOST")
    os.environ["PINECONE_CONTROLLER_HOST"] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PINECONE_CONTROLLER_HOST", None)
        else:
            os.environ["PINECONE_CONTROLLER_HOST"] = previous


# -- the source ---------------------------------------------------------------------------------------
def _load_source(console: Console, server: Any, source_uri: str) -> None:
    """Create the index and upsert the corpus through the SDK, namespace by namespace, with a bar."""
    from harness.stores import open_store

    store = open_store(source_uri)
    try:
        store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
        total = sum(NAMESPACES.values())
        with _bar(console) as progress:
            task = progress.add_task("loading the Pinecone source", total=total)
            for seed, (namespace, n) in enumerate(NAMESPACES.items()):
                for batch in synthetic_corpus(n, DIMENSION, seed=seed, batch_size=1000, id_kind="str"):
                    store.upsert(RecordBatch(batch.ids, batch.vectors, batch.payloads, (namespace,) * len(batch)))
                    progress.advance(task, len(batch))
        console.print(
            f"source: {source_uri} — {total:,} chunks × {DIMENSION} (cosine) in namespaces "
            + ", ".join(f"{ns} ({n:,})" for ns, n in NAMESPACES.items())
        )
    finally:
        store.close()


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# -- the migration ------------------------------------------------------------------------------------
class _Load:
    """One locust run in a background thread (``run_load`` blocks for its whole run time)."""

    def __init__(self, url: str, run_time_s: float, out_dir: Path) -> None:
        self.result: Any = None
        self._thread = threading.Thread(target=self._run, args=(url, run_time_s, out_dir), daemon=True)

    def _run(self, url: str, run_time_s: float, out_dir: Path) -> None:
        from harness.load import run_load

        try:
            env = {"RAGMIG_LOAD_KEYS": str(QUERY_KEYS), "RAGMIG_LOAD_POPULATION": "2000"}
            self.result = run_load(
                url, users=LOAD_USERS, spawn_rate=LOAD_USERS, run_time_s=run_time_s, out_dir=out_dir, env=env
            )
        except Exception as exc:  # reported with the stage, not raised in a daemon thread
            self.result = exc

    def start(self) -> _Load:
        self._thread.start()
        time.sleep(LOCUST_START_S)  # a real wait: locust's users are arriving
        return self

    def join(self) -> Any:
        self._thread.join(timeout=600)
        return self.result


def _migrate(console: Console, config: MigrationConfig, state: Path) -> Verdict:
    """The orchestrated migration under locust load; its verdict carries the run's figures and timeline."""
    from harness.assembly import ServiceWarmUp, build_migration
    from harness.reporting.timeline import migration_summary, migration_timeline
    from harness.service import QueryService, requests_total, serve_in_thread

    clock = SystemClock()
    metrics = InProcessMetrics()
    alerts = RecordingAlertSink()
    migration = build_migration(config, clock=clock, metrics=metrics, alerts=[alerts], progress=True)
    try:
        service = QueryService(
            migration.source,
            migration.target,
            flags=migration.flags,
            metrics=metrics,
            writer=migration.writer,
            clock=clock,
            query_vectors=synthetic_queries(QUERY_KEYS, DIMENSION, seed=7),
        )
        warm_up = ServiceWarmUp(service)
        migration.warm_up = warm_up
        orchestrator = migration.orchestrator
        import scipy.stats  # noqa: F401  - imported now, not by the first health check in the middle of a bake

        loads: list[dict[str, Any]] = []
        with serve_in_thread(service) as endpoint:
            console.print(f"query service: {endpoint.url} (POST /query, GET /metrics); locust: {LOAD_USERS} users")
            migration_started = clock.now()
            phase = _stage(
                console,
                "dual-write → backfill → verify → shadow",
                lambda: orchestrator.run(stop_at=Phase.WARM_UP),
                _Load(endpoint.url, COPY_LOAD_S, state / "locust-copy"),
                loads,
                "copy and verification",
            )
            if phase is Phase.WARM_UP:
                phase = _stage(
                    console,
                    "warm-up → canary 5 → 25 → 50 → 100 % → live → completed",
                    orchestrator.run,
                    _Load(endpoint.url, CANARY_LOAD_S, state / "locust-canary"),
                    loads,
                    "warm-up, canary and cut-over",
                )
            scraped = _scrape(endpoint.url)
        service_total = requests_total(scraped)
        user_queries = service_total - warm_up.queries
        locust_queries = sum(int(load.get("requests", 0)) for load in loads)
        summary = migration_summary(
            orchestrator, metrics, alerts.alerts, label="Pinecone → Qdrant Edge", harness_queries=warm_up.queries
        )
        timeline = migration_timeline(orchestrator, metrics, alerts.alerts, end=clock.now())
        loads.append(
            {
                "stage": "both stages against /metrics",
                "requests": locust_queries,
                "failures": sum(int(load.get("failures", 0)) for load in loads),
                "users": LOAD_USERS,
                "service_requests_total": service_total,
                "harness_queries": warm_up.queries,
                "service_user_queries": user_queries,
                "in_flight_at_stop": user_queries - locust_queries,
            }
        )
        console.print(
            f"locust sent {locust_queries:,} queries; the service's /metrics counted {user_queries:,} user queries "
            f"(+{warm_up.queries} warm-up replays)"
        )
        verification = orchestrator.last_verdict
        completed = phase is Phase.COMPLETED
        check = Check(
            "migration.completed",
            Status.PASS if completed else Status.FAIL,
            observed=str(phase),
            expected="completed",
            message=(
                "promoted " + " → ".join(f"{p:g}" for p in summary["read_percent_steps"]) + " % to completed; "
                f"source writes off; {summary['failed_health_checks']} failed health checks"
                if completed
                else f"the migration ended {phase}: {summary['reason']}"
            ),
            details={
                "runs": [{**summary, "timeline": timeline}],
                "load": loads,
                "locust_queries": locust_queries,
                "service_user_queries": user_queries,
                "backfill": orchestrator.last_backfill.to_dict() if orchestrator.last_backfill else None,
            },
        )
        checks = (check, *(verification.checks if verification is not None else ()))
        colour = "green" if completed else "red"
        console.print(f"migration: [bold {colour}]{phase}[/] in {clock.now() - migration_started:.1f} s")
        return Verdict(
            checks=checks,
            source=dict(verification.source) if verification is not None else {"uri": config.source},
            target=dict(verification.target) if verification is not None else {"uri": config.target},
            duration_s=clock.now() - migration_started,
        )
    finally:
        migration.close()  # the journal and both stores: the certification's child process opens the shard next


def _stage(
    console: Console, title: str, body: Callable[[], Phase], load: _Load, loads: list[dict[str, Any]], label: str
) -> Phase:
    """Run ``body`` (a stretch of the orchestrator) while ``load`` runs; keep the load's stats."""
    console.print(f"[bold]{title}[/] under locust load …")
    load.start()
    with console.status(title):
        phase = body()
    console.print(f"  reached {phase}; waiting for this stage's locust run to finish")
    result = load.join()
    if isinstance(result, BaseException) or result is None:
        console.print(f"  [red]locust failed: {result}[/]")
        loads.append({"stage": label, "error": str(result)})
    else:
        row = result.endpoint("/query")
        console.print(
            f"  locust: {result.requests:,} requests, {result.failures} failures, {result.rps:.0f} req/s, "
            f"p50 {row.p50_ms:g} ms, p99 {row.p99_ms:g} ms"
        )
        loads.append({"stage": label, **result.to_dict()})
    return phase


def _scrape(url: str) -> str:
    import httpx

    return httpx.get(f"{url}/metrics", timeout=10).text


# -- reports ------------------------------------------------------------------------------------------
def _migration_html(verdict: Verdict) -> str:
    from harness.reporting.gameday import check_section_html, report_page

    main = verdict.check("migration.completed")
    section = check_section_html(main, "migration.completed")
    rows = "".join(
        f"<tr><td>{_esc(c.id)}</td><td>{_esc(c.status)}</td><td>{_esc(c.observed)}</td><td>{_esc(c.message)}</td></tr>"
        for c in verdict.checks[1:]
    )
    gate = f"<h2>Verification gate (before any traffic moved)</h2><table><tr><th>check</th><th>status</th><th>observed</th><th>message</th></tr>{rows}</table>"
    banner = f"migration {main.observed}: {main.message}"
    return report_page(
        "ragmig demo: Pinecone → Qdrant Edge migration", banner, verdict.passed, verdict.checks, [section, gate]
    )


def _esc(value: Any) -> str:
    import html
    import json

    from harness.redact import redact_text

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return html.escape(redact_text(text[:300]))


def _toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """A minimal TOML writer for the config's shape (scalars, lists, tables, arrays of tables)."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, list[Mapping[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, table in tables:
        name = f"{prefix}{key}"
        out += f"\n[{name}]\n" + _toml(table, f"{name}.")
    for key, items in arrays:
        for item in items:
            out += f"\n[[{prefix}{key}]]\n" + _toml(item, f"{prefix}{key}.")
    return out


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _print_reports(console: Console, written: Mapping[str, Path], outcome: Mapping[str, str], seconds: float) -> None:
    console.rule("[bold]reports")
    table = Table(show_header=True)
    table.add_column("report")
    table.add_column("path", overflow="fold")
    for label, path in written.items():
        table.add_row(label, str(path))
    console.print(table)
    for what, result in outcome.items():
        good = result in ("completed", "pass", "every scenario met its expectation")
        console.print(f"{what}: [{'green' if good else 'red'}]{result}[/]")
    console.print(f"demo finished in {seconds:.0f} s")
    for path in written.values():
        print(path)
