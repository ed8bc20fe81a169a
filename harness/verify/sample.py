"""Sampled parity: check a uniform random sample of source records by exact fetch on both sides, and say
what the sample proves — "at most x % of records missing or different, at 99 % confidence".

The full scan (``harness.verify.parity``) stays the default and is what a final gate uses: it finds every
difference. Sampling is the CI-speed mode for collections too large to scan on every change. It finds a
difference that touches a fraction p of the records with probability ``1 - P(no sampled record is one)``,
and when it finds none it bounds p from above:

- **The sample.** ``n`` of the source's ``N`` records (``count()``), drawn uniformly without replacement:
  ``n`` scan positions are chosen with numpy's seeded generator, and one ids-only scan of the source
  (``IdScan.scroll_ids``: no vectors, no payloads) picks the ids at those positions. Each adapter lists
  ids its cheapest way: Qdrant Edge and qdrant-client scroll with ``with_vector=False,
  with_payload=False``; Pinecone ``list``s ids (100 a request) without fetching; the exact store reads its
  index. A store without ``scroll_ids`` (a wrapper) is scrolled in full. Qdrant's own random-sample query
  is not used: it draws per segment, and nothing promises the draws are uniform over the collection.
- **The comparison.** The sampled records are fetched from the source and, through the mapping
  (``records.RecordMapping``), from the target, and compared with the one ``records.Comparison``: a
  record is *missing* (absent on the target) or *different* (default or named vectors, payload, sparse
  vectors, Pinecone mapping fields).
- **The bound.** With ``k`` records found missing or different among ``n`` drawn from ``N``, the number of
  such records in the whole collection is at most the largest ``M`` for which seeing ``k`` or fewer was
  still more likely than ``1 - confidence``: ``max{M : P(X ≤ k) > 1 - confidence}``, ``X`` hypergeometric
  (population ``N``, ``M`` bad records, ``n`` draws). That is the exact one-sided bound for sampling
  without replacement (the finite-population counterpart of Clopper-Pearson's binomial bound, which it
  never exceeds), computed with ``scipy.stats.hypergeom``; x = M / N. A sample of every record (n = N)
  bounds nothing away: x = k / N.
- **What it does not see.** Target records no source record maps to (*extra*) are not sampled; when the
  two exact counts are equal (``parity.count``) there are exactly as many extra records as missing ones,
  so the bound covers them too. Duplicates and points naming unknown records (``parity.mapping``'s
  full-scan kinds) need the full scan.

``sample_parity`` returns the six ``parity.*`` checks (``parity.count`` exact; the others over the sample,
each stating its own bound), the records found, the combined bound, and ``ParityFindings`` for the
re-check (``verify.recheck``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.model import Check, PointId, RecordBatch, Status
from harness.records import (
    NAMESPACE_FIELD,
    ORIGINAL_ID_FIELD,
    Comparison,
    RecordId,
    RecordParts,
    batch_record_ids,
    field_diffs,
)
from harness.stores.base import IdScan, VectorStore, iter_batches
from harness.verify.findings import Finding, ParityFindings
from harness.verify.parity import sparse_check
from harness.verify.thresholds import Thresholds

__all__ = [
    "CONFIDENCE",
    "SampleBound",
    "SampleResult",
    "sample_ids",
    "sample_parity",
    "sample_size_for",
    "upper_bound",
]

CONFIDENCE = 0.99
"""The confidence of every bound sampled parity states."""
ID_PAGE = 10_000  # ids per page of the ids-only scan
FETCH_CHUNK = 256  # records per fetch of each side
I64 = npt.NDArray[np.int64]


# -- the bound --------------------------------------------------------------------------------------------
def upper_bound(findings: int, sampled: int, population: int, confidence: float = CONFIDENCE) -> int:
    """The largest number of bad records among ``population`` consistent, at ``confidence``, with
    ``findings`` bad ones in a uniform sample of ``sampled`` without replacement (exact hypergeometric
    bound, see the module docstring). ``ValueError`` for impossible arguments."""
    if not 0 <= findings <= sampled <= population or not 0 < confidence < 1:
        raise ValueError(
            f"need 0 <= findings <= sampled <= population and 0 < confidence < 1, got {findings}, {sampled}, "
            f"{population}, {confidence}"
        )
    from scipy.stats import hypergeom  # scipy.stats takes 2 s to import; only a sampled run needs it

    alpha = 1.0 - confidence
    # The bad records outside the sample are at most population - sampled.
    low, high = findings, findings + (population - sampled)
    if sampled == population or hypergeom.cdf(findings, population, high, sampled) > alpha:
        return high
    # P(X <= findings) falls as M grows: the last M where it is still above alpha.
    while high - low > 1:
        middle = (low + high) // 2
        if hypergeom.cdf(findings, population, middle, sampled) > alpha:
            low = middle
        else:
            high = middle
    return low


def sample_size_for(max_fraction: float, population: int, confidence: float = CONFIDENCE) -> int:
    """The smallest sample whose clean result (no findings) bounds the bad records below ``max_fraction``
    of ``population`` at ``confidence``: then a collection with ``max_fraction`` or more of its records
    missing or different is caught (at least one finding) with probability at least ``confidence``."""
    if not 0 < max_fraction <= 1 or population < 1:
        raise ValueError(f"need 0 < max_fraction <= 1 and population >= 1, got {max_fraction}, {population}")
    from scipy.stats import hypergeom  # scipy.stats takes 2 s to import; only a sampled run needs it

    bad = max(1, math.ceil(max_fraction * population))  # the fewest bad records the sample must not miss
    low, high = 0, population
    while high - low > 1:  # P(no bad record sampled) falls as the sample grows
        middle = (low + high) // 2
        if hypergeom.pmf(0, population, bad, middle) > 1.0 - confidence:
            low = middle
        else:
            high = middle
    return high


@dataclass(frozen=True, slots=True)
class SampleBound:
    """What a sample proves: at most ``max_records`` (``max_fraction`` of ``population``) records are
    missing or different, at ``confidence``, given ``findings`` of them among ``sampled``."""

    sampled: int
    population: int
    findings: int
    max_records: int
    confidence: float = CONFIDENCE
    method: str = "exact hypergeometric bound (uniform sample without replacement), scipy.stats.hypergeom"

    @classmethod
    def of(cls, findings: int, sampled: int, population: int, confidence: float = CONFIDENCE) -> SampleBound:
        """The bound for ``findings`` in ``sampled`` of ``population``."""
        if population == 0:
            return cls(0, 0, 0, 0, confidence)
        return cls(sampled, population, findings, upper_bound(findings, sampled, population, confidence), confidence)

    @property
    def max_fraction(self) -> float:
        """The bound as a fraction of the population (0–1)."""
        return self.max_records / self.population if self.population else 0.0

    def statement(self, what: str = "missing or different") -> str:
        """``"at most 0.046 % of records missing or different, at 99 % confidence"``."""
        return f"at most {_percent(self.max_fraction)} of records {what}, at {_percent(self.confidence)} confidence"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sampled": self.sampled,
            "population": self.population,
            "findings": self.findings,
            "max_records": self.max_records,
            "max_fraction": self.max_fraction,
            "confidence": self.confidence,
            "method": self.method,
        }


def _percent(fraction: float) -> str:
    value = 100.0 * fraction
    if value == 0 or value >= 1:
        return f"{value:.3g} %"
    return f"{value:.2g} %"


# -- drawing the sample -------------------------------------------------------------------------------------
def _id_pages(store: VectorStore) -> Iterator[tuple[Sequence[PointId], Sequence[str] | None]]:
    """Every id of ``store`` once, in scan order, page by page, as cheaply as the store allows."""
    if isinstance(store, IdScan):
        cursor = None
        while True:
            page, cursor = store.scroll_ids(ID_PAGE, cursor)
            if page.ids:
                yield page.ids, page.namespaces
            if cursor is None:
                return
    for batch in iter_batches(store, ID_PAGE):  # a wrapper without scroll_ids: the full scroll
        yield batch.ids, batch.namespaces


def sample_ids(
    store: VectorStore, n: int, *, seed: int = 0, population: int | None = None
) -> tuple[list[RecordId], int]:
    """A uniform sample without replacement of ``n`` records of ``store`` (all when it holds fewer), in
    scan order, and the population it was drawn from (``population`` or ``count()``).

    Positions are drawn first and the ids at those positions are picked during one ids-only scan, so
    memory is the sample's, not the collection's. Records deleted during the scan shrink the sample;
    records added during it are not drawn.
    """
    total = store.count() if population is None else population
    size = min(max(n, 0), total)
    if size == 0:
        return [], total
    positions = np.sort(np.random.default_rng(seed).choice(total, size=size, replace=False)).astype(np.int64)
    picked: list[RecordId] = []
    seen = 0
    for ids, namespaces in _id_pages(store):
        start, stop = np.searchsorted(positions, [seen, seen + len(ids)])
        for offset in (positions[start:stop] - seen).tolist():
            picked.append(RecordId(namespaces[offset] if namespaces else "", ids[offset]))
        seen += len(ids)
        if stop == len(positions):
            break
    return picked, total


# -- comparing the sample -----------------------------------------------------------------------------------
@dataclass
class _Found:
    """Sampled records found missing or different, by kind."""

    missing: list[RecordId] = field(default_factory=list)
    vectors: list[tuple[RecordId, RecordId, dict[str, Any]]] = field(default_factory=list)
    payloads: list[tuple[RecordId, RecordId, dict[str, Any]]] = field(default_factory=list)
    sparse: list[tuple[RecordId, RecordId, dict[str, Any]]] = field(default_factory=list)
    mapping: list[tuple[RecordId, RecordId, dict[str, Any]]] = field(default_factory=list)

    def records(self) -> set[RecordId]:
        """Every sampled source record with at least one finding."""
        out = set(self.missing)
        for found in (self.vectors, self.payloads, self.sparse, self.mapping):
            out.update(source for source, _, _ in found)
        return out


def _fetched(store: VectorStore, ids: Sequence[PointId], default_namespace: str) -> dict[RecordId, RecordParts]:
    out: dict[RecordId, RecordParts] = {}
    for start in range(0, len(ids), FETCH_CHUNK):
        batch: RecordBatch = store.fetch(list(ids[start : start + FETCH_CHUNK]))
        for row, rid in enumerate(batch_record_ids(batch, default_namespace)):
            out[rid] = RecordParts.of(batch, row)
    return out


def _compare(
    source: VectorStore, target: VectorStore, sampled: list[RecordId], comparison: Comparison
) -> tuple[_Found, int]:
    """Fetch the sampled records from both sides and compare them; also the number still on the source."""
    mapping = comparison.mapping
    default = mapping.default_namespace
    held = _fetched(source, list(dict.fromkeys(r.id for r in sampled)), default)
    targets = {r: mapping.target_record(r) for r in sampled}
    on_target = _fetched(
        target, list(dict.fromkeys(t.id for t in targets.values())), "" if mapping.pinecone_to_qdrant else default
    )
    found = _Found()
    pairs: list[tuple[RecordId, RecordId, RecordParts, RecordParts]] = []
    compared = 0
    for record in sampled:
        src = held.get(record)
        if src is None:
            continue  # deleted on the source since the ids were listed: not a finding
        compared += 1
        tgt = on_target.get(targets[record])
        if tgt is None:
            found.missing.append(record)
        else:
            pairs.append((record, targets[record], src, tgt))
    if not pairs:
        return found, compared
    # Default vectors of every pair at once; the rest record by record.
    a = np.array([src.vector for _, _, src, _ in pairs])
    b = np.array([tgt.vector for _, _, _, tgt in pairs])
    equal = comparison.vectors_equal(a, b)
    differences = comparison.vector_differences(a, b)
    for (record, tid, src, tgt), same, difference in zip(pairs, equal.tolist(), differences.tolist(), strict=True):
        named = comparison.named_differences(src, tgt)
        if named or not same:
            entry: dict[str, Any] = {"max_abs_diff": difference}
            if named:
                entry["named_vectors"] = named
            found.vectors.append((record, tid, entry))
        fields = field_diffs(*comparison.payload_forms(src.payload, tgt.payload))
        if fields:
            found.payloads.append((record, tid, {"fields": [name for name, _ in fields]}))
        sparse = comparison.sparse_differences(src, tgt)
        if sparse:
            entries = {
                "vectors": sparse,
                "source_entries": sum(len(r[0]) for r in src.sparse.values()),
                "target_entries": sum(len(r[0]) for r in tgt.sparse.values()),
            }
            found.sparse.append((record, tid, entries))
        if mapping.pinecone_to_qdrant and mapping.source_record(tid, tgt.payload) != record:
            found.mapping.append((record, tid, {"names": _named_by(tgt.payload)}))
    return found, compared


def _named_by(payload: Any) -> Any:
    """The record a mapped point's payload names."""
    return {"id": payload.get(ORIGINAL_ID_FIELD), "namespace": payload.get(NAMESPACE_FIELD)}


# -- the checks ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SampleResult:
    """What ``sample_parity`` found: the six ``parity.*`` checks, the sampled source records, those found
    missing on the target or different (by check id), the combined bound, and the findings in the form
    the re-check reads."""

    checks: list[Check]
    sampled: list[RecordId]
    missing: list[RecordId]
    different: dict[str, list[RecordId]]
    bound: SampleBound
    seed: int
    findings: ParityFindings

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not any(c.status is Status.FAIL for c in self.checks)


def _shown(source: RecordId, target: RecordId) -> Any:
    return source.id if source.id == target.id else {"source": source.id, "target": target.id}


def _sampled_check(
    check_id: str,
    found: list[tuple[RecordId, RecordId, dict[str, Any]]],
    compared: int,
    population: int,
    what: str,
    listed: int,
    extra: dict[str, Any],
) -> Check:
    bound = SampleBound.of(len(found), compared, population)
    sample = [{"id": _shown(s, t), **entry} for s, t, entry in found[:listed]]
    details = {
        "mode": "sampled",
        "mismatch_count": len(found),
        "mismatched": [entry["id"] for entry in sample],
        "sample": sample,
        "compared": compared,
        "bound": bound.to_dict(),
        **extra,
    }
    head = f"{len(found)} of {compared} sampled source records have {what} that differ"
    if found:
        shown = ", ".join(str(e["id"]) for e in sample[:5]) + (", …" if len(found) > 5 else "")
        head += f" (ids {shown})"
    message = f"{head}: {bound.statement(f'with {what} that differ')}"
    status = Status.FAIL if found else Status.PASS
    return Check(check_id, status, len(found), 0, message, details)


def sample_parity(
    source: VectorStore,
    target: VectorStore,
    n: int,
    *,
    seed: int = 0,
    thresholds: Thresholds | None = None,
) -> SampleResult:
    """Sampled parity of ``target`` against ``source`` over ``n`` source records drawn uniformly with
    ``seed`` (see the module docstring): the six ``parity.*`` checks, what was found, and the bound
    "at most x % of records missing or different, at 99 % confidence" (``SampleResult.bound``).

    ``parity.count`` compares the exact counts as the full scan does; each other check covers the sample
    and states its own bound. ``ValueError`` when ``n`` < 1.
    """
    if n < 1:
        raise ValueError(f"the sample needs at least 1 record, got {n}")
    thresholds = thresholds or Thresholds()
    comparison = Comparison.for_schemas(source.describe(), target.describe(), thresholds.vector_tolerance)
    source_count, target_count = source.count(), target.count()
    sampled, population = sample_ids(source, n, seed=seed, population=source_count)
    found, compared = _compare(source, target, sampled, comparison)
    listed = thresholds.sample_size
    mapping = comparison.mapping
    bound = SampleBound.of(len(found.records()), compared, population)
    scope = {"sampled": len(sampled), "population": population, "seed": seed}

    count_ok = source_count == target_count
    checks = [
        Check(
            "parity.count",
            Status.PASS if count_ok else Status.FAIL,
            target_count,
            source_count,
            f"target holds {target_count} records, source {source_count}"
            + ("" if count_ok else f" ({target_count - source_count:+d})"),
            {"mode": "exact counts (sampled parity)"},
        )
    ]
    missing_bound = SampleBound.of(len(found.missing), compared, population)
    extra_note = (
        "; with equal counts the target holds exactly as many extra records as missing ones"
        if count_ok
        else "; the counts differ, so extra target records may exist beyond the missing ones (parity.count)"
    )
    missing_shown = [r.id for r in found.missing[:listed]]
    checks.append(
        Check(
            "parity.ids",
            Status.FAIL if found.missing else Status.PASS,
            {"missing": len(found.missing)},
            {"missing": 0},
            f"{len(found.missing)} of {compared} sampled source records missing on the target"
            + (
                f" (ids {', '.join(map(str, missing_shown[:5]))}{', …' if len(missing_shown) > 5 else ''})"
                if found.missing
                else ""
            )
            + f": {missing_bound.statement('missing')}{extra_note}",
            {
                "mode": "sampled",
                "missing_count": len(found.missing),
                "missing": missing_shown,
                **(
                    {"missing_namespaces": [r.namespace for r in found.missing[:listed]]}
                    if any(r.namespace for r in found.missing[:listed])
                    else {}
                ),
                "compared": compared,
                "bound": missing_bound.to_dict(),
                **scope,
            },
        )
    )
    checks.append(
        _sampled_check(
            "parity.vectors",
            found.vectors,
            compared,
            population,
            "vectors",
            listed,
            {**scope, "tolerance": comparison.tolerance, "normalised": comparison.normalise},
        )
    )
    checks.append(_sampled_check("parity.payloads", found.payloads, compared, population, "payloads", listed, scope))
    if mapping.pinecone_to_qdrant:
        checks.append(
            _sampled_check("parity.mapping", found.mapping, compared, population, "mapping fields", listed, scope)
        )
    else:
        checks.append(
            Check(
                "parity.mapping",
                Status.SKIP,
                None,
                None,
                "no id mapping between these stores: records keep their ids",
                {"mode": "sampled"},
            )
        )
    sparse_findings = [Finding("parity.sparse", "sparse", s, t, _shown(s, t)) for s, t, _ in found.sparse]
    sparse_bound = SampleBound.of(len(found.sparse), compared, population)
    sparse = sparse_check(
        len(found.sparse),
        compared,
        [{"id": _shown(s, t), **entry} for s, t, entry in found.sparse[:listed]],
        comparison,
        has_sparse=bool(comparison.sparse_names),
        findings=[],
        found=[],
        unrecheckable={},
        scope="sampled source records",
    )
    if sparse.status is not Status.SKIP:
        sparse = Check(
            sparse.id,
            sparse.status,
            sparse.observed,
            sparse.expected,
            f"{sparse.message}: {sparse_bound.statement('with sparse vectors that differ')}",
            {**sparse.details, "mode": "sampled", "bound": sparse_bound.to_dict(), **scope},
        )
    checks.append(sparse)

    findings = [Finding("parity.ids", "missing", r, mapping.target_record(r), r.id) for r in found.missing]
    findings += [Finding("parity.vectors", "vectors", s, t, _shown(s, t)) for s, t, _ in found.vectors]
    findings += [Finding("parity.payloads", "payloads", s, t, s.id) for s, t, _ in found.payloads]
    findings += sparse_findings
    findings += [Finding("parity.mapping", "unknown", s, t, t.id) for s, t, _ in found.mapping]
    return SampleResult(
        checks=checks,
        sampled=sampled,
        missing=list(found.missing),
        different={
            "parity.vectors": [s for s, _, _ in found.vectors],
            "parity.payloads": [s for s, _, _ in found.payloads],
            "parity.sparse": [s for s, _, _ in found.sparse],
            "parity.mapping": [s for s, _, _ in found.mapping],
        },
        bound=bound,
        seed=seed,
        findings=ParityFindings(
            comparison,
            tuple(findings),
            # A point under another record's name is no write in flight: the re-check leaves it as found.
            {"parity.mapping": "points that name another record"} if found.mapping else {},
            (source_count, target_count),
        ),
    )
