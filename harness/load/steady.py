"""``SteadyLoad``: a bounded, paced query load on the query service from background threads.

Where locust (``run_load``) measures a service, this one only has to keep traffic flowing while a
controller in another process judges it: ``threads`` workers each post ``/query`` at about
``rate_per_s / threads`` requests a second (users uniform over ``users``, text keys Zipf-popular over
``keys``), until ``stop()`` or ``max_requests`` in total. Counts what it sent and what failed.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from bisect import bisect_left

import httpx

__all__ = ["SteadyLoad"]


class SteadyLoad:
    """Background query load on the service at ``url`` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        rate_per_s: float = 100.0,
        threads: int = 4,
        users: int = 2000,
        keys: int = 200,
        zipf_s: float = 1.1,
        max_requests: int = 1_000_000,
        seed: int = 0,
    ) -> None:
        self.url = url.rstrip("/")
        self.interval_s = threads / rate_per_s
        self.threads = threads
        self.users = users
        self.max_requests = max_requests
        self.seed = seed
        self._weights = list(itertools.accumulate(1.0 / (i + 1) ** zipf_s for i in range(keys)))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self.sent = 0
        self.failed = 0
        self.by_backend: dict[str, int] = {}

    def __enter__(self) -> SteadyLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SteadyLoad:
        """Start the worker threads."""
        for index in range(self.threads):
            worker = threading.Thread(target=self._work, args=(index,), name=f"steady-load-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop and join the workers (each finishes its request in flight)."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=timeout_s)

    def _work(self, index: int) -> None:
        rng = random.Random(f"{self.seed}:{index}")
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                with self._lock:
                    if self.sent >= self.max_requests:
                        return
                    self.sent += 1
                key = f"q{bisect_left(self._weights, rng.random() * self._weights[-1])}"
                body = {"user_id": f"user-{rng.randrange(self.users)}", "text_key": key, "k": 10}
                try:
                    response = client.post("/query", json=body)
                    backend = str(response.json().get("backend", "?"))
                    ok = response.status_code == 200
                except (httpx.HTTPError, ValueError):
                    backend, ok = "?", False
                with self._lock:
                    self.failed += 0 if ok else 1
                    self.by_backend[backend] = self.by_backend.get(backend, 0) + 1
                next_at += self.interval_s
                self._stop.wait(max(0.0, next_at - time.monotonic()))  # pacing: the rate asked, not a test wait
