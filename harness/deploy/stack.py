"""The demo stack for ``ragmig run``: every system a migration config names, started on loopback.

    python -m harness.deploy.stack --config examples/pinecone-to-qdrant.toml [--dir .ragmig-demo] [--fast]

reads the config and starts, at the addresses it names:

- ``ragmig serve-pinecone`` for a ``pinecone://INDEX?host=http://127.0.0.1:PORT`` store, and
  ``ragmig serve-qdrant`` for ``qdrant://127.0.0.1:PORT/COLLECTION`` stores (source and target may share
  one server), each a child process keeping its data under ``DIR``;
- the source loaded with a synthetic RAG corpus (``--records`` × ``--dimension``) unless it already holds
  records, and the target created from the source's schema, as ``ragmig run`` would create it;
- the application: ``python -m harness.service``, reading the config's flag file through OpenFeature's
  flagd provider and dual-writing over the config's journal;
- Debian's ``prometheus`` at ``[metrics] url``, scraping the application as the job the ``selector``
  names, and ``prometheus-alertmanager`` at the first ``[[alerts]] type = "alertmanager"`` url, routing
  to a receiver that appends every notification to ``DIR/alerts.jsonl``;
- a steady query load on the application (``--load-rps``).

It then prints the commands to run the migration and runs until Ctrl-C. With ``--fast`` it also writes
``DIR/<config>.fast.toml``: the same config with ``FAST_VALUES`` substituted (seconds instead of an
afternoon, and an error gate seconds of traffic can decide), and prints the command for that file. Relative ``journal`` and flag paths are taken from the
current directory, so run ``ragmig run`` from the same one.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.deploy.monitoring import missing_binaries, start_alertmanager, start_prometheus
from harness.deploy.processes import ManagedProcess, free_port
from harness.deploy.receiver import AlertReceiver
from harness.errors import UsageError
from harness.migration.config import MigrationConfig, load_config
from harness.stores.uri import parse_store_uri

__all__ = ["FAST_VALUES", "DemoStack", "StackPlan", "main", "plan_stack", "substitute_values"]

FAST_VALUES: dict[str, dict[str, Any]] = {
    "": {"flag_propagation_s": 1.0},
    "canary": {"bake_time_s": 10.0, "health_interval_s": 2.0, "window_s": 30.0, "live_bake_s": 4.0},
    "thresholds": {
        "min_samples": 30,
        "no_data_policy": "hold",
        "max_hold_s": 240.0,
        "error_rate_max": 0.05,
        "confidence": 0.9,
    },
    "metrics": {"scrape_interval_s": 1.0, "step_s": 2.0},
    "shadow": {"queries": 50},
    "warm_up": {"queries": 100},
    "verification": {"queries": 50, "recheck_settle_s": 0.5},
}
"""What ``--fast`` substitutes, by TOML table ("" = top level): seconds instead of minutes. Canary steps,
latency and cache thresholds and failure limits stay as the config has them. The error gate does not:
a step passes only with evidence, and a 0.5 % gate at 99 % confidence needs 919 clean canary requests —
at a 1 % step of 100 queries/s, 15 minutes. The fast run judges a 5 % gate at 90 % confidence instead
(45 clean requests), and a check holds (``hold``, at most ``max_hold_s``) until it has ``min_samples``."""

_JOB = re.compile(r'\bjob\s*=\s*"([^"]+)"')
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class StackPlan:
    """What a config needs running, and where (loopback ports)."""

    config_path: Path
    config: MigrationConfig
    pinecone_port: int | None
    qdrant_port: int | None
    prometheus_port: int
    scrape_job: str
    alertmanager_port: int | None

    @property
    def pinecone_url(self) -> str | None:
        """The Pinecone-compatible server's control plane (``PINECONE_CONTROLLER_HOST``), when one runs."""
        return None if self.pinecone_port is None else f"http://127.0.0.1:{self.pinecone_port}"


def _loopback_port(url: str, what: str, default: int | None = None) -> int:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.hostname not in _LOOPBACK:
        raise UsageError(f"{what} {url} is not on loopback; the demo stack starts its systems on 127.0.0.1 only")
    port = parts.port or default
    if port is None:
        raise UsageError(f"{what} {url} names no port")
    return port


def _store_ports(uri: str, what: str) -> tuple[int | None, int | None]:
    parsed = parse_store_uri(uri)
    if parsed.scheme == "pinecone":
        host = parsed.options.get("host")
        if not host:
            raise UsageError(f"{what} {uri} needs ?host=http://127.0.0.1:PORT for the demo stack")
        return _loopback_port(host, f"{what} host"), None
    if parsed.scheme == "qdrant":
        return None, _loopback_port(f"{parsed.host}:{parsed.port or 6333}", what, 6333)
    raise UsageError(f"{what} {uri}: the demo stack serves pinecone:// and qdrant:// stores (processes share them)")


def plan_stack(config_path: Path | str) -> StackPlan:
    """Read ``config_path`` and say what to start where; ``UsageError`` for what the stack cannot serve."""
    config_path = Path(config_path)
    config = load_config(config_path)
    if config.flags.provider != "flagd-file" or config.flags.path is None:
        raise UsageError(f'{config_path}: the demo stack needs [flags] provider = "flagd-file" with a path')
    if config.metrics.provider != "prometheus" or config.metrics.url is None:
        raise UsageError(f'{config_path}: the demo stack needs [metrics] provider = "prometheus" with its url')
    ports: dict[str, set[int]] = {"pinecone": set(), "qdrant": set()}
    for uri, what in ((config.source, "source"), (config.target, "target")):
        pinecone, qdrant = _store_ports(uri, what)
        if pinecone is not None:
            ports["pinecone"].add(pinecone)
        if qdrant is not None:
            ports["qdrant"].add(qdrant)
    for kind, found in ports.items():
        if len(found) > 1:
            raise UsageError(
                f"{config_path}: the demo stack runs one {kind} server; the stores name ports {sorted(found)}"
            )
    alertmanagers = [a.url for a in config.alerts if a.type == "alertmanager" and a.url]
    job = _JOB.search(config.metrics.selector)
    return StackPlan(
        config_path=config_path,
        config=config,
        pinecone_port=next(iter(ports["pinecone"]), None),
        qdrant_port=next(iter(ports["qdrant"]), None),
        prometheus_port=_loopback_port(config.metrics.url, "[metrics] url"),
        scrape_job=job.group(1) if job else "rag-api",
        alertmanager_port=_loopback_port(alertmanagers[0], "alertmanager url") if alertmanagers else None,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def substitute_values(text: str, values: Mapping[str, Mapping[str, Any]]) -> str:
    """``text`` (a TOML document) with ``values[table][key]`` written over each ``key = ...`` line of that
    table ("" = top level), added at the table's end when missing, or as a new table. Comments and layout
    stay; each written line ends with ``# substituted``. Only single-line values are replaced (the shape of
    ``examples/*.toml``); arrays of tables (``[[alerts]]``) are left alone."""
    tagged: list[tuple[str | None, str]] = []  # (table the line belongs to, line); None: an array of tables
    seen: set[tuple[str, str]] = set()
    table: str | None = ""
    for line in text.splitlines():
        header = re.match(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]", line)
        if header:
            table = None if header.group(1) == "[[" else header.group(2)
            tagged.append((table, line))
            continue
        key = re.match(r"^\s*([A-Za-z0-9_-]+)\s*=", line)
        if table is not None and key and key.group(1) in values.get(table, {}):
            name = key.group(1)
            line = f"{name} = {_toml_value(values[table][name])}  # substituted"
            seen.add((table, name))
        tagged.append((table, line))
    for name, table_values in values.items():
        missing = [f"{k} = {_toml_value(v)}  # substituted" for k, v in table_values.items() if (name, k) not in seen]
        if not missing:
            continue
        owned = [i for i, (owner, line) in enumerate(tagged) if owner == name and line.strip()]
        if owned or name == "":
            at = (owned[-1] + 1) if owned else 0
            tagged[at:at] = [(name, line) for line in missing]
        else:
            tagged += [(name, ""), (name, f"[{name}]"), *((name, line) for line in missing)]
    return "\n".join(line for _, line in tagged) + "\n"


class DemoStack:
    """The systems ``plan`` names, started by ``start()`` and stopped by ``stop()`` (see the module docstring).

    ``directory`` keeps the servers' data, Prometheus' and Alertmanager's state and every process's log.
    The load sends ``load_rps`` queries a second from 2,000 users, over ``load_keys`` Zipf-popular
    questions (a RAG application's repeated questions, which its result cache serves).
    """

    def __init__(
        self,
        plan: StackPlan,
        directory: Path,
        *,
        records: int = 2000,
        dimension: int = 64,
        service_port: int | None = None,
        load_rps: float = 100.0,
        load_keys: int = 30,
    ) -> None:
        self.plan = plan
        self.directory = Path(directory).resolve()
        self.records = records
        self.dimension = dimension
        self.service_port = service_port or free_port()
        self.load_rps = load_rps
        self.load_keys = load_keys
        self.flags_path = Path(str(plan.config.flags.path)).resolve()
        self.journal_path = Path(plan.config.journal).resolve()
        self.receiver: AlertReceiver | None = None
        self.prometheus_url = f"http://127.0.0.1:{plan.prometheus_port}"
        self.alertmanager_url: str | None = None
        self.loaded = 0
        self.load: Any = None
        self._processes: list[ManagedProcess] = []
        self._cleanup = contextlib.ExitStack()

    @property
    def env(self) -> dict[str, str]:
        """Environment the application and ``ragmig run`` need (the Pinecone control plane, when one runs)."""
        return {"PINECONE_CONTROLLER_HOST": self.plan.pinecone_url} if self.plan.pinecone_url else {}

    @property
    def service_url(self) -> str:
        """The application's base URL."""
        return f"http://127.0.0.1:{self.service_port}"

    def _spawn(self, name: str, argv: Sequence[str], ready_url: str) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.directory / "logs" / f"{name}.log", env=self.env)
        self._processes.append(process)
        self._cleanup.callback(process.stop)
        process.wait_ready(ready_url, timeout_s=60.0)
        return process

    def start(self) -> DemoStack:
        """Start everything (bounded readiness waits); on any failure, what started is stopped again."""
        missing = missing_binaries()
        if missing:
            raise UsageError(
                f"the demo stack needs {', '.join(missing)} (apt-get install prometheus prometheus-alertmanager)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        plan, python = self.plan, sys.executable
        if plan.pinecone_port is not None:
            self._spawn(
                "serve-pinecone",
                [python, "-m", "harness.cli", "serve-pinecone", "--port", str(plan.pinecone_port),
                 "--data-dir", str(self.directory / "pinecone")],
                f"{plan.pinecone_url}/indexes",
            )  # fmt: skip
        if plan.qdrant_port is not None:
            self._spawn(
                "serve-qdrant",
                [python, "-m", "harness.cli", "serve-qdrant", "--port", str(plan.qdrant_port),
                 "--data-dir", str(self.directory / "qdrant")],
                f"http://127.0.0.1:{plan.qdrant_port}/readyz",
            )  # fmt: skip
        self._load_stores()
        from harness.migration.flags_flagd import FlagdFileFlags

        self.flags_path.parent.mkdir(parents=True, exist_ok=True)
        FlagdFileFlags(self.flags_path)  # the application starts from the file: 0 % unless a migration moved it
        self._spawn(
            "application",
            [python, "-m", "harness.service", "--source", plan.config.source, "--target", plan.config.target,
             "--flags", str(self.flags_path), "--journal", str(self.journal_path),
             "--port", str(self.service_port)],
            f"{self.service_url}/healthz",
        )  # fmt: skip
        prometheus, _ = start_prometheus(
            self.directory / "prometheus",
            {plan.scrape_job: f"127.0.0.1:{self.service_port}"},
            plan.config.metrics.scrape_interval_s,
            port=plan.prometheus_port,
        )
        self._processes.append(prometheus)
        self._cleanup.callback(prometheus.stop)
        if plan.alertmanager_port is not None:
            self.receiver = AlertReceiver(self.directory / "alerts.jsonl")
            self._cleanup.callback(self.receiver.close)
            alertmanager, self.alertmanager_url = start_alertmanager(
                self.directory / "alertmanager", self.receiver.url, port=plan.alertmanager_port
            )
            self._processes.append(alertmanager)
            self._cleanup.callback(alertmanager.stop)
        from harness.load.steady import SteadyLoad

        self.load = SteadyLoad(self.service_url, rate_per_s=self.load_rps, threads=4, keys=self.load_keys).start()
        self._cleanup.callback(self.load.stop)

    def _open(self, uri: str) -> Any:
        parsed = parse_store_uri(uri)
        if parsed.scheme == "pinecone":
            from harness.stores.pinecone import PineconeStore

            host = parsed.options["host"]
            return PineconeStore(parsed.collection, host=host, control_host=self.plan.pinecone_url)
        from harness.stores import open_store

        return open_store(uri)

    def _load_stores(self) -> None:
        from harness.datasets import synthetic_corpus
        from harness.migration.backfill import ensure_target_collection
        from harness.model import CollectionSchema, Distance

        source = self._open(self.plan.config.source)
        target = self._open(self.plan.config.target)
        try:
            if not source.exists():
                source.create(CollectionSchema(dimension=self.dimension, distance=Distance.COSINE))
            if source.count() == 0:
                pinecone = parse_store_uri(self.plan.config.source).scheme == "pinecone"
                corpus = synthetic_corpus(
                    self.records, self.dimension, seed=11, batch_size=500, id_kind="str" if pinecone else "int"
                )
                for batch in corpus:
                    source.upsert(batch)
                source.optimize()
            self.loaded = source.count()
            ensure_target_collection(source, target)
        finally:
            source.close()
            target.close()

    def exited(self) -> list[str]:
        """Names of the child processes that have exited (empty while all run)."""
        return [p.name for p in self._processes if not p.alive()]

    def stop(self) -> None:
        """Stop the load, the processes and the receiver (in reverse order of starting); idempotent."""
        self._cleanup.close()
        self._processes.clear()

    def summary(self) -> str:
        """What runs where, and the commands that run the migration against it."""
        plan, config = self.plan, self.plan.config
        lines = [
            f"ragmig demo stack for {plan.config_path} (state and logs in {self.directory}):",
            f"  source        {config.source}  ({self.loaded} records)",
            f"  target        {config.target}",
            f"  application   {self.service_url}  (python -m harness.service; flags {self.flags_path}, "
            f"journal {self.journal_path}; {self.load_rps:g} queries/s of load)",
            f"  prometheus    {self.prometheus_url}  (job {plan.scrape_job!r}, every "
            f"{config.metrics.scrape_interval_s:g} s)",
        ]
        if self.alertmanager_url:
            lines.append(
                f"  alertmanager  {self.alertmanager_url}  (notifications to {self.directory / 'alerts.jsonl'})"
            )
        lines += ["", "Run the migration from this directory, in another shell:"]
        lines += [f"  export {key}={value}" for key, value in self.env.items()]
        lines += [
            f"  ragmig run --config {plan.config_path}",
            f"  ragmig status --journal {config.journal}",
            "",
            "Ctrl-C stops the stack.",
        ]
        return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.deploy.stack``: start the stack, print how to run the migration, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m harness.deploy.stack", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, type=Path, help="the migration config (e.g. examples/*.toml)")
    parser.add_argument("--dir", type=Path, default=Path(".ragmig-demo"), help="state and logs (default .ragmig-demo)")
    parser.add_argument("--fast", action="store_true", help="also write DIR/<config>.fast.toml with FAST_VALUES")
    parser.add_argument("--records", type=int, default=2000, help="synthetic records loaded into an empty source")
    parser.add_argument("--dimension", type=int, default=64)
    parser.add_argument("--service-port", type=int, default=8000, help="the application's port")
    parser.add_argument("--load-rps", type=float, default=100.0, help="queries per second on the application")
    args = parser.parse_args(argv)
    from harness.outputs import write_text_atomic
    from harness.redact import redact_text

    try:
        config_path: Path = args.config
        if args.fast:
            args.dir.mkdir(parents=True, exist_ok=True)
            config_path = args.dir / f"{args.config.stem}.fast.toml"
            text = substitute_values(args.config.read_text(encoding="utf-8"), FAST_VALUES)
            write_text_atomic(config_path, text)
        stack = DemoStack(
            plan_stack(config_path),
            args.dir,
            records=args.records,
            dimension=args.dimension,
            service_port=args.service_port,
            load_rps=args.load_rps,
        )
        stack.start()
    except (UsageError, RuntimeError, OSError) as exc:
        print(f"harness.deploy.stack: error: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # during start-up: start() has stopped what it started
        return 130
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a shell's `cmd &` starts it ignored
        signal.signal(signum, lambda *_: stopped.set())
    try:
        print(stack.summary(), flush=True)
        while not stopped.wait(1.0):  # the stack serves until Ctrl-C / SIGTERM; a dead child ends it
            dead = stack.exited()
            if dead:
                print(
                    f"harness.deploy.stack: {', '.join(dead)} exited; see {stack.directory / 'logs'}", file=sys.stderr
                )
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
