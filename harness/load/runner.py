"""Run locust headless in its own process(es) against the query service and read back its stats.

``run_load`` starts ``python -m locust -f harness/load/locustfile.py --headless`` with the users,
spawn rate and run time asked, writes locust's CSV (``<out_dir>/locust_stats.csv`` and friends) and
JSON (``<out_dir>/locust.json``) stats plus each process's log, and returns a ``LoadStats``.

Distributed mode — how a team outgrows one machine
---------------------------------------------------
One locust process is one CPU core (gevent). To drive more load, locust runs as one *master*, which
owns the run (users, spawn rate, run time, load shape) and aggregates stats, and N *workers*, which
run the users and report to the master over ZeroMQ. ``run_load(..., workers=N)`` does this on one
machine::

    python -m locust -f locustfile.py --headless --master --master-bind-host 127.0.0.1 \\
        --master-bind-port P --expect-workers N --expect-workers-max-wait 30 -u U -r R -t Ts --host H ...
    python -m locust -f locustfile.py --worker --master-host 127.0.0.1 --master-port P   # × N

The master waits for N workers before it starts; users are spread evenly over them; CSV and JSON
stats are written by the master only and cover every worker. Across machines, start the master
with ``--master-bind-host`` on a reachable interface, give each worker ``--master-host <master>``
(workers need the same locustfile and environment variables), and open the master port. This
harness stays on loopback.

Exit codes: locust exits 1 (``--exit-code-on-error``) when any request failed or the locustfile
raised. Failed requests are data here, so the runner asks for code 3 on failures and the locustfile
sets code 4 when its own code raised; 0 and 3 are accepted, anything else, a timeout, or missing
stats raises ``LoadRunError`` with the tail of locust's log.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError, HarnessError

__all__ = ["LOCUSTFILE", "EndpointStats", "LoadRunError", "LoadStats", "run_load"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_FAILURES_EXIT_CODE = 3  # what we ask locust to exit with when some requests failed
EXCEPTIONS_EXIT_CODE = 4  # what the locustfile makes locust exit with when its own code raised
_GRACE_S = 60.0  # start-up, worker connection and shutdown allowance on top of the run time


class LoadRunError(HarnessError):
    """Locust did not complete a run (bad exit code, timeout, exceptions in the locustfile, no stats)."""


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """One row of locust's stats: requests of one method + name. Times in ms, rates per second."""

    method: str
    name: str
    requests: int
    failures: int
    rps: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class LoadStats:
    """What one locust run did, over every endpoint. Times in ms, rates per second.

    Counts and percentiles come from locust's final JSON stats (``json_path``); ``csv_path`` is
    locust's per-second history (``*_stats_history.csv``: users, rps and percentiles over time).
    """

    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    endpoints: tuple[EndpointStats, ...]
    csv_path: Path
    json_path: Path
    users: int
    run_time_s: int
    workers: int
    shape: str

    @property
    def failure_rate(self) -> float:
        """Failures ÷ requests (fraction 0–1); 0 for a run without requests."""
        return self.failures / self.requests if self.requests else 0.0

    def endpoint(self, name: str) -> EndpointStats:
        """The row of endpoint ``name`` (e.g. ``"/query"``); KeyError when locust saw none."""
        for row in self.endpoints:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for reports."""
        return {
            "requests": self.requests,
            "failures": self.failures,
            "rps": self.rps,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "users": self.users,
            "run_time_s": self.run_time_s,
            "workers": self.workers,
            "shape": self.shape,
            "csv_path": str(self.csv_path),
            "json_path": str(self.json_path),
            "endpoints": [
                {
                    "method": e.method,
                    "name": e.name,
                    "requests": e.requests,
                    "failures": e.failures,
                    "rps": e.rps,
                    "avg_ms": e.avg_ms,
                    "p50_ms": e.p50_ms,
                    "p95_ms": e.p95_ms,
                    "p99_ms": e.p99_ms,
                    "max_ms": e.max_ms,
                }
                for e in self.endpoints
            ],
        }


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _percentile_ms(response_times: Mapping[int, int], count: int, fraction: float) -> float:
    """Locust's own percentile over its rounded response-time histogram (ms → requests)."""
    if count <= 0:
        return 0.0
    allowed_above = int(count * fraction)
    processed = 0
    for response_time in sorted(response_times, reverse=True):
        processed += response_times[response_time]
        if count - processed <= allowed_above:
            return float(response_time)
    return 0.0


def _entry_stats(method: str, name: str, entries: list[dict[str, Any]]) -> EndpointStats:
    """Merge locust's serialised stats entries (one endpoint, or all for the aggregate)."""
    histogram: dict[int, int] = {}
    for entry in entries:
        for response_time, n in (entry.get("response_times") or {}).items():
            histogram[int(response_time)] = histogram.get(int(response_time), 0) + int(n)
    requests = sum(int(e.get("num_requests", 0)) for e in entries)
    timed = requests - sum(int(e.get("num_none_requests", 0)) for e in entries)
    starts = [float(e["start_time"]) for e in entries if e.get("start_time")]
    ends = [float(e["last_request_timestamp"]) for e in entries if e.get("last_request_timestamp")]
    span = max(ends) - min(starts) if starts and ends else 0.0
    return EndpointStats(
        method=method,
        name=name,
        requests=requests,
        failures=sum(int(e.get("num_failures", 0)) for e in entries),
        rps=requests / span if span > 0 else 0.0,
        avg_ms=sum(float(e.get("total_response_time", 0.0)) for e in entries) / timed if timed > 0 else 0.0,
        p50_ms=_percentile_ms(histogram, timed, 0.50),
        p95_ms=_percentile_ms(histogram, timed, 0.95),
        p99_ms=_percentile_ms(histogram, timed, 0.99),
        max_ms=max((float(e.get("max_response_time") or 0.0) for e in entries), default=0.0),
    )


def read_stats_json(path: Path) -> tuple[EndpointStats, tuple[EndpointStats, ...]]:
    """Locust's final ``--json-file`` stats: the aggregate over every endpoint and one row per endpoint.

    Locust's ``*_stats.csv`` is rewritten periodically and can miss the last second of a run; the JSON
    is written once at shutdown, so its counts are final.
    """
    entries = json.loads(path.read_text())
    if not isinstance(entries, list):
        raise LoadRunError(f"locust's JSON stats are not a list of entries ({path})")
    rows = tuple(_entry_stats(e.get("method", ""), e.get("name", ""), [e]) for e in entries)
    return _entry_stats("", "Aggregated", entries), rows


def _exceptions_in(prefix: Path) -> list[str]:
    path = prefix.with_name(prefix.name + "_exceptions.csv")
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [f"{row.get('Count', '?')}× {row.get('Message', '')}" for row in csv.DictReader(handle)]


def _stop_when_set(master: subprocess.Popen[bytes], until: threading.Event, bound_s: float) -> None:
    """Wait until ``until`` is set (or locust ended on its own), then SIGTERM locust's master: it stops its
    users and writes its stats. ``subprocess.TimeoutExpired`` when neither happens within ``bound_s``."""
    deadline = time.monotonic() + bound_s
    while master.poll() is None and not until.wait(0.1):
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(master.args, bound_s)
    if master.poll() is None:
        master.send_signal(signal.SIGTERM)


def run_load(
    host: str,
    *,
    users: int,
    spawn_rate: float,
    run_time_s: float,
    out_dir: Path,
    shape: Literal["constant", "ramp"] = "constant",
    workers: int = 0,
    env: Mapping[str, str] | None = None,
    stop_timeout_s: int = 2,
    until: threading.Event | None = None,
) -> LoadStats:
    """Run locust headless against ``host`` (e.g. ``http://127.0.0.1:8000``) and return its stats.

    ``users`` peak concurrent users, ``spawn_rate`` users started per second, ``run_time_s`` seconds of
    load (rounded up to whole seconds, locust's resolution), ``workers`` ≥ 1 runs a master and that many
    worker processes on loopback. ``env`` adds ``RAGMIG_LOAD_*`` settings (see the locustfile) to the
    processes' environment. Users get ``stop_timeout_s`` seconds to finish their task at the end, so
    few requests are cut off in flight. Blocks for about ``run_time_s`` plus start-up (1–3 s); raises
    ``LoadRunError`` when the run fails and ``ConfigError`` for impossible arguments.

    ``until``: the load lasts until this event is set (``run_time_s`` is then an upper bound), e.g. for as
    long as a migration runs, however long a busy machine makes it; locust is stopped with SIGTERM, which
    stops its users (``stop_timeout_s`` applies) and writes its stats as at the end of a timed run.
    """
    if users < 1 or spawn_rate <= 0 or run_time_s <= 0 or workers < 0:
        raise ConfigError(
            f"load: users >= 1, spawn_rate > 0, run_time_s > 0 and workers >= 0 are required "
            f"(got users={users}, spawn_rate={spawn_rate}, run_time_s={run_time_s}, workers={workers})"
        )
    if shape not in ("constant", "ramp"):
        raise ConfigError(f"load: shape must be 'constant' or 'ramp', got {shape!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = max(1, math.ceil(run_time_s))
    prefix = out_dir / "locust"
    json_path = out_dir / "locust.json"  # locust appends ".json" to --json-file
    base_env = {**os.environ, **(env or {}), "RAGMIG_LOAD_SHAPE": shape}
    base_env.pop("PYTHONWARNINGS", None)  # locust's own dependencies warn; that is not our test's business
    run_args = [
        "--headless",
        "-u",
        str(users),
        "-r",
        f"{spawn_rate:g}",
        "-t",
        f"{seconds}s",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--json-file",
        str(json_path.with_suffix("")),
        "--only-summary",
        "--exit-code-on-error",
        str(_FAILURES_EXIT_CODE),
        "--stop-timeout",
        str(stop_timeout_s),
    ]
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    logs: list[Path] = [out_dir / "locust_master.log" if workers else out_dir / "locust.log"]
    processes: list[subprocess.Popen[bytes]] = []
    handles = []
    try:
        if workers:
            port = _free_loopback_port()
            master_cmd = [
                *locust,
                *run_args,
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--expect-workers",
                str(workers),
                "--expect-workers-max-wait",
                "30",
            ]
        else:
            master_cmd = [*locust, *run_args]
        handle = logs[0].open("wb")
        handles.append(handle)
        processes.append(
            subprocess.Popen(
                master_cmd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={**base_env, "RAGMIG_LOAD_PROCESS_INDEX": "0"},
                cwd=out_dir,
            )
        )
        for index in range(workers):
            log = out_dir / f"locust_worker_{index}.log"
            logs.append(log)
            handle = log.open("wb")
            handles.append(handle)
            processes.append(
                subprocess.Popen(
                    [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env={**base_env, "RAGMIG_LOAD_PROCESS_INDEX": str(index + 1)},
                    cwd=out_dir,
                )
            )
        master = processes[0]
        try:
            if until is not None:
                _stop_when_set(master, until, seconds + _GRACE_S)
            code = master.wait(timeout=seconds + _GRACE_S)
        except subprocess.TimeoutExpired:
            raise LoadRunError(
                f"locust did not finish within {seconds + _GRACE_S:g}s; log tail:\n{_tail(logs[0])}"
            ) from None
        for worker in processes[1:]:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.terminate()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for handle in handles:
            handle.close()

    csv_path = prefix.with_name(prefix.name + "_stats_history.csv")
    if code not in (0, _FAILURES_EXIT_CODE):
        exceptions = _exceptions_in(prefix)
        detail = (" Exceptions in the locustfile: " + "; ".join(exceptions[:5]) + ".") if exceptions else ""
        raise LoadRunError(f"locust exited with code {code}.{detail}\nlog tail:\n{_tail(logs[0])}")
    if not json_path.exists():
        raise LoadRunError(f"locust wrote no stats ({json_path} is missing); log tail:\n{_tail(logs[0])}")
    aggregated, rows = read_stats_json(json_path)
    return LoadStats(
        requests=aggregated.requests,
        failures=aggregated.failures,
        rps=aggregated.rps,
        p50_ms=aggregated.p50_ms,
        p95_ms=aggregated.p95_ms,
        p99_ms=aggregated.p99_ms,
        endpoints=rows,
        csv_path=csv_path,
        json_path=json_path,
        users=users,
        run_time_s=seconds,
        workers=workers,
        shape=shape,
    )
