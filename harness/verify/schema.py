"""Schema drift between a source and a target collection (shared/reference/qdrant-notes.md §4).

Each message says what changed, in which direction, and what it means for the answers:
- ``schema.dimension`` differs → fail: the target cannot hold the source's vectors or take its queries.
- ``schema.distance`` and ``schema.datatype`` differ → fail, unless a thresholds file accepts the change
  as deliberate (``accept = ["schema.datatype"]``), then warn. The message says when the ranking can
  stay the same (Cosine and Dot agree on unit-length vectors) and what fewer bits per component cost;
  recall itself is judged by the quality checks, which such drift makes mandatory. A target datatype
  with more bits passes.
- ``schema.hnsw`` (m, ef_construct — also the default query ef —, full_scan_threshold) and
  ``schema.quantization``: a weaker target warns (recall may drop; the quality checks are mandatory), a
  stronger one passes and says what it costs instead (memory, indexing time, latency). An exact source
  (no HNSW of its own) holds the target to Qdrant's default HNSW settings (``REFERENCE_HNSW``).
- ``schema.payload_indexes``: an index missing on the target → warn (filters get slow, Qdrant's strict
  mode can reject filters on unindexed fields, and without an integer index Qdrant's exact match of 5
  misses a stored 5.0). Missing means: an index the source has, one the thresholds ask for
  (``payload_indexes``), or — on a Pinecone → Qdrant target — the keyword index on ``__namespace__``
  that per-namespace queries filter on. A Pinecone source has nothing to compare (it indexes every
  metadata field itself), so only the target's required indexes are checked then.
- Named dense vectors and sparse vectors join the checks of their kind: a named or sparse vector the
  source has and the target lacks, or a named vector of another dimension, fails ``schema.dimension``
  (the target cannot hold those vectors); another distance of a named vector, or another sparse modifier
  (IDF weighting changes sparse scores), fails ``schema.distance``; another datatype of a named vector
  is judged like the default one's by ``schema.datatype``. Pinecone's ``sparse_values`` are compared
  with the name the mapping gives them on a Qdrant target (``records.mapping_for``).

A backend that cannot report its index config (Pinecone, qdrant-client local mode) makes those checks
"not comparable" (warn) — never a false "equal". Vendor distance names are mapped by ``Distance.parse``
before a schema reaches this module.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from harness.model import Check, CollectionSchema, Distance, HnswConfig, Status
from harness.records import NAMESPACE_FIELD, mapping_for
from harness.stores.qdrant_common import DEFAULT_EF_CONSTRUCT, DEFAULT_FULL_SCAN_THRESHOLD_KB, DEFAULT_M

SCHEMA_CHECK_IDS = (
    "schema.dimension",
    "schema.distance",
    "schema.datatype",
    "schema.hnsw",
    "schema.quantization",
    "schema.payload_indexes",
)
ACCEPTABLE_CHECK_IDS = SCHEMA_CHECK_IDS[1:]
"""What a thresholds file may ``accept``: every schema change but the dimension; data checks never."""
# What a target is held to when the source searches exactly (no HNSW of its own): Qdrant's defaults.
REFERENCE_HNSW = HnswConfig(
    m=DEFAULT_M, ef_construct=DEFAULT_EF_CONSTRUCT, full_scan_threshold=DEFAULT_FULL_SCAN_THRESHOLD_KB
)
DATATYPE_BITS = {"uint8": 8, "float16": 16, "float32": 32}
"""Bits per stored component: a target datatype with fewer bits holds the source's vectors less precisely."""
QUALITY_DECIDES = "the quality checks measure recall and are mandatory"


def check_schema(
    source: CollectionSchema,
    target: CollectionSchema,
    accept: Collection[str] = (),
    *,
    required_indexes: Mapping[str, str] | None = None,
    pinecone_to_qdrant: bool = False,
) -> list[Check]:
    """One check per id of ``SCHEMA_CHECK_IDS``, in that order (target observed, source expected).

    A failing or warning check whose id is in ``accept`` (ids of ``ACCEPTABLE_CHECK_IDS``) becomes an
    accepted ``warn``: its message names the acceptance and ``details["accepted"]`` is True.
    ``required_indexes`` (field → type, the thresholds' ``payload_indexes``) and ``pinecone_to_qdrant``
    (``__namespace__`` needs a keyword index) add to what the target's payload indexes must hold.
    """
    mapped = mapping_for(source, target).target_schema(source)  # the source's vectors under the target's names
    checks = [
        _with_vector_layout(_dimension(source, target), *_layout_drift(mapped, target)),
        _with_vector_layout(_distance(source, target), *_scoring_drift(mapped, target)),
        _with_vector_layout(_datatype(source, target), *_datatype_drift(mapped, target)),
        _hnsw(source, target),
        _quantization(source, target),
        _payload_indexes(source, target, required_indexes or {}, pinecone_to_qdrant),
    ]
    return [_accepted(c) if c.id in accept and c.status in (Status.FAIL, Status.WARN) else c for c in checks]


def _accepted(check: Check) -> Check:
    return Check(
        check.id,
        Status.WARN,
        check.observed,
        check.expected,
        f'accepted as deliberate by the thresholds file (accept = ["{check.id}"]): {check.message}',
        {**check.details, "accepted": True},
    )


def recall_affecting(checks: Iterable[Check]) -> bool:
    """True when the schema checks leave recall in doubt, so the quality checks are mandatory.

    That is any failing or warning drift (accepted or not), any "not comparable", and any change that
    passed but still changes how the target searches (``details["recall_affecting"]``: an approximate
    index after exact search, a stronger index, more bits per component).
    """
    for check in checks:
        if not check.id.startswith("schema.") or check.id == "schema.payload_indexes":
            continue
        if check.status in (Status.FAIL, Status.WARN) or check.details.get("recall_affecting"):
            return True
    return False


def _dimension(source: CollectionSchema, target: CollectionSchema) -> Check:
    expected, observed = source.dimension, target.dimension
    if observed == expected:
        return Check("schema.dimension", Status.PASS, observed, expected, f"vector dimension {observed} on both sides")
    return Check(
        "schema.dimension",
        Status.FAIL,
        observed,
        expected,
        f"vector dimension differs: source {expected}, target {observed} — the target cannot hold the source's "
        "vectors or answer its queries",
    )


def _with_vector_layout(check: Check, problems: list[str], notes: list[str], details: dict[str, Any]) -> Check:
    """``check`` (about the default vector) extended by what differs in the named and sparse vectors:
    ``problems`` fail it, ``notes`` are mentioned (a thresholds file's ``accept`` applies to the whole
    check afterwards)."""
    if not problems and not notes and not details:
        return check
    merged = {**check.details, **details}
    parts = [check.message]
    if problems:
        parts.append("; ".join(problems))
    if notes:
        parts.append("; ".join(notes))
    status = Status.FAIL if problems else check.status
    return Check(check.id, status, check.observed, check.expected, " — ".join(parts), merged)


def _layout_drift(source: CollectionSchema, target: CollectionSchema) -> tuple[list[str], list[str], dict[str, Any]]:
    """Named and sparse vectors the target lacks or holds at another dimension (problems), extra ones
    on the target (notes)."""
    problems: list[str] = []
    notes: list[str] = []
    details: dict[str, Any] = {}
    missing = sorted(set(source.named_vectors) - set(target.named_vectors))
    resized = {
        name: {"source": p.dimension, "target": target.named_vectors[name].dimension}
        for name, p in source.named_vectors.items()
        if name in target.named_vectors and target.named_vectors[name].dimension != p.dimension
    }
    missing_sparse = sorted(set(source.sparse_vectors) - set(target.sparse_vectors))
    extra = sorted(set(target.named_vectors) - set(source.named_vectors))
    extra_sparse = sorted(set(target.sparse_vectors) - set(source.sparse_vectors))
    if missing:
        problems.append(f"named vectors {missing} of the source are missing on the target: it cannot hold them")
    if resized:
        problems.append(
            "named vectors of another dimension: "
            + ", ".join(f"{n} {c['source']} → {c['target']}" for n, c in resized.items())
        )
    if missing_sparse:
        problems.append(f"sparse vectors {missing_sparse} of the source are missing on the target: it cannot hold them")
    if extra or extra_sparse:
        notes.append(f"the target also has {', '.join(map(repr, extra + extra_sparse))}")
    if source.named_vectors or target.named_vectors or source.sparse_vectors or target.sparse_vectors:
        details["named_vectors"] = {
            "source": {n: p.dimension for n, p in source.named_vectors.items()},
            "target": {n: p.dimension for n, p in target.named_vectors.items()},
        }
        details["sparse_vectors"] = {"source": sorted(source.sparse_vectors), "target": sorted(target.sparse_vectors)}
    return problems, notes, details


def _scoring_drift(source: CollectionSchema, target: CollectionSchema) -> tuple[list[str], list[str], dict[str, Any]]:
    """Named vectors with another distance and sparse vectors with another modifier."""
    problems = [
        f"named vector {name!r}: distance {p.distance} → {target.named_vectors[name].distance} "
        f"({_ranking_note(p.distance, target.named_vectors[name].distance)})"
        for name, p in sorted(source.named_vectors.items())
        if name in target.named_vectors and target.named_vectors[name].distance is not p.distance
    ]
    problems += [
        f"sparse vector {name!r}: modifier {p.modifier} → {target.sparse_vectors[name].modifier} (IDF weighting "
        "changes sparse and hybrid scores and rankings)"
        for name, p in sorted(source.sparse_vectors.items())
        if name in target.sparse_vectors and target.sparse_vectors[name].modifier != p.modifier
    ]
    details: dict[str, Any] = {"recall_affecting": True} if problems else {}
    return problems, [], details


def _datatype_drift(source: CollectionSchema, target: CollectionSchema) -> tuple[list[str], list[str], dict[str, Any]]:
    """Named vectors stored with fewer bits per component (more bits is noted, not a problem)."""
    problems: list[str] = []
    notes: list[str] = []
    for name, p in sorted(source.named_vectors.items()):
        theirs = target.named_vectors.get(name)
        if theirs is None or theirs.datatype.lower() == p.datatype.lower():
            continue
        before, after = DATATYPE_BITS.get(p.datatype.lower()), DATATYPE_BITS.get(theirs.datatype.lower())
        change = f"named vector {name!r}: datatype {p.datatype} → {theirs.datatype}"
        if before is not None and after is not None and after > before:
            notes.append(f"{change} (more bits: nothing is lost)")
        else:
            problems.append(f"{change} (the target may hold those vectors less precisely)")
    details: dict[str, Any] = {"recall_affecting": True} if problems or notes else {}
    return problems, notes, details


def _ranking_note(a: Distance, b: Distance) -> str:
    """When two distances put the same neighbours first (squared Euclid is 2 − 2·cos on unit vectors)."""
    pair = {a, b}
    if pair == {Distance.COSINE, Distance.DOT}:
        return (
            "scores differ (Cosine normalises vectors, Dot uses them as stored), and the ranking stays the same "
            "only when every vector is unit-length"
        )
    if pair == {Distance.COSINE, Distance.EUCLID}:
        return "scores differ, and the ranking stays the same only when every vector is unit-length"
    if pair == {Distance.DOT, Distance.EUCLID}:
        return "scores differ, and the ranking stays the same only when every vector has the same length"
    return f"{a} and {b} rank neighbours differently"


def _distance(source: CollectionSchema, target: CollectionSchema) -> Check:
    expected, observed = str(source.distance), str(target.distance)
    if observed == expected:
        return Check("schema.distance", Status.PASS, observed, expected, f"distance {observed} on both sides")
    return Check(
        "schema.distance",
        Status.FAIL,
        observed,
        expected,
        f"distance {expected} → {observed}: {_ranking_note(source.distance, target.distance)}; {QUALITY_DECIDES}. "
        'If the change is deliberate, accept it in the thresholds file (accept = ["schema.distance"])',
        {"recall_affecting": True},
    )


def _datatype(source: CollectionSchema, target: CollectionSchema) -> Check:
    expected, observed = source.datatype.lower(), target.datatype.lower()
    if observed == expected:
        return Check("schema.datatype", Status.PASS, observed, expected, f"vector datatype {observed} on both sides")
    bits_source, bits_target = DATATYPE_BITS.get(expected), DATATYPE_BITS.get(observed)
    if bits_source is not None and bits_target is not None and bits_target > bits_source:
        return Check(
            "schema.datatype",
            Status.PASS,
            observed,
            expected,
            f"vector datatype {expected} → {observed}: the target stores every component with more bits than the "
            "source, so nothing is lost (memory grows)",
            {"recall_affecting": True},
        )
    if observed == "uint8":
        cost = (
            "the target stores each component as an integer from 0 to 255, so vectors with fractions, negative "
            "or larger components are not stored as the source holds them"
        )
    elif bits_source is not None and bits_target is not None:
        cost = (
            f"the target stores each component with fewer bits ({bits_target} instead of {bits_source}); parity "
            f"compares the vectors within vector_tolerance, and {QUALITY_DECIDES}"
        )
    else:
        cost = f"the two stores may hold the vectors at different precision; {QUALITY_DECIDES}"
    return Check(
        "schema.datatype",
        Status.FAIL,
        observed,
        expected,
        f"vector datatype {expected} → {observed}: {cost}. If the change is deliberate, accept it in the thresholds "
        'file (accept = ["schema.datatype"])',
        {"recall_affecting": True},
    )


def _not_comparable(source: CollectionSchema, target: CollectionSchema) -> str | None:
    blind = [s.backend or "this backend" for s in (source, target) if not s.index_config_reported]
    if not blind:
        return None
    return f"not comparable: {blind[0]} cannot report its index config"


def _hnsw_values(hnsw: HnswConfig) -> dict[str, Any]:
    return {"m": hnsw.m, "ef_construct": hnsw.ef_construct, "full_scan_threshold": hnsw.full_scan_threshold}


def _hnsw_dict(hnsw: HnswConfig | None) -> dict[str, Any] | None:
    return None if hnsw is None else _hnsw_values(hnsw)


def _hnsw_change(key: str, before: Any, after: Any) -> str:
    note = " (also the default query ef)" if key == "ef_construct" else " KB" if key == "full_scan_threshold" else ""
    return f"{key} {before} → {after}{note}"


def _hnsw(source: CollectionSchema, target: CollectionSchema) -> Check:
    expected, observed = _hnsw_dict(source.hnsw), _hnsw_dict(target.hnsw)
    blind = _not_comparable(source, target)
    if blind:
        return Check(
            "schema.hnsw",
            Status.WARN,
            observed,
            expected,
            f"{blind}; the quality checks decide",
            {"comparable": False, "recall_affecting": True},
        )
    if expected is None:
        if observed is None:
            return Check("schema.hnsw", Status.PASS, None, None, "both sides search exactly (no HNSW index)")
        return _exact_source_hnsw(observed)
    if observed is None:
        return Check(
            "schema.hnsw", Status.PASS, None, expected, "target searches exactly: it cannot lose recall to its index"
        )
    drift = {
        key: {"source": expected[key], "target": observed[key]} for key in expected if expected[key] != observed[key]
    }
    if not drift:
        return Check("schema.hnsw", Status.PASS, observed, expected, f"HNSW {_fmt(observed)} on both sides")
    # Larger m, ef_construct and full_scan_threshold each search at least as thoroughly; a missing value
    # has no direction and counts as weaker.
    stronger = {
        key: c for key, c in drift.items() if None not in (c["source"], c["target"]) and c["target"] > c["source"]
    }
    weaker = {key: c for key, c in drift.items() if key not in stronger}
    details = {"comparable": True, "drift": drift, "recall_affecting": True}
    if not weaker:
        return Check(
            "schema.hnsw",
            Status.PASS,
            observed,
            expected,
            f"HNSW stronger on the target ({', '.join(_hnsw_change(k, c['source'], c['target']) for k, c in drift.items())})"
            ": recall should not drop; indexing time, memory and query latency may rise (the latency checks "
            "measure the latency)",
            details,
        )
    also = (
        f"; stronger: {', '.join(_hnsw_change(k, c['source'], c['target']) for k, c in stronger.items())}"
        if stronger
        else ""
    )
    return Check(
        "schema.hnsw",
        Status.WARN,
        observed,
        expected,
        f"HNSW weaker on the target ({', '.join(_hnsw_change(k, c['source'], c['target']) for k, c in weaker.items())})"
        f"{also}: recall may drop, so {QUALITY_DECIDES}",
        details,
    )


def _exact_source_hnsw(observed: dict[str, Any]) -> Check:
    """An exact source has no HNSW to drift from: hold the target to Qdrant's defaults instead."""
    reference = _hnsw_values(REFERENCE_HNSW)
    weaker = {
        key: {"reference": reference[key], "target": observed[key]}
        for key in reference
        if observed[key] is not None and observed[key] < reference[key]
    }
    details = {"comparable": True, "recall_affecting": True, "reference": reference}
    if not weaker:
        return Check(
            "schema.hnsw",
            Status.PASS,
            observed,
            None,
            f"source searches exactly; target HNSW {_fmt(observed)} is at least Qdrant's defaults, and the quality "
            "checks measure what approximate search costs",
            details,
        )
    parts = ", ".join(f"{key} {c['target']} < {c['reference']}" for key, c in weaker.items())
    return Check(
        "schema.hnsw",
        Status.WARN,
        observed,
        None,
        f"source searches exactly and the target's HNSW is weaker than Qdrant's defaults ({parts}): recall may "
        f"drop, so {QUALITY_DECIDES}",
        {**details, "drift": {key: {"source": c["reference"], "target": c["target"]} for key, c in weaker.items()}},
    )


def _quantization(source: CollectionSchema, target: CollectionSchema) -> Check:
    expected, observed = source.quantization, target.quantization
    blind = _not_comparable(source, target)
    if blind:
        return Check(
            "schema.quantization",
            Status.WARN,
            observed,
            expected,
            f"{blind}; the quality checks decide",
            {"comparable": False, "recall_affecting": True},
        )
    if expected == observed:
        return Check("schema.quantization", Status.PASS, observed, expected, f"quantization {observed or 'none'}")
    details = {"comparable": True, "recall_affecting": True}
    if observed is None:
        return Check(
            "schema.quantization",
            Status.PASS,
            observed,
            expected,
            f"quantization {expected} → none: the target searches full-precision vectors, so recall should not "
            "drop; memory grows",
            details,
        )
    consequence = (
        "the target searches compressed vectors where the source did not: recall may drop"
        if expected is None
        else "recall may change either way"
    )
    return Check(
        "schema.quantization",
        Status.WARN,
        observed,
        expected,
        f"quantization {expected or 'none'} → {observed}: {consequence}, so {QUALITY_DECIDES}",
        details,
    )


def _payload_indexes(
    source: CollectionSchema, target: CollectionSchema, required: Mapping[str, str], pinecone_to_qdrant: bool
) -> Check:
    observed: dict[str, str] = dict(target.payload_indexes)
    wanted: dict[str, tuple[str, str]] = {f: (kind, "payload_indexes asks for it") for f, kind in required.items()}
    if pinecone_to_qdrant and NAMESPACE_FIELD not in wanted:
        wanted[NAMESPACE_FIELD] = ("keyword", "queries per Pinecone namespace filter on it")
    source_blind = not source.index_config_reported and source.backend != "pinecone"
    expected: dict[str, str] = dict(source.payload_indexes) if source.index_config_reported else {}
    expected.update({f: kind for f, (kind, _) in wanted.items()})
    if not target.index_config_reported or source_blind:
        blind = _not_comparable(source, target)
        return Check(
            "schema.payload_indexes",
            Status.WARN,
            observed,
            expected,
            f"{blind}; check that every field you filter on is indexed on the target",
            {"comparable": False, "required": {f: kind for f, (kind, _) in wanted.items()}},
        )
    missing = sorted(f for f in expected if f not in observed)
    retyped = {f: {"source": expected[f], "target": observed[f]} for f in expected if f in observed}
    retyped = {f: change for f, change in retyped.items() if change["source"] != change["target"]}
    extra = sorted(f for f in observed if f not in expected)
    details: dict[str, Any] = {
        "comparable": True,
        "missing": missing,
        "retyped": retyped,
        "extra": extra,
        "required": {f: kind for f, (kind, _) in wanted.items()},
    }
    if missing or retyped:
        what = []
        if missing:
            named = [f"{f} ({wanted[f][1]})" if f in wanted else f for f in missing]
            what.append(f"missing on target: {', '.join(named)}")
        if retyped:
            what.append(
                "other type on target: "
                + ", ".join(
                    f"{f} {c['source']} → {c['target']}{' (wanted)' if f in wanted else ''}" for f, c in retyped.items()
                )
            )
        return Check(
            "schema.payload_indexes",
            Status.WARN,
            observed,
            expected,
            f"payload indexes {'; '.join(what)} — filters on these fields get slow, and Qdrant's strict mode "
            "can reject filters on unindexed fields",
            details,
        )
    note = f" (target also indexes {', '.join(extra)})" if extra else ""
    if not source.index_config_reported:  # a Pinecone source: it indexes every metadata field itself
        held = (
            f"the target has every payload index it needs ({', '.join(sorted(wanted))})"
            if wanted
            else ("nothing to compare")
        )
        message = f"{source.backend or 'the source'} indexes every metadata field itself; {held}{note}"
    else:
        asked = f" and every one asked for ({', '.join(sorted(wanted))})" if wanted else ""
        message = f"every source payload index exists on the target{asked}{note}"
    return Check("schema.payload_indexes", Status.PASS, observed, expected, message, details)


def _fmt(hnsw: Mapping[str, Any] | None) -> str:
    if hnsw is None:
        return "none"
    return ", ".join(f"{k}={v}" for k, v in hnsw.items())
