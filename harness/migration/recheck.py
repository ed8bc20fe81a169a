"""A second look at parity findings: is a listed record still different, or was it a write in flight?

Verification scans the source, then the target. Under live writes a record dual-written between the
two scans shows up as a mismatch (an upsert as "extra" on the target, a delete as "missing", an update
as a differing vector) although both sides agree a moment later. ``confirm_parity`` fetches every
record the parity checks listed from both stores again (through the source → target mapping) and keeps
a check failing only for the records that still differ. The gate stays strict:

- a record counts as settled only when both sides hold it equal (vector within the parity tolerance,
  canonical payload) or neither holds it; anything else still fails;
- a check whose listing is a sample (more findings than ids listed), or that carries no listing at all,
  is left exactly as found — what is not listed cannot be re-checked;
- ``parity.count`` passes on a re-check only when the two stores' counts are equal.

A source that shows its own writes late (Pinecone's read-after-write lag) gets ``rounds`` looks on the
injected clock, the waits between them doubling from ``settle_s`` (2, 4, 8 s by default: 14 s in all);
only findings still open are fetched again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np

from harness.clock import Clock, SystemClock
from harness.migration.backfill import TargetMapping
from harness.migration.mapping import MAPPING_FIELDS, NAMESPACE_FIELD, ORIGINAL_ID_FIELD, canonical_payload
from harness.model import Check, PointId, RecordBatch, Status, Verdict
from harness.stores.base import VectorStore

__all__ = ["ParityRecheck", "confirm_parity"]

T = TypeVar("T")
Call = Callable[[Callable[[], T]], T]
FETCH_CHUNK = 256
DEFAULT_TOLERANCE = 1e-4  # when the verdict has no parity.vectors check to take it from
_Key = tuple[str, PointId]  # (namespace, source id)


@dataclass(frozen=True, slots=True)
class _Suspect:
    """One listed finding: the source id (namespace when known) and/or the target id it concerns."""

    index: int  # position among the verdict's findings (stable through the re-check)
    check: str
    kind: str  # missing, extra, vectors, payloads
    listed: Any  # as the check listed it (kept for the report)
    source_id: PointId | None
    namespace: str | None
    target_id: PointId | None


@dataclass(frozen=True, slots=True)
class ParityRecheck:
    """What ``confirm_parity`` re-checked: per check, findings listed, settled, and still differing;
    checks it could not re-check and why; the rounds it took."""

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
        """JSON-ready form (for the journal)."""
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


def _listing(check: Check, count_key: str, list_key: str) -> list[Any] | None:
    """The check's full listing, or None when it is a sample or absent."""
    details = check.details
    if count_key not in details or not isinstance(details.get(list_key), list):
        return None
    listed = list(details[list_key])
    return listed if len(listed) == int(details[count_key]) else None


def _suspects(verdict: Verdict, mapping: TargetMapping, report: ParityRecheck) -> list[_Suspect]:
    """Every listed finding of the failing parity checks (checks without a full listing are noted)."""
    out: list[_Suspect] = []
    failing = {c.id: c for c in verdict.checks if c.id.startswith("parity.") and c.status is Status.FAIL}
    default = mapping.default_namespace
    if "parity.ids" in failing:
        check = failing["parity.ids"]
        missing = _listing(check, "missing_count", "missing")
        extra = _listing(check, "extra_count", "extra")
        if missing is None or extra is None:
            report.not_rechecked["parity.ids"] = "the check lists a sample of its ids, not all of them"
        else:
            spaces = check.details.get("missing_namespaces") or [default] * len(missing)
            for pid, ns in zip(missing, spaces, strict=True):
                out.append(_Suspect(len(out), "parity.ids", "missing", pid, pid, ns or default, None))
            for tid in extra:
                # Identity: the target id is the source id. Mapped: the target's payload names it.
                source_id = None if mapping.pinecone_to_qdrant else tid
                out.append(_Suspect(len(out), "parity.ids", "extra", tid, source_id, None, tid))
    for check_id, kind in (("parity.vectors", "vectors"), ("parity.payloads", "payloads")):
        if check_id not in failing:
            continue
        listed = _listing(failing[check_id], "mismatch_count", "mismatched")
        if listed is None:
            report.not_rechecked[check_id] = "the check lists a sample of its ids, not all of them"
            continue
        for item in listed:
            if isinstance(item, Mapping):  # {"source": sid, "target": tid} when the ids differ
                out.append(_Suspect(len(out), check_id, kind, dict(item), item.get("source"), None, item.get("target")))
            else:
                target_id = None if mapping.pinecone_to_qdrant else item
                out.append(_Suspect(len(out), check_id, kind, item, item, None, target_id))
    return out


def _fetch(store: VectorStore, ids: Iterable[PointId], call: Call[RecordBatch]) -> list[RecordBatch]:
    unique = list(dict.fromkeys(ids))
    chunks = [unique[i : i + FETCH_CHUNK] for i in range(0, len(unique), FETCH_CHUNK)]
    return [call(partial(store.fetch, chunk)) for chunk in chunks]


def _records(batches: Sequence[RecordBatch], default: str) -> dict[_Key, tuple[np.ndarray, Mapping[str, Any]]]:
    """Fetched records keyed by (namespace, id)."""
    out: dict[_Key, tuple[np.ndarray, Mapping[str, Any]]] = {}
    for batch in batches:
        spaces = batch.namespaces or (default,) * len(batch)
        for pid, ns, vector, payload in zip(batch.ids, spaces, batch.vectors, batch.payloads, strict=True):
            out[(ns or default, pid)] = (vector, payload)
    return out


class _Comparer:
    """Fetches listed records from both stores and says which still differ."""

    def __init__(
        self,
        source: VectorStore,
        target: VectorStore,
        mapping: TargetMapping,
        tolerance: float,
        normalise: bool,
        call: Call[Any],
    ) -> None:
        self.source, self.target, self.mapping = source, target, mapping
        self.tolerance, self.normalise, self.call = tolerance, normalise, call

    def _vector(self, v: np.ndarray) -> np.ndarray:
        out = np.asarray(v, dtype=np.float64)
        norm = float(np.linalg.norm(out))
        return out / norm if self.normalise and norm > 0 else out

    def _equal(
        self, a: tuple[np.ndarray, Mapping[str, Any]] | None, b: tuple[np.ndarray, Mapping[str, Any]] | None
    ) -> bool:
        if a is None or b is None:
            return a is None and b is None
        va, vb = self._vector(a[0]), self._vector(b[0])
        if va.shape != vb.shape or float(np.abs(va - vb).max(initial=0.0)) > self.tolerance:
            return False
        payload_b = (
            {k: v for k, v in b[1].items() if k not in MAPPING_FIELDS} if self.mapping.pinecone_to_qdrant else b[1]
        )
        return canonical_payload(a[1]) == canonical_payload(payload_b)

    def still_differing(self, suspects: Sequence[_Suspect]) -> list[_Suspect]:
        """The suspects whose records still differ between the stores."""
        mapped, default = self.mapping.pinecone_to_qdrant, self.mapping.default_namespace
        # Mapped findings known only by their target id: the target's payload names the source record.
        by_target = _records(
            _fetch(self.target, [s.target_id for s in suspects if s.target_id is not None], self.call), ""
        )
        resolved: list[_Suspect] = []  # the suspects with their source record named where possible
        for s in suspects:
            if mapped and s.source_id is None and s.target_id is not None:
                held = by_target.get(("", s.target_id))
                if held is None:
                    resolved.append(s)  # gone from the target, its source record unnamed: stays open
                    continue
                origin = held[1]
                s = dataclasses.replace(
                    s,
                    source_id=str(origin.get(ORIGINAL_ID_FIELD, s.target_id)),
                    namespace=str(origin.get(NAMESPACE_FIELD, "")),
                )
            resolved.append(s)
        source_records = _records(
            _fetch(self.source, [s.source_id for s in resolved if s.source_id is not None], self.call), default
        )
        candidates: dict[int, set[_Key]] = {}
        for i, s in enumerate(resolved):
            if s.source_id is None:
                continue
            keys = {(s.namespace, s.source_id)} if s.namespace is not None else set()
            if s.namespace is None:
                keys |= {k for k in source_records if k[1] == s.source_id} or {(default, s.source_id)}
            candidates[i] = keys
        target_of = {
            key: self.mapping.target_ids([key[1]], [key[0]])[0] for keys in candidates.values() for key in keys
        }
        target_batches = _fetch(self.target, list(dict.fromkeys(target_of.values())), self.call)
        if mapped:  # Qdrant points: no namespaces, keyed by the uuid5 point id
            by_point = {pid: rec for (_, pid), rec in _records(target_batches, "").items()}
            target_records = {key: by_point.get(tid) for key, tid in target_of.items()}
        else:  # identity: keyed like the source, and a record held in another namespace is a candidate too
            target_records = dict(_records(target_batches, default))
            for i, s in enumerate(resolved):
                if i in candidates and s.namespace is None:
                    candidates[i] |= {k for k in target_records if k[1] == s.source_id}
        differing: list[_Suspect] = []
        for i, s in enumerate(resolved):
            named = candidates.get(i)
            if named is None or any(not self._equal(source_records.get(k), target_records.get(k)) for k in named):
                differing.append(s)  # still different, or its source record cannot be named: strict
        return differing


def confirm_parity(
    verdict: Verdict,
    source: VectorStore,
    target: VectorStore,
    mapping: TargetMapping,
    *,
    clock: Clock | None = None,
    rounds: int = 4,
    settle_s: float = 2.0,
    call: Call[Any] | None = None,
) -> tuple[Verdict, ParityRecheck]:
    """``verdict`` with its failing parity checks re-checked against both stores (see module docstring).

    A check passes after the re-check only when every finding it listed has settled; otherwise it keeps
    failing with only the findings still open listed (``details["first_look"]`` keeps what the scan
    saw). ``rounds`` looks at most, waits doubling from ``settle_s`` seconds on ``clock``. ``call`` wraps every store
    call (the orchestrator passes its retry policy). Returns the verdict and what was re-checked.
    """
    report = ParityRecheck()
    failing = [c for c in verdict.checks if c.id.startswith("parity.") and c.status is Status.FAIL]
    if not failing:
        return verdict, report
    clock = clock or SystemClock()
    call = call or _direct
    vectors = next((c for c in verdict.checks if c.id == "parity.vectors"), None)
    tolerance = float(vectors.details.get("tolerance", DEFAULT_TOLERANCE)) if vectors is not None else DEFAULT_TOLERANCE
    normalise = bool(vectors.details.get("normalised", False)) if vectors is not None else False
    comparer = _Comparer(source, target, mapping, tolerance, normalise, call)
    suspects = _suspects(verdict, mapping, report)
    for s in suspects:
        report.rechecked[s.check] = report.rechecked.get(s.check, 0) + 1
    recount = any(c.id == "parity.count" for c in failing)
    if recount:
        report.rechecked["parity.count"] = 1
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
    report = dataclasses.replace(report, counts=counts, rounds=done)
    still = {s.index for s in open_}
    for s in suspects:
        bucket = report.still_differing if s.index in still else report.settled
        bucket.setdefault(s.check, []).append(s.listed)
    checks = tuple(_rechecked(c, report, open_) if c in failing else c for c in verdict.checks)
    return dataclasses.replace(verdict, checks=checks), report


def _rechecked(check: Check, report: ParityRecheck, open_: Sequence[_Suspect]) -> Check:
    """``check`` after the re-check (unchanged when it could not be re-checked)."""
    if check.id in report.not_rechecked or check.id not in report.rechecked:
        return check
    first_look = {"status": str(check.status), "observed": check.observed, "message": check.message}
    if check.id == "parity.count":
        counts = report.counts
        settled = counts is not None and counts[0] == counts[1]
        if not settled:
            return dataclasses.replace(
                check, details={**check.details, "recheck_counts": counts, "first_look": first_look}
            )
        return dataclasses.replace(
            check,
            status=Status.PASS,
            observed=counts[1] if counts else check.observed,
            expected=counts[0] if counts else check.expected,
            message=f"{check.message}; on a re-check both stores hold {counts[0] if counts else '?'} records "
            "(writes in flight during the scan)",
            details={**check.details, "recheck_counts": counts, "first_look": first_look},
        )
    mine = [s for s in open_ if s.check == check.id]
    settled_here = report.settled.get(check.id, [])
    details: dict[str, Any] = {**check.details, "first_look": first_look, "settled_on_recheck": settled_here}
    if not mine:
        return dataclasses.replace(
            check,
            status=Status.PASS,
            message=f"{check.message}; on a re-check all {len(settled_here)} listed records are equal on both "
            "sides or on neither (writes in flight during the scan)",
            details=details,
        )
    if check.id == "parity.ids":
        missing = [s.listed for s in mine if s.kind == "missing"]
        extra = [s.listed for s in mine if s.kind == "extra"]
        details.update(missing=missing, extra=extra, missing_count=len(missing), extra_count=len(extra))
        details.pop("missing_namespaces", None)
        namespaces = [s.namespace or "" for s in mine if s.kind == "missing"]
        if any(namespaces):
            details["missing_namespaces"] = namespaces
        observed: Any = {"missing": len(missing), "extra": len(extra)}
        message = f"{len(missing)} source ids missing on the target, {len(extra)} extra ids on the target (re-checked)"
    else:
        listed = [s.listed for s in mine]
        details.update(mismatched=listed, mismatch_count=len(listed))
        observed = len(listed)
        message = f"{check.message} — {len(listed)} still differ on a re-check"
    return dataclasses.replace(check, observed=observed, message=message, details=details)
