"""The query service as its own process: the stand-in for a team's application in ``ragmig run`` stacks.

``python -m harness.service --source URI --target URI --flags FILE --journal FILE [--port 8000]`` does
what the README's application contract asks of a team's application:

- reads the two migration flags through OpenFeature's flagd provider from the flag file ``ragmig run``
  writes (``FlagdFileReader``): each user's reads go where ``ragmig.read-target`` sends them, writes
  where ``ragmig.write-mode`` says;
- dual-writes through ``DualWriteStore`` over the migration's journal (a failed mirror write goes to
  the journal's outbox, which the controller replays);
- exports ``ragmig_requests_total{backend,outcome}``, ``ragmig_cache_hits_total{backend}`` and the
  histogram ``ragmig_query_latency_seconds{backend}`` on ``GET /metrics`` for Prometheus.

With ``--fault-injection`` each store sits behind a ``FaultyStore`` that ``POST /admin/faults`` switches
(tests and game days inject an error spike on the target path this way). Binds to loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Sequence

from harness.errors import HarnessError

__all__ = ["main"]


class _NoRecorder:
    """The process exports Prometheus metrics only (an in-process window recorder would grow forever)."""

    def record(
        self,
        cohort: str,
        at: float,
        latency_ms: float,
        error: bool = False,
        cache_hit: bool = False,
        *,
        backend_ms: float | None = None,
        backend_error: bool = False,
    ) -> None:
        """Drop it."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.service", description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="source store URI")
    parser.add_argument("--target", required=True, help="target store URI")
    parser.add_argument("--flags", required=True, help="the flagd flag file `ragmig run` writes")
    parser.add_argument("--journal", required=True, help="the migration's journal (dual-write outbox)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--cache-size", type=int, default=1024, help="result-cache entries per backend")
    parser.add_argument("--flag-poll-ms", type=int, default=200, help="how often the flag file is re-read (ms)")
    parser.add_argument("--fault-injection", action="store_true", help="serve POST /admin/faults")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; 2 with one line on stderr for bad arguments or unreachable stores."""
    args = _parser().parse_args(argv)
    try:
        return _serve(args)
    except HarnessError as exc:
        from harness.redact import redact_text

        print(f"harness.service: error: {redact_text(str(exc))}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from harness.clock import SystemClock
    from harness.faults import FaultyStore
    from harness.migration.backfill import resolve_mapping
    from harness.migration.dualwrite import DualWriteStore
    from harness.migration.journal import Journal
    from harness.service.app import create_app
    from harness.service.flags import FlagdFileReader
    from harness.service.service import QueryService
    from harness.stores import open_store
    from harness.stores.base import VectorStore

    clock = SystemClock()
    with contextlib.ExitStack() as stack:
        source: VectorStore = open_store(args.source)
        stack.callback(source.close)
        target: VectorStore = open_store(args.target)
        stack.callback(target.close)
        faults: dict[str, FaultyStore] = {}
        if args.fault_injection:
            faults = {"source": FaultyStore(source, clock=clock), "target": FaultyStore(target, clock=clock)}
            source, target = faults["source"], faults["target"]
        journal = Journal(args.journal)
        stack.callback(journal.close)
        flags = FlagdFileReader(args.flags, poll_ms=args.flag_poll_ms)
        stack.callback(flags.close)
        writer = DualWriteStore(source, target, journal, flags, clock, mapping=resolve_mapping(source, target))
        service = QueryService(
            source,
            target,
            flags=flags,
            metrics=_NoRecorder(),
            writer=writer,
            clock=clock,
            cache_size=args.cache_size,
            routing=flags.backend_for,
        )
        config = uvicorn.Config(
            create_app(service, faults or None),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
        print(f"harness.service: serving on http://127.0.0.1:{args.port}", flush=True)
        server.run()
    return 0
