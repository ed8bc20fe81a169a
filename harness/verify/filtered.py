"""``quality.filtered``: the filtered searches RAG applications run, on both stores, compared.

Filters come from the query file (each distinct filter with the queries that carry it), or — when the
file brings none — are generated from the source's payloads (``payload_fields.generate_filters``), run
with the first ``filter_queries`` queries. Each filter runs on the source as its own applications write
it (Pinecone syntax on a Pinecone source, Qdrant's on a Qdrant source: ``records.filters``) and on the
target through the translator (``verify/scoped.target_scope``). Per filter:

- **match counts** (``count_filtered`` on each side) must be equal: parity says the records are the
  same, so a different count means the filter *means* something else on the target. They are not asked
  when they cannot differ (``counts_implied``): both stores are the same in-process engine (the same code
  in this process evaluates both), with the same payload indexes, and a full parity scan found every
  record on both sides with an equal payload. A count on a field without a payload index reads every
  payload of the store (2.5 s per million records on Qdrant Edge), twice per filter;
- **top-k overlap** of the filtered results — over the records both stores hold: a record parity finds
  missing or extra is parity's finding — must reach the quality gate ``min(overlap_min, noise −
  noise_slack)``; when it does not, the target's exact filtered search (``{"exact": true}``) is the
  ground truth, and a target clearly better than the source (``policy``'s margin) warns instead of failing;
  so does a filter on a field a Qdrant source holds no payload index on (``unindexed_filter``): there the
  source's own answers are one random draw of its HNSW graph, not a reference, and the check asks instead
  that both stores' *exact* filtered answers agree (they must: parity says the records are the same).

A difference the stores' semantics explain is reported by name (``records.filters.KNOWN_DIFFERENCES``),
not as noise: ``exists_empty_list`` (Pinecone's ``$exists`` on a field holding ``[]``) warns — it is the
target store's meaning, the data are the same; ``int_as_float`` (an integer exact match against a
target that holds ``5.0`` where the source held ``5``, without an integer payload index) fails — the
target's data changed type, and its applications' filters now miss those records. A count that differs by
no more than the records parity found missing, extra or changed is parity's finding, not the filter's
(warn, pointing at ``parity.*``). Anything else that differs fails. A store failing mid-run makes the
check ``error`` (never a pass). A filter one store cannot run at all (qdrant-edge's booleans) warns with
the reason, and a filter on a field whose payload index the thresholds ask for (``payload_indexes``)
warns when the target lacks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import HarnessError, InvalidInputError
from harness.model import Check, SearchResult, Status
from harness.records import RecordMapping
from harness.records.filters import (
    KNOWN_DIFFERENCES,
    Exists,
    Filter,
    fields_of,
    filter_text,
    integer_match_fields,
)
from harness.redact import redact_text
from harness.stores.base import VectorStore
from harness.verify.payload_fields import FieldStats, generate_filters
from harness.verify.policy import EPS
from harness.verify.quality import Ranked
from harness.verify.queries import QuerySet
from harness.verify.scoped import Scope, target_scope
from harness.verify.thresholds import Thresholds

_QDRANT_BACKENDS = frozenset({"qdrant-edge", "qdrant", "qdrant-local"})
IN_PROCESS_ENGINES = frozenset({"qdrant-edge", "qdrant-local", "exact"})
"""Backends whose filters this process evaluates with its own copy of the engine (not a server of some version)."""
MAX_EXTRA_DEPTH = 100  # results asked beyond k to make up for records parity finds on one side only
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class FilterCase:
    """One filter to run: as the source's applications write it, in a namespace, with some queries."""

    label: str
    origin: str  # "query file" or "generated"
    where: Filter
    namespace: str | None
    rows: I64  # rows of the query set it runs with


@dataclass(slots=True)
class FilterOutcome:
    """What one filter did on both stores."""

    case: FilterCase
    status: Status = Status.PASS
    source_count: int | None = None
    target_count: int | None = None
    overlap: float | None = None
    recall_source: float | None = None
    recall_target: float | None = None
    known_difference: str | None = None
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The report's row for this filter."""
        return {
            "filter": filter_text(self.case.where),
            "label": self.case.label,
            "origin": self.case.origin,
            "namespace": self.case.namespace,
            "queries": len(self.case.rows),
            "source_count": self.source_count,
            "target_count": self.target_count,
            "overlap": None if self.overlap is None else round(self.overlap, 4),
            "recall_source": None if self.recall_source is None else round(self.recall_source, 4),
            "recall_target": None if self.recall_target is None else round(self.recall_target, 4),
            "known_difference": self.known_difference,
            "status": str(self.status),
            "note": "; ".join(self.notes),
        }


def plan_filters(queries: QuerySet, stats: FieldStats, thresholds: Thresholds) -> tuple[list[FilterCase], int]:
    """The filters to run (at most ``filters_max``) and how many distinct file filters were left out."""
    if queries.filters is not None:
        groups: dict[tuple[str | None, str], list[int]] = {}
        wheres: dict[tuple[str | None, str], Filter] = {}
        for q, where in enumerate(queries.filters):
            if where is None:
                continue
            ns = queries.namespaces[q] if queries.namespaces is not None else None
            key = (ns, filter_text(where))
            groups.setdefault(key, []).append(q)
            wheres[key] = where
        keys = list(groups)
        cases = [
            FilterCase(
                f"query file: {len(groups[key])} quer{'y' if len(groups[key]) == 1 else 'ies'}",
                "query file",
                wheres[key],
                key[0],
                np.asarray(groups[key], dtype=np.int64),
            )
            for key in keys[: thresholds.filters_max]
        ]
        return cases, max(0, len(keys) - thresholds.filters_max)
    rows = np.arange(min(len(queries), thresholds.filter_queries), dtype=np.int64)
    if len(rows) == 0:
        return [], 0
    return [
        FilterCase(f"generated: {g.label}", "generated", g.where, None, rows)
        for g in generate_filters(stats, thresholds.filters_max)
    ], 0


@dataclass(frozen=True, slots=True)
class FilterContext:
    """Everything a filter run needs besides the filters themselves."""

    source: VectorStore
    target: VectorStore
    mapping: RecordMapping
    queries: QuerySet
    own_keys: Sequence[int | None] | None  # leave-one-out: each query's own record, in the target's key space
    k: int
    thresholds: Thresholds
    noise: float  # the source's noise floor (overlap with itself), from the unfiltered queries
    source_backend: str
    target_backend: str
    source_stats: FieldStats
    target_stats: FieldStats
    target_indexes: Mapping[str, str]
    source_indexes: Mapping[str, str] = field(default_factory=dict)
    records_differing: int = 0  # records parity found missing, extra or with another payload
    records_one_side: int = 0  # of those, the ones only one store holds (missing or extra)
    parity_complete: bool = False  # a full parity scan judged ids and payloads (not sampled, not cut short)
    concurrent: bool = False  # the stores answer in other processes (workers, servers): ask both at once
    held_by_both: Callable[[U64], npt.NDArray[np.bool_]] | None = None  # keys (target space) on both sides


def run_filters(
    cases: Sequence[FilterCase], ctx: FilterContext, advance: Callable[[int], None] | None = None
) -> list[FilterOutcome]:
    """Run every case on both stores and judge it (module docstring)."""
    outcomes = []
    for case in cases:
        outcomes.append(_run_case(case, ctx))
        if advance is not None:
            advance(1)
    return outcomes


def counts_implied(ctx: FilterContext) -> str:
    """Why the match counts cannot differ, or "" when they must be asked (module docstring)."""
    same_engine = ctx.source_backend == ctx.target_backend and ctx.source_backend in IN_PROCESS_ENGINES
    if not same_engine or ctx.mapping.pinecone_to_qdrant:
        return ""
    if dict(ctx.source_indexes) != dict(ctx.target_indexes):
        return ""
    if not ctx.parity_complete or ctx.records_differing:
        return ""
    return (
        f"match counts not asked: both stores are {ctx.source_backend} in this process with the same payload "
        "indexes, and full parity found the same records with equal payloads, so each filter admits the same records"
    )


def _run_case(case: FilterCase, ctx: FilterContext) -> FilterOutcome:
    out = FilterOutcome(case)
    source_scope = Scope(case.namespace, case.where)
    goal = target_scope(source_scope, ctx.mapping)
    implied = bool(counts_implied(ctx))
    # More than k: the query's own record (leave-one-out) and records one store lacks are dropped.
    deep = ctx.k + min(ctx.records_one_side, MAX_EXTRA_DEPTH)
    extra = 1 if ctx.own_keys is not None else 0
    vectors = ctx.queries.vectors[case.rows]
    exclude = None if ctx.own_keys is None else [ctx.own_keys[q] for q in case.rows.tolist()]
    mapped = ctx.mapping.pinecone_to_qdrant

    def ask(store: VectorStore, scope: Scope) -> tuple[int | None, SearchResult]:
        count = None if implied else store.count_filtered(scope.where, namespace=scope.namespace)
        return count, store.search_filtered(vectors, deep + extra, scope.where, namespace=scope.namespace)

    try:
        if ctx.concurrent:  # each store in its own worker or server: ask both at once
            with ThreadPoolExecutor(2, thread_name_prefix="ragmig-filtered") as pool:
                asked = pool.submit(ask, ctx.target, goal)
                (out.source_count, src), (out.target_count, tgt) = ask(ctx.source, source_scope), asked.result()
        else:
            (out.source_count, src), (out.target_count, tgt) = ask(ctx.source, source_scope), ask(ctx.target, goal)
        source_ranked = _common(Ranked.of(src, deep, pinecone_to_qdrant=mapped, exclude=exclude), ctx, ctx.k)
        target_ranked = _common(Ranked.of(tgt, deep, exclude=exclude), ctx, ctx.k)
    except InvalidInputError as exc:  # a filter this store cannot say (qdrant-edge's booleans)
        out.status = Status.WARN
        out.notes.append(f"could not run: {exc}")
        return out
    except HarnessError as exc:  # the store failed: this filter was not judged, which is not a pass
        out.status = Status.ERROR
        out.notes.append(f"did not complete: {type(exc).__name__}: {redact_text(str(exc))}")
        return out
    out.overlap = _mean_overlap(source_ranked, target_ranked, ctx.k)
    required = min(ctx.thresholds.overlap_min, ctx.noise - ctx.thresholds.noise_slack)
    counts_agree = implied or out.source_count == out.target_count
    if not counts_agree:
        out.notes.append(f"match counts differ: source {out.source_count}, target {out.target_count}")
    overlap_ok = out.overlap >= required - EPS
    if not overlap_ok:
        out.notes.append(f"top-{ctx.k} overlap {out.overlap:.3f} < {required:.3f}")
        truth = _exact(ctx, ctx.target, goal, vectors, exclude) if counts_agree else None
        if truth is not None and _clearly_better(out, ctx, truth, source_ranked, target_ranked):
            out.notes.append(
                f"but the target is clearly better against its exact filtered search (recall "
                f"{out.recall_source:.3f} → {out.recall_target:.3f}): results changed toward the exact answers"
            )
            overlap_ok = True
            out.status = Status.WARN
        elif truth is not None and (unindexed := _graph_dependent(case, ctx)):
            exact_overlap = _mean_overlap(_exact(ctx, ctx.source, source_scope, vectors, exclude), truth, ctx.k)
            if exact_overlap >= required - EPS:
                out.known_difference = "unindexed_filter"
                out.notes.append(
                    f"known difference unindexed_filter: the source has no payload index on {unindexed}, so its "
                    f"filtered HNSW search is approximate (recall {out.recall_source:.3f} against its exact answers, "
                    f"the target's {out.recall_target:.3f}) and differs between two builds of the same graph; "
                    f"both stores' exact filtered answers agree (overlap {exact_overlap:.3f}): "
                    f"{KNOWN_DIFFERENCES['unindexed_filter']}"
                )
                out.status = Status.WARN
                return out
            out.notes.append(f"the stores' exact filtered answers differ too (overlap {exact_overlap:.3f})")
    if counts_agree and overlap_ok:
        return out
    name, blocking, why = _diagnose(case, goal, out, ctx)
    if name is not None:
        out.known_difference = name
        out.notes.append(f"known difference {name}: {why}")
        out.status = Status.FAIL if blocking else Status.WARN
    elif overlap_ok and abs((out.source_count or 0) - (out.target_count or 0)) <= ctx.records_differing:
        out.notes.append(
            f"within the {ctx.records_differing} records parity finds missing, extra or changed (parity.* judges them)"
        )
        out.status = Status.WARN
    else:
        out.status = Status.FAIL
    return out


def _common(ranked: Ranked, ctx: FilterContext, k: int) -> Ranked:
    """The first ``k`` of ``ranked`` that both stores hold (a record only one holds is parity's finding)."""
    keys_out, ids_out = [], []
    every = np.concatenate(ranked.keys) if ranked.keys else np.zeros(0, dtype=np.uint64)
    # One lookup for all the queries' results (on a partitioned scan each lookup is a round trip to the workers).
    held_all = ctx.held_by_both(every) if ctx.held_by_both is not None else np.ones(len(every), dtype=bool)
    ends = np.cumsum([len(keys) for keys in ranked.keys], dtype=np.int64)
    for keys, ids, end in zip(ranked.keys, ranked.ids, ends.tolist(), strict=True):
        held = held_all[end - len(keys) : end]
        keep = np.flatnonzero(held)[:k]
        keys_out.append(keys[keep])
        ids_out.append(tuple(ids[i] for i in keep.tolist()))
    return Ranked(tuple(keys_out), tuple(ids_out), ranked.pinecone_to_qdrant)


def _mean_overlap(a: Ranked, b: Ranked, k: int) -> float:
    values = []
    for x, y in zip(a.keys, b.keys, strict=True):
        if len(x) == 0 and len(y) == 0:
            values.append(1.0)
        else:
            values.append(len(np.intersect1d(x, y)) / max(1, min(k, max(len(x), len(y)))))
    return float(np.mean(values)) if values else 1.0


def _exact(
    ctx: FilterContext, store: VectorStore, scope: Scope, vectors: F32, exclude: list[int | None] | None
) -> Ranked:
    """``store``'s exact filtered search (``{"exact": true}``) in ``scope``: the target's is the ground truth the
    results are scored on; a Qdrant source's is what the target's must agree with (``unindexed_filter``)."""
    extra = 1 if exclude is not None else 0
    deep = ctx.k + min(ctx.records_one_side, MAX_EXTRA_DEPTH)
    found = store.search_filtered(vectors, deep + extra, scope.where, namespace=scope.namespace, params={"exact": True})
    return _common(Ranked.of(found, deep, exclude=exclude), ctx, ctx.k)


def _clearly_better(
    out: FilterOutcome, ctx: FilterContext, truth: Ranked, source_ranked: Ranked, target_ranked: Ranked
) -> bool:
    """Recall of both sides against the target's exact filtered search (``truth``); True for a clear upgrade."""
    out.recall_source = _mean_overlap(source_ranked, truth, ctx.k)
    out.recall_target = _mean_overlap(target_ranked, truth, ctx.k)
    margin = max(ctx.thresholds.upgrade_margin, 1.0 - ctx.noise)
    return out.recall_target - out.recall_source > margin


def _graph_dependent(case: FilterCase, ctx: FilterContext) -> str:
    """The fields of ``case`` a Qdrant source holds no payload index on, quoted ("" when none, or when the
    source is not Qdrant): Qdrant searches such a filter on the HNSW graph checking each point it visits,
    so its answers depend on the graph's random build (qdrant/qdrant#6477: levels from an unseeded RNG)."""
    if ctx.source_backend not in _QDRANT_BACKENDS:
        return ""
    return ", ".join(repr(f) for f in sorted(fields_of(case.where) - set(ctx.source_indexes)))


def _semantics(backend: str) -> str:
    return "pinecone" if backend == "pinecone" else "qdrant"


def _diagnose(case: FilterCase, goal: Scope, out: FilterOutcome, ctx: FilterContext) -> tuple[str | None, bool, str]:
    """(known difference, whether it fails, why) for a filter whose answers differ; (None, True, "") when
    nothing known explains it."""
    exists_fields = fields_of(case.where, Exists)
    if exists_fields and _semantics(ctx.source_backend) != _semantics(ctx.target_backend):
        holding = sorted(
            f
            for f in exists_fields
            for stats in (ctx.source_stats, ctx.target_stats)
            if f in stats.fields and (stats.fields[f].empty_lists or stats.fields[f].nulls)
        )
        if holding:
            return (
                "exists_empty_list",
                False,
                f"{holding[0]!r} holds [] in some records; {KNOWN_DIFFERENCES['exists_empty_list']}",
            )
    for name in sorted(integer_match_fields(goal.where) | integer_match_fields(case.where)):
        source_tally, target_tally = ctx.source_stats.fields.get(name), ctx.target_stats.fields.get(name)
        if ctx.target_indexes.get(name) == "integer" or source_tally is None or target_tally is None:
            continue
        if target_tally.integral_floats and source_tally.true_ints:
            return (
                "int_as_float",
                True,
                f"the target holds {name!r} as floats ({target_tally.integral_floats} of {target_tally.present} sampled "
                f"values like 5.0) where the source holds integers, and has no integer payload index on it: "
                f"{KNOWN_DIFFERENCES['int_as_float']}. Migrate the values as integers (or index {name!r} as integer)",
            )
        if source_tally.integral_floats and target_tally.true_ints and ctx.source_backend != "pinecone":
            return (
                "int_as_float",
                False,
                f"the source holds {name!r} as floats where the target holds integers: "
                f"{KNOWN_DIFFERENCES['int_as_float']}; the target's answer is the intended one",
            )
    return None, True, ""


def filtered_check(outcomes: Sequence[FilterOutcome], left_out: int, ctx: FilterContext, about: str) -> Check:
    """``quality.filtered`` from the filters' outcomes (module docstring)."""
    if not outcomes:
        return skipped_filtered(
            "no filters to run: the query file has none and the source's payloads hold no fields to filter on"
        )
    required = {f: kind for f, kind in ctx.thresholds.payload_indexes.items()}
    filtered_fields = set().union(*(fields_of(o.case.where) for o in outcomes))
    unindexed = sorted(f for f in filtered_fields & set(required) if ctx.target_indexes.get(f) != required[f])
    for o in outcomes:
        missing = sorted(fields_of(o.case.where) & set(unindexed))
        if missing:
            o.notes.append(f"ran without the payload index the thresholds ask for on {', '.join(missing)}")
            if o.status is Status.PASS:
                o.status = Status.WARN
    statuses = [o.status for o in outcomes]
    status = next((s for s in (Status.ERROR, Status.FAIL, Status.WARN) if s in statuses), Status.PASS)
    bad = [o for o in outcomes if o.status in (Status.FAIL, Status.ERROR)]
    known = sorted({o.known_difference for o in outcomes if o.known_difference})
    first = bad[0] if bad else next((o for o in outcomes if o.status is Status.WARN), None)
    parts = [f"{len(outcomes)} filters ({about}): {statuses.count(Status.PASS)} agree"]
    if bad:
        errors = statuses.count(Status.ERROR)
        parts.append(f"{len(bad) - errors} differ" + (f", {errors} did not complete" if errors else ""))
    warned = statuses.count(Status.WARN)
    if warned:
        parts.append(f"{warned} warn")
    message = ", ".join(parts)
    implied = counts_implied(ctx)
    if implied:
        message += f"; {implied}"
    if known:
        message += f"; known differences: {', '.join(known)}"
    if unindexed:
        message += (
            f"; filters on {', '.join(map(repr, unindexed))} ran without the payload index the thresholds ask for "
            "(schema.payload_indexes)"
        )
    if first is not None:
        message += f"; e.g. {filter_text(first.case.where)}: {'; '.join(first.notes)}"
    if left_out:
        message += f"; {left_out} more distinct filters not run (filters_max {ctx.thresholds.filters_max})"
    worst_overlap = min((o.overlap for o in outcomes if o.overlap is not None), default=None)
    return Check(
        "quality.filtered",
        status,
        None if worst_overlap is None else round(worst_overlap, 4),
        round(min(ctx.thresholds.overlap_min, ctx.noise - ctx.thresholds.noise_slack), 4),
        message,
        {
            "filters": [o.row() for o in outcomes],
            "known_differences": {name: KNOWN_DIFFERENCES[name] for name in known},
            "unindexed_fields": unindexed,
            "not_run": left_out,
            "counts_implied": bool(implied),
            "source_fields": ctx.source_stats.describe(),
        },
    )


def skipped_filtered(reason: str) -> Check:
    """``quality.filtered`` as SKIP with ``reason``."""
    return Check("quality.filtered", Status.SKIP, None, None, reason)
