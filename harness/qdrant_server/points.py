"""The points API over one collection: upsert, retrieve, scroll, count, query, search, delete, payloads,
payload indexes. Each function takes the parsed REST body and returns the JSON-ready ``result``.

Writes are applied (and in Edge's WAL) before they return, whatever ``wait`` says, so every update
answers ``{"status": "completed"}``.
"""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe
from pydantic import BaseModel, ConfigDict
from qdrant_client.http import models as m

from harness.qdrant_server.collection import Collection
from harness.qdrant_server.config import edge_enum
from harness.qdrant_server.convert import (
    edge_filter,
    edge_point_id,
    edge_points,
    edge_query,
    json_id,
    payload_selector,
    record_json,
    scored_json,
    vector_selector,
)
from harness.qdrant_server.wire import ApiError, not_found, unsupported, validation_error

__all__ = [
    "COMPLETED",
    "SearchRequest",
    "SearchRequestBatch",
    "clear_payload",
    "count",
    "create_index",
    "delete_index",
    "delete_payload",
    "delete_points",
    "get_point",
    "overwrite_payload",
    "query",
    "query_batch",
    "retrieve",
    "scroll",
    "search",
    "search_batch",
    "set_payload",
    "upsert",
]

COMPLETED = {"status": "completed"}
_SCROLL_DEFAULT_LIMIT = 10


class _NamedVector(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    vector: list[float] | m.SparseVector


class SearchRequest(BaseModel):
    """``POST /points/search`` (Qdrant's older search API, still served; qdrant-client 1.20 no longer sends it)."""

    model_config = ConfigDict(extra="forbid")
    shard_key: Any = None
    vector: list[float] | _NamedVector
    filter: m.Filter | None = None
    params: m.SearchParams | None = None
    limit: int
    offset: int | None = None
    with_payload: m.WithPayloadInterface | None = None
    with_vector: m.WithVector | None = None
    score_threshold: float | None = None


class SearchRequestBatch(BaseModel):
    """``POST /points/search/batch``."""

    model_config = ConfigDict(extra="forbid")
    searches: list[SearchRequest]


def _no_shard_key(body: Any) -> None:
    if getattr(body, "shard_key", None) is not None:
        raise unsupported("shard_key")


# -- writes ------------------------------------------------------------------------------------------------
def upsert(collection: Collection, body: m.PointsBatch | m.PointsList) -> dict[str, Any]:
    """``PUT /points``: insert or replace (``update_filter`` and ``update_mode`` as Qdrant has them)."""
    _no_shard_key(body)
    points = edge_points(body)
    if not points:
        return COMPLETED
    mode = None if body.update_mode is None else edge_enum(qe.UpdateMode, body.update_mode)
    collection.write(qe.UpdateOperation.upsert_points(points, edge_filter(body.update_filter), mode))
    return COMPLETED


def _selected(body: m.PointIdsList | m.FilterSelector) -> tuple[list[Any] | None, qe.Filter | None]:
    _no_shard_key(body)
    if isinstance(body, m.PointIdsList):
        return [edge_point_id(i) for i in body.points], None
    return None, edge_filter(body.filter)


def delete_points(collection: Collection, body: m.PointIdsList | m.FilterSelector) -> dict[str, Any]:
    """``POST /points/delete``: by ids (absent ids are ignored) or by filter."""
    ids, selector = _selected(body)
    if ids is not None:
        if ids:
            collection.write(qe.UpdateOperation.delete_points(ids))
    else:
        assert selector is not None
        collection.write(qe.UpdateOperation.delete_points_by_filter(selector))
    return COMPLETED


def _points_or_filter(body: Any) -> tuple[list[Any] | None, qe.Filter | None]:
    _no_shard_key(body)
    if (body.points is None) == (body.filter is None):
        raise validation_error("JSON body", "Either list of point ids or filter must be provided")
    if body.points is not None:
        return [edge_point_id(i) for i in body.points], None
    return None, edge_filter(body.filter)


def set_payload(collection: Collection, body: m.SetPayload) -> dict[str, Any]:
    """``POST /points/payload``: merge ``payload`` into the selected points (at ``key`` when given)."""
    ids, selector = _points_or_filter(body)
    if ids is not None:
        collection.write(qe.UpdateOperation.set_payload(ids, body.payload, body.key))
    else:
        assert selector is not None
        collection.write(qe.UpdateOperation.set_payload_by_filter(selector, body.payload, body.key))
    return COMPLETED


def overwrite_payload(collection: Collection, body: m.SetPayload) -> dict[str, Any]:
    """``PUT /points/payload``: replace the selected points' payload."""
    if body.key is not None:
        raise unsupported("overwrite_payload with key")
    ids, selector = _points_or_filter(body)
    if ids is not None:
        collection.write(qe.UpdateOperation.overwrite_payload(ids, body.payload))
    else:
        assert selector is not None
        collection.write(qe.UpdateOperation.overwrite_payload_by_filter(selector, body.payload))
    return COMPLETED


def delete_payload(collection: Collection, body: m.DeletePayload) -> dict[str, Any]:
    """``POST /points/payload/delete``: remove ``keys`` from the selected points' payload."""
    ids, selector = _points_or_filter(body)
    if ids is not None:
        collection.write(qe.UpdateOperation.delete_payload(ids, list(body.keys)))
    else:
        assert selector is not None
        collection.write(qe.UpdateOperation.delete_payload_by_filter(selector, list(body.keys)))
    return COMPLETED


def clear_payload(collection: Collection, body: m.PointIdsList | m.FilterSelector) -> dict[str, Any]:
    """``POST /points/payload/clear``: empty the selected points' payload."""
    ids, selector = _selected(body)
    if ids is not None:
        collection.write(qe.UpdateOperation.clear_payload(ids))
    else:
        assert selector is not None
        collection.write(qe.UpdateOperation.clear_payload_by_filter(selector))
    return COMPLETED


_INDEX_PARAM_KEYS = {
    "keyword": ("is_tenant", "on_disk", "enable_hnsw", "prefix"),
    "integer": ("lookup", "range", "is_principal", "on_disk", "enable_hnsw"),
    "float": ("is_principal", "on_disk", "enable_hnsw"),
    "bool": ("on_disk", "enable_hnsw"),
    "geo": ("on_disk", "enable_hnsw"),
    "datetime": ("is_principal", "on_disk", "enable_hnsw"),
    "uuid": ("is_tenant", "on_disk", "enable_hnsw"),
    "text": ("min_token_len", "max_token_len", "lowercase", "on_disk"),
}
_INDEX_PARAM_CLASSES = {
    "keyword": "KeywordIndexParams",
    "integer": "IntegerIndexParams",
    "float": "FloatIndexParams",
    "bool": "BoolIndexParams",
    "geo": "GeoIndexParams",
    "datetime": "DatetimeIndexParams",
    "uuid": "UuidIndexParams",
    "text": "TextIndexParams",
}


def _field_schema(schema: Any) -> Any:
    if schema is None:
        raise unsupported("a payload index without field_schema")
    if isinstance(schema, m.PayloadSchemaType):
        return edge_enum(qe.PayloadSchemaType, schema.value)
    params = schema.model_dump(mode="json", exclude_none=True)
    kind = str(params.pop("type"))
    tokenizer = params.pop("tokenizer", None)
    extra = sorted(set(params) - set(_INDEX_PARAM_KEYS.get(kind, ())))
    if kind not in _INDEX_PARAM_CLASSES or extra:
        raise unsupported(f"{kind} index parameters {', '.join(extra) or kind}")
    if tokenizer is not None:
        params["tokenizer"] = edge_enum(qe.TokenizerType, tokenizer)
    return getattr(qe, _INDEX_PARAM_CLASSES[kind])(**params)


def create_index(collection: Collection, body: m.CreateFieldIndex) -> dict[str, Any]:
    """``PUT /index``: a payload index on ``field_name`` (the next optimization rebuilds the graph with it)."""
    collection.write(qe.UpdateOperation.create_field_index(body.field_name, _field_schema(body.field_schema)))
    return COMPLETED


def delete_index(collection: Collection, field_name: str) -> dict[str, Any]:
    """``DELETE /index/FIELD``."""
    collection.write(qe.UpdateOperation.delete_field_index(field_name))
    return COMPLETED


# -- reads -------------------------------------------------------------------------------------------------
def retrieve(collection: Collection, body: m.PointRequest) -> list[dict[str, Any]]:
    """``POST /points``: the points with these ids that exist (payload on, vectors off by default)."""
    _no_shard_key(body)
    ids = [edge_point_id(i) for i in body.ids]
    if not ids:
        return []
    with_payload = payload_selector(body.with_payload, True)
    with_vector = vector_selector(body.with_vector, False)
    records = collection.call(lambda shard: shard.retrieve(ids, with_payload, with_vector))
    return [record_json(r) for r in records]


def get_point(collection: Collection, point_id: str) -> dict[str, Any]:
    """``GET /points/ID``: one point with payload and vectors; 404 when it does not exist."""
    pid: Any = int(point_id) if point_id.isdigit() else point_id
    edge_id = edge_point_id(pid)
    records = collection.call(lambda shard: shard.retrieve([edge_id], True, True))
    if not records:
        raise not_found(f"No point with id {point_id} found")
    return record_json(records[0])


def scroll(collection: Collection, body: m.ScrollRequest | None) -> dict[str, Any]:
    """``POST /points/scroll``: a page in id order (or ``order_by``) and ``next_page_offset``."""
    body = body or m.ScrollRequest()
    _no_shard_key(body)
    limit = _SCROLL_DEFAULT_LIMIT if body.limit is None else body.limit
    if limit < 1:
        raise validation_error("JSON body", f"limit: value {limit} invalid, must be 1 or larger")
    order_by = None
    if body.order_by is not None:
        spec = m.OrderBy(key=body.order_by) if isinstance(body.order_by, str) else body.order_by
        order_by = qe.OrderBy(
            spec.key,
            None if spec.direction is None else edge_enum(qe.Direction, spec.direction),
            spec.start_from
            if isinstance(spec.start_from, int | float) or spec.start_from is None
            else str(spec.start_from),
        )
    request = qe.ScrollRequest(
        offset=None if body.offset is None else edge_point_id(body.offset),
        limit=limit,
        filter=edge_filter(body.filter),
        with_payload=payload_selector(body.with_payload, True),
        with_vector=vector_selector(body.with_vector, False),
        order_by=order_by,
    )
    records, next_offset = collection.call(lambda shard: shard.scroll(request))
    return {
        "points": [record_json(r) for r in records],
        "next_page_offset": None if next_offset is None else json_id(next_offset),
    }


def count(collection: Collection, body: m.CountRequest | None) -> dict[str, Any]:
    """``POST /points/count``: exact unless ``exact: false``."""
    body = body or m.CountRequest()
    _no_shard_key(body)
    request = qe.CountRequest(exact=True if body.exact is None else body.exact, filter=edge_filter(body.filter))
    return {"count": int(collection.call(lambda shard: shard.count(request)))}


def _query_request(body: m.QueryRequest) -> qe.QueryRequest:
    _no_shard_key(body)
    if body.prefetch is not None:
        raise unsupported("prefetch")
    if body.lookup_from is not None:
        raise unsupported("lookup_from")
    return edge_query(
        body.query,
        using=body.using,
        filter=body.filter,
        params=body.params,
        limit=body.limit,
        offset=body.offset,
        score_threshold=body.score_threshold,
        with_payload=body.with_payload,
        with_vector=body.with_vector,
    )


def _run(collection: Collection, requests: list[qe.QueryRequest]) -> list[list[dict[str, Any]]]:
    if not requests:
        return []
    hits = collection.call(lambda shard: shard.query_batch(qe.QueryBatchRequest(requests)))
    return [[scored_json(p) for p in row] for row in hits]


def query(collection: Collection, body: m.QueryRequest) -> dict[str, Any]:
    """``POST /points/query``: nearest neighbours of a dense or sparse vector (``{"points": [...]}``)."""
    return {"points": _run(collection, [_query_request(body)])[0]}


def query_batch(collection: Collection, body: m.QueryRequestBatch) -> list[dict[str, Any]]:
    """``POST /points/query/batch``: one ``{"points": [...]}`` per search, in one Edge call."""
    return [{"points": row} for row in _run(collection, [_query_request(q) for q in body.searches])]


def _search_request(body: SearchRequest) -> qe.QueryRequest:
    _no_shard_key(body)
    if body.limit < 1:
        raise ApiError(422, f"Validation error in JSON body: [limit: value {body.limit} invalid, must be 1 or larger]")
    vector, using = (
        (body.vector.vector, body.vector.name) if isinstance(body.vector, _NamedVector) else (body.vector, None)
    )
    return edge_query(
        vector,
        using=using,
        filter=body.filter,
        params=body.params,
        limit=body.limit,
        offset=body.offset,
        score_threshold=body.score_threshold,
        with_payload=body.with_payload,
        with_vector=body.with_vector,
    )


def search(collection: Collection, body: SearchRequest) -> list[dict[str, Any]]:
    """``POST /points/search``: a list of scored points."""
    return _run(collection, [_search_request(body)])[0]


def search_batch(collection: Collection, body: SearchRequestBatch) -> list[list[dict[str, Any]]]:
    """``POST /points/search/batch``: one list of scored points per search."""
    return _run(collection, [_search_request(s) for s in body.searches])
