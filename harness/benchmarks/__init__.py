"""``ragmig bench``: each figure is a ratio measured in one run against the limit it is bounded by.

Every benchmark is a function ``() -> BenchResult`` in a module of this package, registered by name in
``BENCHMARKS``; modules are imported only when their benchmark runs. ``ragmig bench`` exits 1 when any
row is not ok; ``--limit NAME=BOUND`` adds a bound a figure must meet besides its own (a CI gate can
tighten a limit, never loosen one).
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from harness.errors import UsageError

__all__ = ["BENCHMARKS", "BenchResult", "parse_limit", "run_benchmarks", "to_json", "within"]


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


_OPERATORS = ("<=", ">=", "<", ">")


def within(value: float, target: str) -> bool:
    """True when ``value`` meets ``target`` ("<= 1.3", "< 300", ">= 0.5"); NaN meets nothing."""
    op, _, bound_text = target.partition(" ")
    bound = float(bound_text)
    return {"<=": value <= bound, "<": value < bound, ">=": value >= bound, ">": value > bound}[op]


def parse_limit(text: str) -> tuple[str, str]:
    """``"NAME=BOUND"`` (e.g. ``"pinecone_query_qps=>= 100"``) as ``(name, "OP NUMBER")``; ``UsageError``
    for an unknown benchmark or a bound that is not one of <=, <, >=, > and a finite number."""
    name, sep, bound = text.partition("=")
    name, bound = name.strip(), bound.strip()
    if not sep or not name:
        raise UsageError(f"--limit {text!r}: give NAME=BOUND, e.g. 'pinecone_query_qps=>= 100'")
    if name not in BENCHMARKS:
        raise UsageError(f"--limit {text!r}: unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    op = next((o for o in _OPERATORS if bound.startswith(o)), None)
    try:
        number = float(bound[len(op) :]) if op else math.nan
    except ValueError:
        number = math.nan
    if op is None or not math.isfinite(number):
        raise UsageError(f"--limit {text!r}: the bound must be <=, <, >= or > and a finite number, e.g. '>= 100'")
    return name, f"{op} {number:g}"


def _with_limit(result: BenchResult, bound: str) -> BenchResult:
    """``result`` judged also against ``bound``: ok only when it was ok and its value meets ``bound``."""
    return BenchResult(
        result.name,
        result.value,
        result.unit,
        f"{result.target} and {bound}" if result.target else bound,
        result.ok and within(float(result.value), bound),
        {**result.details, "added_limit": bound},
    )


# name -> "module:function" (in design.md's order).
BENCHMARKS: dict[str, str] = {
    "parity_vs_scroll": "harness.benchmarks.verify:parity_vs_scroll",
    "ground_truth_vs_matmul": "harness.benchmarks.verify:ground_truth_vs_matmul",
    "verify_memory_growth_mb": "harness.benchmarks.verify:verify_memory_growth_mb",
    "parity_sample_speedup": "harness.benchmarks.verify:parity_sample_speedup",
    "backfill_vs_upsert": "harness.benchmarks.migration:backfill_vs_upsert",
    "gameday_suite_s": "harness.benchmarks.gameday:gameday_suite_s",
    "certify_vs_floor": "harness.benchmarks.scale:certify_vs_floor",
    "parallel_speedup": "harness.benchmarks.scale:parallel_speedup",
    "certify_rss_growth_mb": "harness.benchmarks.scale:certify_rss_growth_mb",
    "pinecone_backfill_vps": "harness.benchmarks.scale:pinecone_backfill_vps",
    "pinecone_upsert_vps": "harness.benchmarks.pinecone:pinecone_upsert_vps",
    "pinecone_query_qps": "harness.benchmarks.pinecone:pinecone_query_qps",
}


def _load(name: str) -> Callable[[], BenchResult]:
    module_name, _, func = BENCHMARKS[name].partition(":")
    fn: Callable[[], BenchResult] = getattr(import_module(module_name), func)
    return fn


def run_benchmarks(
    only: Sequence[str] = (),
    on_result: Callable[[BenchResult], None] | None = None,
    limits: Mapping[str, str] | None = None,
) -> list[BenchResult]:
    """Run the named benchmarks (all when ``only`` is empty). A benchmark that cannot run is reported
    as a row with ``ok`` false and the reason in ``details["error"]``, never silently skipped.
    ``limits`` (name -> "OP NUMBER", from ``parse_limit``) adds a bound to a figure besides its own."""
    unknown = [n for n in [*only, *(limits or {})] if n not in BENCHMARKS]
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
        if limits and name in limits:
            result = _with_limit(result, limits[name])
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def to_json(results: Sequence[BenchResult]) -> str:
    """``{"benchmarks": [...]}`` as in design.md."""
    return json.dumps({"benchmarks": [r.to_dict() for r in results]}, indent=2, allow_nan=False, default=str)
