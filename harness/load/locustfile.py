"""Locust users for the RAG query service (``harness.service``); run by ``harness.load.runner``.

Never import this module from the harness: importing locust monkey-patches the process with gevent.
Locust loads it by path in its own process.

Each ``RagUser`` posts ``/query`` with a user id drawn uniformly from a fixed population
(``user-0`` … ``user-{N-1}``) and a text key ``q{i}`` drawn from a Zipf-like popularity
(P(i) ∝ 1 / (i + 1)^s), so a few keys are hot and result caches matter. With an upsert share above
zero, that fraction of tasks posts ``/upsert`` of one fresh random record instead. Every user draws
from its own ``random.Random`` seeded by (seed, process index, user index): a run is repeatable up to
the scheduling of concurrent users.

Configuration comes from environment variables (the runner sets them; defaults in brackets):

- ``RAGMIG_LOAD_SEED`` [0], ``RAGMIG_LOAD_POPULATION`` user ids [1000], ``RAGMIG_LOAD_KEYS`` text keys
  [500], ``RAGMIG_LOAD_ZIPF`` exponent s [1.1], ``RAGMIG_LOAD_K`` results per query [10];
- ``RAGMIG_LOAD_WAIT_MIN`` / ``RAGMIG_LOAD_WAIT_MAX`` seconds between tasks [0.01 / 0.05];
- ``RAGMIG_LOAD_UPSERT_SHARE`` fraction 0–1 of tasks that upsert [0]; ``RAGMIG_LOAD_DIMENSION`` the
  vector dimension of upserted records (required when the share is above zero);
  ``RAGMIG_LOAD_UPSERT_ID_BASE`` first integer id of upserted records [1_000_000_000];
- ``RAGMIG_LOAD_SHAPE`` ``constant`` [default] or ``ramp``: users rise linearly to ``-u`` over the
  first ``RAGMIG_LOAD_RAMP_FRACTION`` [0.5] of ``-t``, then hold until ``-t``;
- ``RAGMIG_LOAD_PROCESS_INDEX`` [0]: distinguishes worker processes (seeds and upsert ids).
"""

from __future__ import annotations

import itertools
import math
import os
import random
from bisect import bisect_left
from itertools import accumulate

from locust import HttpUser, LoadTestShape, between, events, task
from locust.env import Environment


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


SEED = _env_int("RAGMIG_LOAD_SEED", 0)
POPULATION = _env_int("RAGMIG_LOAD_POPULATION", 1000)
KEYS = _env_int("RAGMIG_LOAD_KEYS", 500)
ZIPF_S = _env_float("RAGMIG_LOAD_ZIPF", 1.1)
K = _env_int("RAGMIG_LOAD_K", 10)
WAIT_MIN = _env_float("RAGMIG_LOAD_WAIT_MIN", 0.01)
WAIT_MAX = _env_float("RAGMIG_LOAD_WAIT_MAX", 0.05)
UPSERT_SHARE = _env_float("RAGMIG_LOAD_UPSERT_SHARE", 0.0)
DIMENSION = _env_int("RAGMIG_LOAD_DIMENSION", 0)
UPSERT_ID_BASE = _env_int("RAGMIG_LOAD_UPSERT_ID_BASE", 1_000_000_000)
PROCESS_INDEX = _env_int("RAGMIG_LOAD_PROCESS_INDEX", 0)
SHAPE = os.environ.get("RAGMIG_LOAD_SHAPE", "constant")
RAMP_FRACTION = _env_float("RAGMIG_LOAD_RAMP_FRACTION", 0.5)
EXCEPTIONS_EXIT_CODE = 4  # harness.load.runner.EXCEPTIONS_EXIT_CODE (not imported: keep this file standalone)

if UPSERT_SHARE > 0 and DIMENSION <= 0:
    raise SystemExit("RAGMIG_LOAD_UPSERT_SHARE > 0 needs RAGMIG_LOAD_DIMENSION (the vector dimension)")

# Cumulative Zipf weights over q0..q{KEYS-1}: q0 is the most popular key.
_CUM_WEIGHTS = list(accumulate(1.0 / (i + 1) ** ZIPF_S for i in range(KEYS)))
_USER_INDEX = itertools.count()


def zipf_key(rng: random.Random) -> str:
    """A text key ``q{i}`` drawn with P(i) ∝ 1 / (i + 1)^s."""
    return f"q{bisect_left(_CUM_WEIGHTS, rng.random() * _CUM_WEIGHTS[-1])}"


@events.quitting.add_listener
def _exit_code_on_exceptions(environment: Environment, **_kwargs: object) -> None:
    # Locust folds request failures and locustfile exceptions into one exit code; the runner must
    # tell them apart (failures are data, exceptions are bugs), so exceptions get a code of their own.
    runner = environment.runner
    if runner is not None and runner.exceptions and environment.process_exit_code is None:
        environment.process_exit_code = EXCEPTIONS_EXIT_CODE


class RagUser(HttpUser):
    """A user of the RAG service: mostly queries, optionally a share of upserts."""

    wait_time = between(WAIT_MIN, WAIT_MAX)

    def on_start(self) -> None:
        self.index = next(_USER_INDEX)
        self.rng = random.Random(f"{SEED}:{PROCESS_INDEX}:{self.index}")
        self.upserts = 0

    @task
    def ask(self) -> None:
        if UPSERT_SHARE > 0 and self.rng.random() < UPSERT_SHARE:
            self.upsert()
        else:
            self.query()

    def query(self) -> None:
        body = {"user_id": f"user-{self.rng.randrange(POPULATION)}", "text_key": zipf_key(self.rng), "k": K}
        self.client.post("/query", json=body, name="/query")

    def upsert(self) -> None:
        point_id = UPSERT_ID_BASE + PROCESS_INDEX * 100_000_000 + self.index * 1_000_000 + self.upserts
        self.upserts += 1
        vector = [self.rng.gauss(0.0, 1.0) for _ in range(DIMENSION)]
        body = {"ids": [point_id], "vectors": [vector], "payloads": [{"origin": "load"}]}
        self.client.post("/upsert", json=body, name="/upsert")


if SHAPE == "ramp":

    class RampShape(LoadTestShape):
        """Linear ramp to ``-u`` users over the first part of ``-t``, then hold; stops at ``-t``."""

        use_common_options = True

        def tick(self) -> tuple[int, float] | None:
            options = self.runner.environment.parsed_options if self.runner else None
            peak = int(getattr(options, "num_users", None) or 1)
            spawn_rate = float(getattr(options, "spawn_rate", None) or peak)
            run_time = float(getattr(options, "run_time", None) or 60)
            elapsed = self.get_run_time()
            if elapsed >= run_time:
                return None
            ramp_s = max(run_time * RAMP_FRACTION, 1e-9)
            users = max(1, math.ceil(peak * min(1.0, elapsed / ramp_s)))
            return users, spawn_rate

elif SHAPE != "constant":
    raise SystemExit(f"RAGMIG_LOAD_SHAPE must be 'constant' or 'ramp', got {SHAPE!r}")
