"""``ragmig bench``: each figure is a ratio measured in one run against the limit it is bounded by.

Every benchmark is a function ``() -> BenchResult`` in a module of this package, registered by name in
``BENCHMARKS``; modules are imported only when their benchmark runs.
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from harness.errors import UsageError

__all__ = ["BENCHMARKS", "BenchResult", "run_benchmarks", "to_json"]


@dataclass(frozen=True, slots=True)
class BenchResult:
    """One row of the benchmark table: ``target`` is the bound as text ("<= 1.3", ">= 0.5")."""

    name: str
    value: float
    unit: str
    target: str
    ok: bool
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON row of design.md."""
        value = float(self.value)
        return {
            "name": self.name,
            "value": round(value, 4) if math.isfinite(value) else None,
            "unit": self.unit,
            "target": self.target,
            "ok": bool(self.ok),
            "details": self.details,
        }


def within(value: float, target: str) -> bool:
    """True when ``value`` meets ``target`` ("<= 1.3", "< 300", ">= 0.5")."""
    op, _, bound_text = target.partition(" ")
    bound = float(bound_text)
    return {"<=": value <= bound, "<": value < bound, ">=": value >= bound, ">": value > bound}[op]


# name -> "module:function" (in design.md's order).
BENCHMARKS: dict[str, str] = {
    "parity_vs_scroll": "harness.benchmarks.verify:parity_vs_scroll",
    "ground_truth_vs_matmul": "harness.benchmarks.verify:ground_truth_vs_matmul",
    "verify_memory_growth_mb": "harness.benchmarks.verify:verify_memory_growth_mb",
    "backfill_vs_upsert": "harness.benchmarks.migration:backfill_vs_upsert",
    "gameday_suite_s": "harness.benchmarks.gameday:gameday_suite_s",
    "pinecone_upsert_vps": "harness.benchmarks.pinecone:pinecone_upsert_vps",
    "pinecone_query_qps": "harness.benchmarks.pinecone:pinecone_query_qps",
}


def _load(name: str) -> Callable[[], BenchResult]:
    module_name, _, func = BENCHMARKS[name].partition(":")
    fn: Callable[[], BenchResult] = getattr(import_module(module_name), func)
    return fn


def run_benchmarks(
    only: Sequence[str] = (), on_result: Callable[[BenchResult], None] | None = None
) -> list[BenchResult]:
    """Run the named benchmarks (all when ``only`` is empty). A benchmark that cannot run is reported
    as a row with ``ok`` false and the reason in ``details["error"]``, never silently skipped."""
    unknown = [n for n in only if n not in BENCHMARKS]
    if unknown:
        raise UsageError(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    results = []
    for name in only or list(BENCHMARKS):
        try:
            result = _load(name)()
        except (ImportError, AttributeError) as exc:
            result = BenchResult(name, float("nan"), "", "", False, {"error": f"not available: {exc}"})
        except Exception as exc:  # a failed benchmark is a row, not a crash of the whole table
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            result = BenchResult(name, float("nan"), "", "", False, {"error": tb})
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def to_json(results: Sequence[BenchResult]) -> str:
    """``{"benchmarks": [...]}`` as in design.md."""
    return json.dumps({"benchmarks": [r.to_dict() for r in results]}, indent=2, allow_nan=False, default=str)
