"""A second look at parity findings: is a listed record still different, or was it a write in flight?

Verification scans the source, then the target. Under live writes a record dual-written between the
two scans shows up as a finding (an upsert as "extra" on the target, a delete as "missing", an update
as a differing vector) although both sides agree a moment later. ``recheck_parity`` fetches every record
parity found (its typed ``ParityFindings``, never the JSON details) from both stores again, through the
mapping, and compares them with the same ``records.Comparison`` parity used. A check stays failing for
the records that still differ. The gate stays strict:

- a record counts as settled only when both sides hold it equal or neither holds it; anything else —
  including a record whose source cannot be named — still fails;
- a check parity could not list completely, or whose findings no write in flight explains (a mapped
  point under the wrong uuid5, say), is left exactly as found;
- ``parity.count`` passes on a re-check only when the two stores' counts are equal.

A source that shows its own writes late (Pinecone's read-after-write lag) gets ``rounds`` looks on the
injected clock, the waits between them doubling from ``settle_s`` (2, 4, 8 s by default: 14 s in all);
only findings still open are fetched again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from harness.clock import Clock, SystemClock
from harness.model import Check, PointId, RecordBatch, Status, Verdict
from harness.records import Comparison, RecordId, RecordParts, batch_record_ids
from harness.stores.base import VectorStore
from harness.verify.findings import Finding, ParityFindings

__all__ = ["ParityRecheck", "recheck_parity"]

T = TypeVar("T")
Call = Callable[[Callable[[], T]], T]
FETCH_CHUNK = 256
LISTED = 100  # ids a re-checked check lists (counts stay exact)
_Record = RecordParts


@dataclass(frozen=True, slots=True)
class ParityRecheck:
    """What ``recheck_parity`` re-checked: per check, findings looked at, settled, and still differing;
    checks it could not re-check and why; the stores' counts on the last look; the looks it took."""

    rechecked: dict[str, int] = field(default_factory=dict)
    settled: dict[str, list[Any]] = field(default_factory=dict)
    still_differing: dict[str, list[Any]] = field(default_factory=dict)
    not_rechecked: dict[str, str] = field(default_factory=dict)
    counts: tuple[int, int] | None = None
    rounds: int = 0

    @property
    def any(self) -> bool:
        """True when some failing parity check was looked at again (or could not be)."""
        return bool(self.rechecked or self.not_rechecked)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rechecked": dict(self.rechecked),
            "settled": {k: list(v) for k, v in self.settled.items()},
            "still_differing": {k: list(v) for k, v in self.still_differing.items()},
            "not_rechecked": dict(self.not_rechecked),
            "counts": list(self.counts) if self.counts is not None else None,
            "rounds": self.rounds,
        }


def _direct(fn: Callable[[], T]) -> T:
    return fn()


class _Comparer:
    """Fetches the records of findings from both stores and says which still differ."""

    def __init__(self, source: VectorStore, target: VectorStore, comparison: Comparison, call: Call[Any]) -> None:
        self.source, self.target, self.comparison, self.call = source, target, comparison, call
        self.mapping = comparison.mapping

    def _fetch(self, store: VectorStore, ids: Iterable[PointId], default: str) -> dict[RecordId, _Record]:
        """The records ``store`` holds under ``ids``, by ``RecordId``."""
        unique = list(dict.fromkeys(ids))
        out: dict[RecordId, _Record] = {}
        for start in range(0, len(unique), FETCH_CHUNK):
            batch: RecordBatch = self.call(partial(store.fetch, unique[start : start + FETCH_CHUNK]))
            for row, rid in enumerate(batch_record_ids(batch, default)):
                out[rid] = RecordParts.of(batch, row)  # every part: vectors, payload, named and sparse
        return out

    def _source_of(self, findings: Sequence[Finding]) -> list[RecordId | None]:
        """Each finding's source record; for a mapped point known only by its id, the record its payload
        names (None when the point is gone or names none: it cannot settle)."""
        unnamed = [f.target.id for f in findings if f.source is None and f.target is not None]
        held = self._fetch(self.target, unnamed, "") if unnamed else {}
        out: list[RecordId | None] = []
        for f in findings:
            if f.source is not None:
                out.append(f.source)
            elif f.target is not None and f.target in held:
                out.append(self.mapping.source_record(f.target, held[f.target].payload))
            else:
                out.append(None)
        return out

    def still_differing(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings whose records still differ between the stores."""
        sources = self._source_of(findings)
        named = [s for s in sources if s is not None]
        default = self.mapping.default_namespace
        source_records = self._fetch(self.source, [s.id for s in named], default)
        targets = {s: self.mapping.target_record(s) for s in named}
        target_records = self._fetch(
            self.target, [t.id for t in targets.values()], "" if self.mapping.pinecone_to_qdrant else default
        )
        return [
            f
            for f, s in zip(findings, sources, strict=True)
            if s is None or not self.comparison.records_equal(source_records.get(s), target_records.get(targets[s]))
        ]


def recheck_parity(
    verdict: Verdict,
    findings: ParityFindings,
    source: VectorStore,
    target: VectorStore,
    *,
    clock: Clock | None = None,
    rounds: int = 4,
    settle_s: float = 2.0,
    call: Call[Any] | None = None,
) -> tuple[Verdict, ParityRecheck]:
    """``verdict`` with its failing parity checks re-checked against both stores (see module docstring).

    A check passes after the re-check only when every finding it had has settled; otherwise it keeps
    failing with only the findings still open listed. Each re-checked check carries
    ``details["first_look"]`` (what the scan saw) and ``details["recheck"]`` (what settled, what did not,
    the looks taken). ``rounds`` looks at most, waits doubling from ``settle_s`` seconds on ``clock``.
    ``call`` wraps every store call (e.g. a retry policy). Returns the verdict and what was re-checked.
    """
    failing = {c.id: c for c in verdict.checks if c.id.startswith("parity.") and c.status is Status.FAIL}
    report = ParityRecheck()
    if not failing:
        return verdict, report
    clock = clock or SystemClock()
    call = call or _direct
    suspects: list[Finding] = []
    for check_id in failing:
        if check_id == "parity.count":
            report.rechecked[check_id] = 1
        elif check_id in findings.unrecheckable:
            report.not_rechecked[check_id] = findings.unrecheckable[check_id]
        elif not findings.of(check_id):
            report.not_rechecked[check_id] = "the check failed without a record to look at again"
        else:
            mine = findings.of(check_id)
            report.rechecked[check_id] = len(mine)
            suspects += mine
    comparer = _Comparer(source, target, findings.comparison, call)
    recount = "parity.count" in failing
    open_ = list(suspects)
    counts: tuple[int, int] | None = None
    done = 0
    for done in range(1, max(1, rounds) + 1):
        if done > 1:
            clock.sleep(settle_s * 2.0 ** (done - 2))
        if open_:
            open_ = comparer.still_differing(open_)
        if recount and (counts is None or counts[0] != counts[1]):
            counts = (int(call(source.count)), int(call(target.count)))
        if not open_ and (not recount or (counts is not None and counts[0] == counts[1])):
            break
    still = {id(f) for f in open_}
    for f in suspects:
        bucket = report.still_differing if id(f) in still else report.settled
        bucket.setdefault(f.check, []).append(f.listed)
    report = dataclasses.replace(report, counts=counts, rounds=done)
    checks = tuple(
        _rechecked(c, report, [f for f in open_ if f.check == c.id]) if c.id in report.rechecked else c
        for c in verdict.checks
    )
    return dataclasses.replace(verdict, checks=checks), report


def _rechecked(check: Check, report: ParityRecheck, open_: Sequence[Finding]) -> Check:
    """``check`` after the re-check."""
    first_look = {"status": str(check.status), "observed": check.observed, "message": check.message}
    settled = report.settled.get(check.id, [])
    still = report.still_differing.get(check.id, [])
    summary: dict[str, Any] = {
        "rounds": report.rounds,
        "settled_count": len(settled),
        "still_differing_count": len(still),
        "settled": settled[:LISTED],
        "still_differing": still[:LISTED],
    }
    if check.id == "parity.count":
        counts = report.counts
        summary["counts"] = list(counts) if counts is not None else None
        details = {**check.details, "first_look": first_look, "recheck": summary}
        if counts is None or counts[0] != counts[1]:
            return dataclasses.replace(check, details=details)
        return dataclasses.replace(
            check,
            status=Status.PASS,
            observed=counts[1],
            expected=counts[0],
            message=f"{check.message}; on a re-check both stores hold {counts[0]} records (writes in flight during "
            "the scan)",
            details=details,
        )
    details = {**check.details, "first_look": first_look, "recheck": summary}
    if not open_:
        return dataclasses.replace(
            check,
            status=Status.PASS,
            message=f"{check.message}; on a re-check all {len(settled)} records found are equal on both sides or on "
            "neither (writes in flight during the scan)",
            details=details,
        )
    observed: Any
    if check.id == "parity.ids":
        missing = [f.listed for f in open_ if f.kind == "missing"]
        extra = [f.listed for f in open_ if f.kind == "extra"]
        details.update(
            missing=missing[:LISTED], extra=extra[:LISTED], missing_count=len(missing), extra_count=len(extra)
        )
        details.pop("missing_namespaces", None)
        namespaces = [f.source.namespace if f.source is not None else "" for f in open_ if f.kind == "missing"]
        if any(namespaces):
            details["missing_namespaces"] = namespaces[:LISTED]
        observed = {"missing": len(missing), "extra": len(extra)}
        message = f"{len(missing)} source ids missing on the target, {len(extra)} extra ids on the target (re-checked)"
    elif check.id == "parity.mapping":
        kinds = {**dict(check.details.get("counts", {})), "unknown": len(open_)}
        observed = len(open_)
        details.update(counts=kinds, mismatch_count=observed)
        message = f"{check.message} — {len(open_)} points still name no source record on a re-check"
    else:
        differing = [f.listed for f in open_ if not f.kind.startswith("non_finite")]
        details.update(mismatched=differing[:LISTED], mismatch_count=len(differing))
        non_finite = [f for f in open_ if f.kind.startswith("non_finite")]
        if "non_finite" in details:
            details["non_finite"] = {
                "source_count": sum(f.kind == "non_finite_source" for f in non_finite),
                "target_count": sum(f.kind == "non_finite_target" for f in non_finite),
                "source": [f.listed for f in non_finite if f.kind == "non_finite_source"][:LISTED],
                "target": [f.listed for f in non_finite if f.kind == "non_finite_target"][:LISTED],
            }
        observed = len(differing)
        # A record can be a finding twice (its vectors differ and are not finite): the message counts records.
        records = len({(f.source, f.target) for f in open_})
        message = f"{check.message} — {records} still differ on a re-check"
    return dataclasses.replace(check, observed=observed, message=message, details=details)
