"""Qdrant's REST request models (qdrant-client's) → Qdrant Edge's objects, and Edge's answers → REST JSON.

Covered: point ids, filters (``must``/``should``/``must_not``/``min_should``, field conditions with
``match`` value/any/except/text/phrase/prefix, ``range`` and datetime ranges, geo, ``values_count``,
``is_empty``/``is_null``, ``has_id``, ``has_vector``, ``nested``), payload and vector selectors, dense,
multi- and sparse vectors, search params (``hnsw_ef``, ``exact``, ``quantization``, ``indexed_only``,
``acorn``), nearest-vector queries. Anything else is refused with 400 (``unsupported``), never ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, overload

import qdrant_edge as qe
from qdrant_client.http import models as m

from harness.qdrant_server.wire import ApiError, format_error, unsupported, wrong_input

__all__ = [
    "edge_error",
    "edge_filter",
    "edge_point_id",
    "edge_points",
    "edge_query",
    "edge_search_params",
    "edge_vector",
    "json_id",
    "payload_selector",
    "record_json",
    "scored_json",
    "vector_selector",
]

MAX_INT_ID = 2**64 - 1


def edge_error(exc: Exception) -> ApiError:
    """An exception raised by Edge as Qdrant's API would report it: bad input 400, the rest 500."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, ApiError):
        return exc
    lowered = text.lower()
    if isinstance(exc, TypeError | ValueError) or any(
        marker in lowered for marker in ("dimension", "not existing vector", "wrong input", "bad input", "validation")
    ):
        return wrong_input(text.removeprefix("Wrong input: "))
    return ApiError(500, f"Service internal error: {text}")


def edge_point_id(point_id: Any) -> Any:
    """A REST point id as Edge takes it: an unsigned 64-bit int or a UUID string (400 otherwise)."""
    if isinstance(point_id, bool):
        raise format_error("JSON body", f"invalid point id {point_id!r}")
    if isinstance(point_id, int):
        if 0 <= point_id <= MAX_INT_ID:
            return point_id
        raise format_error("JSON body", f"invalid point id {point_id}: ids are unsigned 64-bit integers or UUIDs")
    if isinstance(point_id, uuid.UUID):
        return str(point_id)
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise format_error("JSON body", f"Unable to parse UUID: {point_id}") from None


def json_id(point_id: Any) -> int | str:
    """An id Edge returned, for JSON (UUIDs as their canonical string)."""
    return point_id if isinstance(point_id, int) else str(point_id)


# -- filters -----------------------------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _geo_point(p: m.GeoPoint) -> qe.GeoPoint:
    return qe.GeoPoint(lon=p.lon, lat=p.lat)


def _match(match: Any) -> Any:
    if isinstance(match, m.MatchValue):
        if isinstance(match.value, bool):  # Qdrant matches the boolean; Edge 0.9 would match the integer 1
            raise unsupported("an exact match on a boolean (Qdrant Edge 0.9 reads true as the integer 1)")
        return qe.MatchValue(match.value)
    if isinstance(match, m.MatchAny):
        return qe.MatchAny(list(match.any))  # type: ignore[arg-type]
    if isinstance(match, m.MatchExcept):
        return qe.MatchExcept(list(match.except_))  # type: ignore[arg-type]
    if isinstance(match, m.MatchText):
        return qe.MatchText(match.text)
    if isinstance(match, m.MatchTextAny):
        return qe.MatchTextAny(match.text_any)
    if isinstance(match, m.MatchPhrase):
        return qe.MatchPhrase(match.phrase)
    if isinstance(match, m.MatchPrefix):
        return qe.MatchPrefix(match.prefix)
    if isinstance(match, m.MatchSubstring):
        return qe.MatchSubstring(match.substring)
    raise unsupported(f"match condition {type(match).__name__}")


def _field_condition(c: m.FieldCondition) -> qe.FieldCondition:
    rng: Any = None
    if isinstance(c.range, m.Range):
        rng = qe.RangeFloat(gte=c.range.gte, gt=c.range.gt, lte=c.range.lte, lt=c.range.lt)
    elif isinstance(c.range, m.DatetimeRange):
        rng = qe.RangeDateTime(gte=_iso(c.range.gte), gt=_iso(c.range.gt), lte=_iso(c.range.lte), lt=_iso(c.range.lt))
    box = radius = polygon = count = None
    if c.geo_bounding_box is not None:
        box = qe.GeoBoundingBox(_geo_point(c.geo_bounding_box.top_left), _geo_point(c.geo_bounding_box.bottom_right))
    if c.geo_radius is not None:
        radius = qe.GeoRadius(_geo_point(c.geo_radius.center), c.geo_radius.radius)
    if c.geo_polygon is not None:
        polygon = qe.GeoPolygon(
            [_geo_point(p) for p in c.geo_polygon.exterior.points],
            [[_geo_point(p) for p in ring.points] for ring in c.geo_polygon.interiors]
            if c.geo_polygon.interiors
            else None,
        )
    if c.values_count is not None:
        v = c.values_count
        count = qe.ValuesCount(lt=v.lt, gt=v.gt, lte=v.lte, gte=v.gte)
    return qe.FieldCondition(
        key=c.key,
        match=None if c.match is None else _match(c.match),
        range=rng,
        geo_bounding_box=box,
        geo_radius=radius,
        geo_polygon=polygon,
        values_count=count,
        is_empty=c.is_empty,
        is_null=c.is_null,
    )


def _condition(c: Any) -> Any:
    if isinstance(c, m.FieldCondition):
        return _field_condition(c)
    if isinstance(c, m.Filter):
        return edge_filter(c)
    if isinstance(c, m.IsEmptyCondition):
        return qe.IsEmptyCondition(c.is_empty.key)
    if isinstance(c, m.IsNullCondition):
        return qe.IsNullCondition(c.is_null.key)
    if isinstance(c, m.HasIdCondition):
        return qe.HasIdCondition({edge_point_id(i) for i in c.has_id})
    if isinstance(c, m.HasVectorCondition):
        return qe.HasVectorCondition(c.has_vector)
    if isinstance(c, m.NestedCondition):
        return qe.NestedCondition(c.nested.key, edge_filter(c.nested.filter))
    raise unsupported(f"filter condition {type(c).__name__}")


@overload
def edge_filter(f: m.Filter) -> qe.Filter: ...
@overload
def edge_filter(f: None) -> None: ...
@overload
def edge_filter(f: m.Filter | None) -> qe.Filter | None: ...
def edge_filter(f: m.Filter | None) -> qe.Filter | None:
    """Edge's filter for a REST one (None stays None)."""
    if f is None:
        return None
    min_should = None
    if f.min_should is not None:
        min_should = qe.MinShould([_condition(c) for c in f.min_should.conditions], f.min_should.min_count)
    return qe.Filter(
        must=[_condition(c) for c in _as_list(f.must)] or None,
        should=[_condition(c) for c in _as_list(f.should)] or None,
        must_not=[_condition(c) for c in _as_list(f.must_not)] or None,
        min_should=min_should,
    )


# -- selectors, vectors, params ----------------------------------------------------------------------------
def payload_selector(value: Any, default: bool) -> Any:
    """``with_payload`` for Edge: a bool, the keys to include, or an include/exclude selector."""
    if value is None:
        return default
    if isinstance(value, bool | list):
        return value
    if isinstance(value, m.PayloadSelectorInclude):
        return qe.PayloadSelector.Include(list(value.include))
    if isinstance(value, m.PayloadSelectorExclude):
        return qe.PayloadSelector.Exclude(list(value.exclude))
    raise unsupported(f"with_payload {value!r}")


def vector_selector(value: Any, default: bool) -> bool | list[str]:
    """``with_vector`` for Edge: a bool or the vector names to return."""
    if value is None:
        return default
    if isinstance(value, bool | list):
        return value
    raise unsupported(f"with_vector {value!r}")


def edge_vector(vector: Any) -> Any:
    """One REST vector (dense list, multivector, sparse) as Edge takes it."""
    if isinstance(vector, m.SparseVector):
        if len(vector.indices) != len(vector.values):
            raise wrong_input("sparse vector indices and values must have the same length")
        return qe.SparseVector(list(vector.indices), list(vector.values))
    if isinstance(vector, list):
        return vector
    raise unsupported(f"vector input {type(vector).__name__} (inference)")


def _vector_struct(vector: Any) -> Any:
    if isinstance(vector, Mapping):
        return {name: edge_vector(v) for name, v in vector.items()}
    return edge_vector(vector)


def edge_points(body: m.PointsBatch | m.PointsList) -> list[qe.Point]:
    """Edge points for a REST upsert body (``batch`` columns or a ``points`` list)."""
    if isinstance(body, m.PointsList):
        return [qe.Point(edge_point_id(p.id), _vector_struct(p.vector), p.payload) for p in body.points]
    batch = body.batch
    ids = [edge_point_id(i) for i in batch.ids]
    payloads: Sequence[Any] = batch.payloads if batch.payloads is not None else [None] * len(ids)
    if len(payloads) != len(ids):
        raise wrong_input(f"batch has {len(ids)} ids but {len(payloads)} payloads")
    vectors: Any = batch.vectors
    if isinstance(vectors, Mapping):
        columns = {name: list(column) for name, column in vectors.items()}
        if any(len(column) != len(ids) for column in columns.values()):
            raise wrong_input("every named vector column of a batch needs one vector per id")
        rows: list[Any] = [{name: edge_vector(col[i]) for name, col in columns.items()} for i in range(len(ids))]
    elif isinstance(vectors, list):
        if len(vectors) != len(ids):
            raise wrong_input(f"batch has {len(ids)} ids but {len(vectors)} vectors")
        rows = [edge_vector(v) for v in vectors]
    else:
        raise unsupported("inference inputs in a batch")
    return [qe.Point(pid, vec, payload) for pid, vec, payload in zip(ids, rows, payloads, strict=True)]


def edge_search_params(params: m.SearchParams | None) -> qe.SearchParams | None:
    """Edge's search params (``hnsw_ef``, ``exact``, ``quantization``, ``indexed_only``, ``acorn``)."""
    if params is None:
        return None
    if params.idf is not None:
        raise unsupported("search params idf")
    quantization = None
    if params.quantization is not None:
        q = params.quantization
        quantization = qe.QuantizationSearchParams(
            ignore=bool(q.ignore), rescore=q.rescore, oversampling=q.oversampling
        )
    acorn = None
    if params.acorn is not None:
        acorn = qe.AcornSearchParams(enable=bool(params.acorn.enable), max_selectivity=params.acorn.max_selectivity)
    return qe.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=bool(params.exact),
        quantization=quantization,
        indexed_only=bool(params.indexed_only),
        acorn=acorn,
    )


def edge_query(
    vector: Any,
    *,
    using: str | None,
    filter: m.Filter | None,
    params: m.SearchParams | None,
    limit: int | None,
    offset: int | None,
    score_threshold: float | None,
    with_payload: Any,
    with_vector: Any,
) -> qe.QueryRequest:
    """A nearest-vector query as Edge runs it (``limit`` defaults to 10, payloads and vectors off)."""
    if isinstance(vector, m.NearestQuery):
        if vector.mmr is not None:
            raise unsupported("query nearest with mmr")
        vector = vector.nearest
    if vector is None:
        raise unsupported("a query without a vector")
    if not isinstance(vector, list | m.SparseVector):
        raise unsupported(f"query {type(vector).__name__}")
    if limit is not None and limit < 1:
        raise ApiError(422, f"Validation error in JSON body: [limit: value {limit} invalid, must be 1 or larger]")
    return qe.QueryRequest(
        limit=10 if limit is None else limit,
        offset=offset,
        query=qe.Query.Nearest(edge_vector(vector), using=using or None),
        with_vector=vector_selector(with_vector, False),
        with_payload=payload_selector(with_payload, False),
        filter=edge_filter(filter),
        score_threshold=score_threshold,
        params=edge_search_params(params),
    )


# -- answers -----------------------------------------------------------------------------------------------
def _vector_json(vector: Any) -> Any:
    if vector is None or isinstance(vector, list):
        return vector
    if isinstance(vector, qe.SparseVector):
        return {"indices": list(vector.indices), "values": list(vector.values)}
    if isinstance(vector, Mapping):
        return {name: _vector_json(v) for name, v in vector.items()}
    return vector


def record_json(record: Any) -> dict[str, Any]:
    """A REST ``Record`` for an Edge record."""
    out = {"id": json_id(record.id), "payload": record.payload, "vector": _vector_json(record.vector)}
    if record.order_value is not None:
        out["order_value"] = record.order_value
    return out


def scored_json(point: Any) -> dict[str, Any]:
    """A REST ``ScoredPoint`` for an Edge scored point."""
    out = {
        "id": json_id(point.id),
        "version": point.version,
        "score": point.score,
        "payload": point.payload,
        "vector": _vector_json(point.vector),
    }
    if point.order_value is not None:
        out["order_value"] = point.order_value
    return out
