"""Query latency per store: one query per request, wall-clock, p50/p95/p99; the gate is the target's p99.

These are real measurements (``time.perf_counter`` by default), taken while the quality checks run
their queries, so certification does not query twice for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from harness.model import Check, SearchResult, Status
from harness.stores.base import SearchParams, VectorStore
from harness.verify.thresholds import Thresholds

F64 = npt.NDArray[np.float64]
LATENCY_CHECK_IDS = ("latency.p50", "latency.p99")


def timed_search(
    store: VectorStore,
    queries: npt.NDArray[np.float32],
    k: int,
    params: SearchParams | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[SearchResult, F64]:
    """Search one query per request; returns the merged results and each request's latency in ms."""
    results = []
    latencies = np.empty(len(queries), dtype=np.float64)
    for i in range(len(queries)):
        started = timer()
        results.append(store.search(queries[i : i + 1], k, params))
        latencies[i] = (timer() - started) * 1000.0
    return concat_results(results), latencies


def concat_results(parts: Sequence[SearchResult]) -> SearchResult:
    """One ``SearchResult`` holding the queries of ``parts`` in order."""
    has_ns = any(p.namespaces is not None for p in parts)
    return SearchResult(
        ids=tuple(row for p in parts for row in p.ids),
        scores=tuple(row for p in parts for row in p.scores),
        namespaces=tuple(row for p in parts for row in (p.namespaces or ((),) * len(p.ids))) if has_ns else None,
    )


def percentiles(latencies_ms: F64) -> dict[str, float]:
    """p50, p95, p99, mean and max in ms, and the number of requests."""
    if len(latencies_ms) == 0:
        return {"n": 0}
    p50, p95, p99 = np.percentile(latencies_ms, [50, 95, 99])
    return {
        "n": len(latencies_ms),
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
        "mean_ms": round(float(latencies_ms.mean()), 3),
        "max_ms": round(float(latencies_ms.max()), 3),
    }


def latency_checks(source_ms: F64 | None, target_ms: F64 | None, thresholds: Thresholds) -> list[Check]:
    """``latency.p50`` (informational: warns on a large regression) and ``latency.p99`` (gates the target)."""
    if source_ms is None or target_ms is None or len(target_ms) == 0:
        reason = "latency not measured (no queries, or measurement switched off)"
        return [Check(check_id, Status.SKIP, None, None, reason) for check_id in LATENCY_CHECK_IDS]
    src, tgt = percentiles(source_ms), percentiles(target_ms)
    details = {"source": src, "target": tgt, "requests": "one query per request, wall clock"}
    p50_limit = max(thresholds.p50_ms_floor, thresholds.p50_max_ratio * src.get("p50_ms", 0.0))
    p50_ok = tgt["p50_ms"] <= p50_limit
    p99_ok = tgt["p99_ms"] <= thresholds.p99_ms_max
    return [
        Check(
            "latency.p50",
            Status.PASS if p50_ok else Status.WARN,
            tgt["p50_ms"],
            round(p50_limit, 3),
            f"p50 target {tgt['p50_ms']:.2f} ms, source {src['p50_ms']:.2f} ms"
            + ("" if p50_ok else f" — more than {thresholds.p50_max_ratio:g}× the source's"),
            details,
        ),
        Check(
            "latency.p99",
            Status.PASS if p99_ok else Status.FAIL,
            tgt["p99_ms"],
            thresholds.p99_ms_max,
            f"p99 target {tgt['p99_ms']:.2f} ms (gate ≤ {thresholds.p99_ms_max:g} ms), source {src['p99_ms']:.2f} ms",
            details,
        ),
    ]
