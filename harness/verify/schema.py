"""Schema drift between a source and a target collection (shared/reference/qdrant-notes.md §4).

Three classes of drift:
- breaking (``schema.dimension``, ``schema.distance``, ``schema.datatype``) → fail: the target cannot
  answer like the source;
- recall-affecting (``schema.hnsw``: m, ef_construct — also the default query ef —, full_scan_threshold;
  ``schema.quantization``) → warn, and the quality checks become mandatory (``recall_affecting``). An
  exact source (no HNSW) has nothing to drift from, so the target is held to Qdrant's default HNSW
  settings (``REFERENCE_HNSW``): anything weaker warns;
- ``schema.payload_indexes``: an index missing on the target → warn (filters get slow, and Qdrant's
  strict mode can reject filters on unindexed fields).

A backend that cannot report its index config (Pinecone, qdrant-client local mode) makes those checks
"not comparable" (warn) — never a false "equal". Vendor distance names are mapped by ``Distance.parse``
before a schema reaches this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.model import Check, CollectionSchema, HnswConfig, Status
from harness.stores.qdrant_common import DEFAULT_EF_CONSTRUCT, DEFAULT_FULL_SCAN_THRESHOLD_KB, DEFAULT_M

SCHEMA_CHECK_IDS = (
    "schema.dimension",
    "schema.distance",
    "schema.datatype",
    "schema.hnsw",
    "schema.quantization",
    "schema.payload_indexes",
)
# What a target is held to when the source searches exactly (no HNSW of its own): Qdrant's defaults.
REFERENCE_HNSW = HnswConfig(
    m=DEFAULT_M, ef_construct=DEFAULT_EF_CONSTRUCT, full_scan_threshold=DEFAULT_FULL_SCAN_THRESHOLD_KB
)


def check_schema(source: CollectionSchema, target: CollectionSchema) -> list[Check]:
    """One check per id of ``SCHEMA_CHECK_IDS``, in that order (target observed, source expected)."""
    return [
        _breaking("schema.dimension", source.dimension, target.dimension, "vector dimension"),
        _breaking("schema.distance", str(source.distance), str(target.distance), "distance"),
        _breaking("schema.datatype", source.datatype, target.datatype, "vector datatype"),
        _hnsw(source, target),
        _quantization(source, target),
        _payload_indexes(source, target),
    ]


def recall_affecting(checks: Iterable[Check]) -> bool:
    """True when the schema checks leave recall in doubt, so the quality checks are mandatory.

    That is any breaking drift, any HNSW or quantization drift or "not comparable", and a switch from
    exact search to an approximate index (``details["recall_affecting"]``).
    """
    for check in checks:
        if not check.id.startswith("schema.") or check.id == "schema.payload_indexes":
            continue
        if check.status in (Status.FAIL, Status.WARN) or check.details.get("recall_affecting"):
            return True
    return False


def _breaking(check_id: str, expected: Any, observed: Any, what: str) -> Check:
    if observed == expected:
        return Check(check_id, Status.PASS, observed, expected, f"{what} {observed} on both sides")
    return Check(
        check_id,
        Status.FAIL,
        observed,
        expected,
        f"{what} differs: source {expected}, target {observed} (breaking: the target cannot answer like the source)",
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
    parts = []
    for key, change in drift.items():
        note = (
            " (also the default query ef)" if key == "ef_construct" else " KB" if key == "full_scan_threshold" else ""
        )
        parts.append(f"{key} {change['source']} → {change['target']}{note}")
    return Check(
        "schema.hnsw",
        Status.WARN,
        observed,
        expected,
        f"HNSW drift: {', '.join(parts)}; recall may drop, so the quality checks are mandatory",
        {"comparable": True, "drift": drift, "recall_affecting": True},
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
        f"source searches exactly and the target's HNSW is weaker than Qdrant's defaults ({parts}); recall may drop, "
        "so the quality checks are mandatory",
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
    return Check(
        "schema.quantization",
        Status.WARN,
        observed,
        expected,
        f"quantization {expected or 'none'} → {observed or 'none'}; recall may change, so the quality checks are "
        "mandatory",
        {"comparable": True, "recall_affecting": True},
    )


def _payload_indexes(source: CollectionSchema, target: CollectionSchema) -> Check:
    expected: Mapping[str, str] = dict(source.payload_indexes)
    observed: Mapping[str, str] = dict(target.payload_indexes)
    blind = _not_comparable(source, target)
    if blind:
        return Check(
            "schema.payload_indexes",
            Status.WARN,
            observed,
            expected,
            f"{blind}; check that every field you filter on is indexed on the target",
            {"comparable": False},
        )
    missing = sorted(f for f in expected if f not in observed)
    retyped = {f: {"source": expected[f], "target": observed[f]} for f in expected if f in observed}
    retyped = {f: change for f, change in retyped.items() if change["source"] != change["target"]}
    extra = sorted(f for f in observed if f not in expected)
    details: dict[str, Any] = {"comparable": True, "missing": missing, "retyped": retyped, "extra": extra}
    if missing or retyped:
        what = []
        if missing:
            what.append(f"missing on target: {', '.join(missing)}")
        if retyped:
            what.append(
                "other type on target: " + ", ".join(f"{f} {c['source']} → {c['target']}" for f, c in retyped.items())
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
    return Check(
        "schema.payload_indexes",
        Status.PASS,
        observed,
        expected,
        f"every source payload index exists on the target{note}",
        details,
    )


def _fmt(hnsw: Mapping[str, Any] | None) -> str:
    if hnsw is None:
        return "none"
    return ", ".join(f"{k}={v}" for k, v in hnsw.items())
