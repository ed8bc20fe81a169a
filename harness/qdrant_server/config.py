"""A collection's configuration: Qdrant's REST shapes in, Qdrant Edge's ``EdgeConfig`` out, and back.

The one copy of a collection's vector, HNSW, quantization and optimizer settings is the shard's own
``edge_config.json`` (Edge writes it on create and on every reconfiguring load). Its layout is serde's
rendering of the same Rust types Qdrant's REST API renders, so the REST ``CreateCollection`` body maps
onto it almost key for key; this module does that mapping once:

- ``edge_dict_for_create(body)``: a REST create body → the Edge config dict, with Qdrant's defaults
  filled in (so what ``GET /collections/NAME`` reports is what Edge really builds with);
- ``edge_dict_with_update(current, body)``: a REST ``PATCH`` body applied to it;
- ``edge_config(d)``: the ``qdrant_edge.EdgeConfig`` for a dict;
- ``collection_config(d, metadata)``: the REST ``CollectionConfig`` for a dict.

What Edge cannot do (shards, replicas, WAL tuning, strict mode, timed flushes, …) is refused with 400
when a request asks for it, never accepted and ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import qdrant_edge as qe
from qdrant_client.http import models as m

from harness.qdrant_server.wire import unsupported, validation_error, wrong_input

__all__ = [
    "DEFAULT_HNSW",
    "DEFAULT_OPTIMIZERS",
    "collection_config",
    "edge_config",
    "edge_dict_for_create",
    "edge_dict_with_update",
    "edge_enum",
    "vector_names",
]

# Qdrant's defaults for a new collection (config/config.yaml, HnswConfig/OptimizersConfig defaults).
DEFAULT_HNSW: dict[str, Any] = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10_000, "max_indexing_threads": 0}
DEFAULT_OPTIMIZERS: dict[str, Any] = {
    "deleted_threshold": 0.2,
    "vacuum_min_vector_number": 1000,
    "default_segment_number": 0,
    "max_segment_size": None,
    "indexing_threshold": 10_000,
}
MAX_VECTOR_SIZE = 65_536  # Qdrant validates VectorParams.size in 1..=65536

_VECTOR_KEYS = ("size", "distance", "hnsw_config", "quantization_config", "on_disk", "datatype", "multivector_config")
_HNSW_KEYS = ("m", "ef_construct", "full_scan_threshold", "max_indexing_threads", "on_disk", "payload_m")
_OPTIMIZER_KEYS = (*DEFAULT_OPTIMIZERS, "prevent_unoptimized")


def edge_enum(enum_cls: Any, value: Any) -> Any:
    """The member of an Edge enum for a REST value (``"Cosine"``, ``"float16"``, ``"x16"``, ``"max_sim"``)."""
    raw = str(getattr(value, "value", value))
    wanted = raw.replace("_", "").lower()
    for name in dir(enum_cls):
        if name[:1].isupper() and name.replace("_", "").lower() == wanted:
            return getattr(enum_cls, name)
    raise wrong_input(f"unknown {enum_cls.__name__} {raw!r}")


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True) if model is not None else {}


def _refuse_extra(what: str, given: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(given) - set(allowed))
    if extra:
        raise unsupported(f"{what} {', '.join(extra)}")


def _quantization_dict(q: Any, where: str) -> dict[str, Any] | None:
    if q is None:
        return None
    if isinstance(q, m.Disabled) or q == m.Disabled.DISABLED:
        raise unsupported(f"{where}: disabling quantization")
    d = _dump(q)
    (kind, params), *_ = d.items()
    allowed = {
        "scalar": ("type", "quantile", "always_ram"),
        "product": ("compression", "always_ram"),
        "binary": ("always_ram", "encoding", "query_encoding"),
    }.get(kind)
    if allowed is None:
        raise unsupported(f"{where}: {kind} quantization")
    _refuse_extra(f"{where}: {kind} quantization parameter", params, allowed)
    return {kind: params}


def _vector_dict(name: str, params: m.VectorParams) -> dict[str, Any]:
    d = _dump(params)
    where = f"vector {name!r}" if name else "vectors"
    _refuse_extra(f"{where} parameter", d, _VECTOR_KEYS)
    if not 1 <= params.size <= MAX_VECTOR_SIZE:
        raise validation_error("JSON body", f"vectors.size: value {params.size} invalid, must be from 1 to 65536")
    if "hnsw_config" in d:
        _refuse_extra(f"{where} hnsw_config parameter", d["hnsw_config"], _HNSW_KEYS)
    if params.quantization_config is not None:
        d["quantization_config"] = _quantization_dict(params.quantization_config, where)
    return d


def _sparse_dict(name: str, params: m.SparseVectorParams) -> dict[str, Any]:
    d = _dump(params.index)
    _refuse_extra(f"sparse vector {name!r} index parameter", d, ("full_scan_threshold", "on_disk", "datatype"))
    if params.modifier is not None:
        d["modifier"] = str(params.modifier.value)
    return d


def edge_dict_for_create(body: m.CreateCollection) -> dict[str, Any]:
    """The Edge config dict for a REST create body (Qdrant's defaults where the body says nothing)."""
    for field, allowed in (("shard_number", 1), ("replication_factor", 1), ("write_consistency_factor", 1)):
        value = getattr(body, field)
        if value is not None and value != allowed:
            raise unsupported(f"{field}={value} (one local shard per collection)")
    if body.sharding_method not in (None, m.ShardingMethod.AUTO):
        raise unsupported("custom sharding")
    for field in ("wal_config", "strict_mode_config", "payload", "id_tracker"):
        if getattr(body, field, None) is not None:
            raise unsupported(field)
    vectors: dict[str, Any] = {}
    if isinstance(body.vectors, m.VectorParams):
        vectors[""] = _vector_dict("", body.vectors)
    elif isinstance(body.vectors, Mapping):
        for name, params in body.vectors.items():
            if not name:
                raise validation_error("JSON body", "vectors: vector name must not be empty")
            vectors[name] = _vector_dict(name, params)
    sparse = {name: _sparse_dict(name, params) for name, params in (body.sparse_vectors or {}).items()}
    if not vectors and not sparse:
        raise unsupported("a collection without vectors")
    hnsw = _dump(body.hnsw_config)
    _refuse_extra("hnsw_config parameter", hnsw, _HNSW_KEYS)
    optimizers = _dump(body.optimizers_config)
    _refuse_extra("optimizers_config parameter", optimizers, _OPTIMIZER_KEYS)
    d: dict[str, Any] = {
        "vectors": vectors,
        "sparse_vectors": sparse,
        "hnsw_config": {**DEFAULT_HNSW, **hnsw},
        "optimizers": {**DEFAULT_OPTIMIZERS, **optimizers},
        "on_disk_payload": True if body.on_disk_payload is None else body.on_disk_payload,
    }
    quantization = _quantization_dict(body.quantization_config, "quantization_config")
    if quantization is not None:
        d["quantization_config"] = quantization
    return d


def edge_dict_with_update(current: Mapping[str, Any], body: m.UpdateCollection) -> dict[str, Any]:
    """``current`` with a REST ``PATCH /collections/NAME`` body applied (HNSW, optimizers, quantization).

    Vector sizes and distances cannot change (as in Qdrant); other parameters are refused with 400.
    """
    for field in ("params", "sparse_vectors", "strict_mode_config"):
        if getattr(body, field) is not None:
            raise unsupported(f"updating {field}")
    d = copy.deepcopy(dict(current))
    for name, diff in (body.vectors or {}).items():
        if name not in d.get("vectors", {}):
            raise wrong_input(f"Not existing vector name error: {name}")
        patch = _dump(diff)
        _refuse_extra(f"vector {name!r} update parameter", patch, ("hnsw_config", "quantization_config", "on_disk"))
        vector = d["vectors"][name]
        if "hnsw_config" in patch:
            _refuse_extra(f"vector {name!r} hnsw_config parameter", patch["hnsw_config"], _HNSW_KEYS)
            vector["hnsw_config"] = {**vector.get("hnsw_config", {}), **patch["hnsw_config"]}
        if diff.quantization_config is not None:
            vector["quantization_config"] = _quantization_dict(diff.quantization_config, f"vector {name!r}")
        if "on_disk" in patch:
            vector["on_disk"] = patch["on_disk"]
    hnsw = _dump(body.hnsw_config)
    _refuse_extra("hnsw_config parameter", hnsw, _HNSW_KEYS)
    d["hnsw_config"] = {**d.get("hnsw_config", {}), **hnsw}
    optimizers = _dump(body.optimizers_config)
    _refuse_extra("optimizers_config parameter", optimizers, _OPTIMIZER_KEYS)
    d["optimizers"] = {**d.get("optimizers", {}), **optimizers}
    quantization = _quantization_dict(body.quantization_config, "quantization_config")
    if quantization is not None:
        d["quantization_config"] = quantization
    return d


def _edge_hnsw(d: Mapping[str, Any] | None, fallback: Mapping[str, Any]) -> Any:
    if not d:
        return None
    merged = {**fallback, **d}
    return qe.HnswIndexConfig(
        m=int(merged["m"]),
        ef_construct=int(merged["ef_construct"]),
        full_scan_threshold=int(merged["full_scan_threshold"]),
        max_indexing_threads=int(merged.get("max_indexing_threads", 0)),
        on_disk=merged.get("on_disk"),
        payload_m=merged.get("payload_m"),
    )


def _edge_quantization(d: Mapping[str, Any] | None) -> Any:
    if not d:
        return None
    (kind, p), *_ = d.items()
    if kind == "scalar":
        return qe.ScalarQuantizationConfig(
            type=edge_enum(qe.ScalarType, p.get("type", "int8")),
            quantile=p.get("quantile"),
            always_ram=p.get("always_ram"),
        )
    if kind == "product":
        return qe.ProductQuantizationConfig(
            compression=edge_enum(qe.CompressionRatio, p["compression"]), always_ram=p.get("always_ram")
        )
    return qe.BinaryQuantizationConfig(
        always_ram=p.get("always_ram"),
        encoding=None if p.get("encoding") is None else edge_enum(qe.BinaryQuantizationEncoding, p["encoding"]),
        query_encoding=None
        if p.get("query_encoding") is None
        else edge_enum(qe.BinaryQuantizationQueryEncoding, p["query_encoding"]),
    )


def edge_config(d: Mapping[str, Any]) -> qe.EdgeConfig:
    """The ``EdgeConfig`` for an Edge config dict (as ``edge_dict_for_create`` makes or Edge persists)."""
    hnsw = d.get("hnsw_config") or {}
    vectors = {
        name: qe.EdgeVectorParams(
            size=int(v["size"]),
            distance=edge_enum(qe.Distance, v["distance"]),
            on_disk=v.get("on_disk"),
            multivector_config=None
            if v.get("multivector_config") is None
            else qe.MultiVectorConfig(edge_enum(qe.MultiVectorComparator, v["multivector_config"]["comparator"])),
            datatype=None if v.get("datatype") is None else edge_enum(qe.VectorStorageDatatype, v["datatype"]),
            quantization_config=_edge_quantization(v.get("quantization_config")),
            hnsw_config=_edge_hnsw(v.get("hnsw_config"), {**DEFAULT_HNSW, **hnsw}),
        )
        for name, v in (d.get("vectors") or {}).items()
    }
    sparse = {
        name: qe.EdgeSparseVectorParams(
            full_scan_threshold=s.get("full_scan_threshold"),
            on_disk=s.get("on_disk"),
            modifier=None if s.get("modifier") is None else edge_enum(qe.Modifier, s["modifier"]),
            datatype=None if s.get("datatype") is None else edge_enum(qe.VectorStorageDatatype, s["datatype"]),
        )
        for name, s in (d.get("sparse_vectors") or {}).items()
    }
    optimizers = {key: value for key, value in (d.get("optimizers") or {}).items() if key in _OPTIMIZER_KEYS}
    return qe.EdgeConfig(
        vectors=vectors or None,
        sparse_vectors=sparse or None,
        on_disk_payload=d.get("on_disk_payload"),
        hnsw_config=_edge_hnsw(hnsw, DEFAULT_HNSW),
        quantization_config=_edge_quantization(d.get("quantization_config")),
        optimizers=qe.EdgeOptimizersConfig(**optimizers),
    )


def vector_names(d: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(dense vector names, sparse vector names); the unnamed default vector is ``""``."""
    return set(d.get("vectors") or {}), set(d.get("sparse_vectors") or {})


def collection_config(d: Mapping[str, Any], metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The REST ``CollectionConfig`` (JSON-ready) for an Edge config dict.

    ``optimizer_config.flush_interval_sec`` is 0: Edge does not flush on a timer (its WAL keeps every
    acknowledged write); Qdrant's model requires the field.
    """
    vectors = {name: dict(v) for name, v in (d.get("vectors") or {}).items()}
    params: dict[str, Any] = {
        "vectors": vectors[""] if set(vectors) == {""} else vectors,
        "shard_number": 1,
        "replication_factor": 1,
        "write_consistency_factor": 1,
        "on_disk_payload": bool(d.get("on_disk_payload", True)),
    }
    if d.get("sparse_vectors"):
        params["sparse_vectors"] = {
            name: {
                "index": {k: v for k, v in s.items() if k in ("full_scan_threshold", "on_disk", "datatype")},
                **({"modifier": s["modifier"]} if s.get("modifier") else {}),
            }
            for name, s in d["sparse_vectors"].items()
        }
    optimizers = {**DEFAULT_OPTIMIZERS, **{k: v for k, v in (d.get("optimizers") or {}).items() if v is not None}}
    config: dict[str, Any] = {
        "params": params,
        "hnsw_config": {**DEFAULT_HNSW, **(d.get("hnsw_config") or {})},
        "optimizer_config": {**optimizers, "flush_interval_sec": 0},
    }
    if d.get("quantization_config"):
        config["quantization_config"] = d["quantization_config"]
    if metadata:
        config["metadata"] = dict(metadata)
    return config
