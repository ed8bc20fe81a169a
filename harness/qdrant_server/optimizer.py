"""``BackgroundOptimizer``: what Qdrant's optimizer threads do, for Edge shards that have none.

Qdrant builds a collection's HNSW graph in the background; Qdrant Edge builds it only when
``optimize()`` is called, and that call holds the GIL (the whole server waits for it). So one thread
optimizes a collection:

- when its writes have gone quiet for ``quiet_s`` seconds (a bulk load is not interrupted batch by
  batch), or at the latest ``max_wait_s`` after its first unoptimized write (a steady trickle of
  writes cannot postpone the graph for ever);
- at once when asked: ``PATCH /collections/NAME`` (any body, e.g. ``{"optimizers_config": {}}``) is
  Qdrant's way to trigger optimizers, and the ``qdrant://`` adapter's ``optimize()`` sends it, then
  waits for the collection to turn green.

``quiet_s = 0`` switches the timed optimizations off (only requests run).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from harness.qdrant_server.collection import Collection

__all__ = ["BackgroundOptimizer"]

log = logging.getLogger(__name__)


class BackgroundOptimizer:
    """The optimizer thread over the collections ``collections()`` returns (see the module docstring)."""

    def __init__(
        self, collections: Callable[[], Sequence[Collection]], *, quiet_s: float = 1.0, max_wait_s: float = 30.0
    ) -> None:
        self.collections = collections
        self.quiet_s = quiet_s
        self.max_wait_s = max(max_wait_s, quiet_s)
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="qdrant-optimizer", daemon=True)

    def start(self) -> BackgroundOptimizer:
        """Start the thread."""
        self._thread.start()
        return self

    def wake(self) -> None:
        """Re-plan now (a collection was written or asked to optimize)."""
        with self._wake:
            self._wake.notify()

    def stop(self, timeout_s: float = 600.0) -> None:
        """Stop the thread (after an optimization under way finishes)."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopped:
                    return
                now = time.monotonic()
                plan = [(c.due_in(now, self.quiet_s, self.max_wait_s), c) for c in self.collections()]
                due = [c for wait, c in plan if wait == 0.0]
                if not due:
                    waits = [wait for wait, _ in plan if wait is not None]
                    # Real waiting on other threads' writes: woken early by wake(), bounded by the next deadline.
                    self._wake.wait(timeout=min(waits) if waits else None)
                    continue
            for collection in due:
                try:
                    collection.optimize()
                except Exception:  # reported as the collection's optimizer_status; keep serving the others
                    log.exception("optimizing collection %s failed", collection.name)
