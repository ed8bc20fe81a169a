"""The data plane of one dense index: the vectors API and namespaces, in the SDK's camelCase shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from harness.pinecone_local import wire
from harness.pinecone_local.api_errors import InvalidArgument, NotFound
from harness.pinecone_local.calls import Call, json_response
from harness.pinecone_local.engine import Engine
from harness.pinecone_local.vector_index import NamespaceInfo, VectorIndex


def _namespace_json(info: NamespaceInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"name": info.label, "record_count": info.record_count}
    if info.schema is not None:
        out["schema"] = info.schema
        fields = info.schema.get("fields")
        if isinstance(fields, dict):
            out["indexed_fields"] = {"fields": sorted(fields)}
    return out


def _usage(read_units: int = 1) -> dict[str, int]:
    return {"readUnits": max(1, read_units)}


def upsert(index: VectorIndex, call: Call) -> Response:
    """POST /vectors/upsert."""
    namespace, ids, rows, metadata, sparse = wire.parse_upsert(wire.parse_json_object(call.body))
    values = wire.numeric_rows(rows, index.spec.dimension)
    return json_response({"upsertedCount": index.upsert(namespace, ids, values, metadata, sparse)})


def query(index: VectorIndex, call: Call) -> Response:
    """POST /query."""
    body = wire.parse_json_object(call.body)
    top_k, include_values, include_metadata = wire.check_top_k(body)
    vector = wire.query_vector(body.get("vector"))
    record_id = wire.parse_id(body["id"]) if body.get("id") is not None else None
    sparse = wire.parse_sparse(body["sparseVector"], "sparseVector") if body.get("sparseVector") else None
    if record_id is not None and (vector is not None or sparse is not None):
        raise InvalidArgument("Query by 'id' cannot be combined with 'vector' or 'sparseVector'")
    if record_id is None and vector is None:
        raise InvalidArgument("A query on a dense index needs a 'vector' or an 'id'")
    namespace = wire.parse_namespace(body.get("namespace"))
    views = index.query(
        namespace,
        top_k,
        vector,
        record_id,
        sparse,
        wire.parse_filter(body.get("filter")),
        include_values,
        include_metadata,
    )
    return json_response(
        {
            "matches": [wire.match_json(v) for v in views],
            "namespace": body.get("namespace") or "",
            "usage": _usage(),
        }
    )


def fetch(index: VectorIndex, call: Call) -> Response:
    """GET /vectors/fetch?ids=a&ids=b&namespace=ns."""
    ids = wire.parse_ids(call.params("ids"))
    namespace = wire.parse_namespace(call.param("namespace"))
    views = index.fetch(namespace, ids)
    return json_response(
        {
            "vectors": {v.id: wire.vector_json(v) for v in views},
            "namespace": call.param("namespace") or "",
            "usage": _usage(len(views) // 10 + 1),
        }
    )


def fetch_by_metadata(index: VectorIndex, call: Call) -> Response:
    """POST /vectors/fetch_by_metadata."""
    body = wire.parse_json_object(call.body)
    predicate = wire.require_filter(body.get("filter"), "Fetch")
    limit = wire.parse_int(body.get("limit"), "limit", 1, wire.MAX_FETCH_BY_METADATA_LIMIT, 100)
    after = wire.decode_token(body.get("paginationToken"))
    views, last = index.fetch_by_metadata(wire.parse_namespace(body.get("namespace")), predicate, limit, after)
    payload: dict[str, Any] = {
        "vectors": {v.id: wire.vector_json(v) for v in views},
        "namespace": body.get("namespace") or "",
        "usage": _usage(len(views) // 10 + 1),
    }
    if last is not None:
        payload["pagination"] = {"next": wire.encode_token(last)}
    return json_response(payload)


def delete(index: VectorIndex, call: Call) -> Response:
    """POST /vectors/delete with exactly one of ``ids``, ``deleteAll``, ``filter``."""
    body = wire.parse_json_object(call.body)
    namespace = wire.parse_namespace(body.get("namespace"))
    delete_all = wire.parse_bool(body.get("deleteAll"), "deleteAll")
    selectors = [k for k in ("ids", "filter") if body.get(k) is not None] + (["deleteAll"] if delete_all else [])
    if len(selectors) != 1:
        raise InvalidArgument(f"Delete needs exactly one of 'ids', 'deleteAll' or 'filter'; got {selectors or 'none'}")
    if delete_all:
        index.delete_all(namespace)
    elif body.get("ids") is not None:
        index.delete_ids(namespace, wire.parse_ids(body["ids"]))
    else:
        wire.require_filter(body["filter"], "Delete")  # validated here: 400 before anything is logged
        index.delete_by_filter(namespace, body["filter"])
    return json_response({})


def update(index: VectorIndex, call: Call) -> Response:
    """POST /vectors/update: by ``id`` (values, sparseValues, setMetadata) or by ``filter`` (setMetadata, dryRun)."""
    body = wire.parse_json_object(call.body)
    namespace = wire.parse_namespace(body.get("namespace"))
    set_metadata = wire.parse_metadata(body.get("setMetadata"), "setMetadata")
    has_id, has_filter = body.get("id") is not None, body.get("filter") is not None
    if has_id == has_filter:
        raise InvalidArgument("Update needs exactly one of 'id' or 'filter'")
    if has_filter:
        if body.get("values") is not None or body.get("sparseValues") is not None:
            raise InvalidArgument("Update by filter can only set metadata; 'values' and 'sparseValues' need an 'id'")
        wire.require_filter(body["filter"], "Update")  # validated here: 400 before anything is logged
        dry_run = wire.parse_bool(body.get("dryRun"), "dryRun")
        matched = index.update_by_filter(namespace, body["filter"], set_metadata or {}, dry_run)
        return json_response({"matchedRecords": matched})
    raw_values = body.get("values")
    values = None
    if raw_values is not None and raw_values != []:
        values = wire.numeric_rows([wire.parse_values(raw_values)], index.spec.dimension)[0]
    raw_sparse = body.get("sparseValues")
    sparse = wire.parse_sparse(raw_sparse) if raw_sparse is not None else None
    index.update_by_id(namespace, wire.parse_id(body["id"]), values, sparse, set_metadata)
    return json_response({})


def list_ids(index: VectorIndex, call: Call) -> Response:
    """GET /vectors/list?namespace=&prefix=&limit=&paginationToken=: ids in ascending order."""
    limit = wire.parse_int(call.param("limit"), "limit", 1, wire.MAX_LIST_LIMIT, wire.MAX_LIST_LIMIT, query=True)
    after = wire.decode_token(call.param("paginationToken"))
    namespace = wire.parse_namespace(call.param("namespace"))
    ids, last = index.list_ids(namespace, call.param("prefix") or "", limit, after)
    payload: dict[str, Any] = {
        "vectors": [{"id": i} for i in ids],
        "namespace": call.param("namespace") or "",
        "usage": _usage(),
    }
    if last is not None:
        payload["pagination"] = {"next": wire.encode_token(last)}
    return json_response(payload)


def describe_index_stats(index: VectorIndex, call: Call) -> Response:
    """POST (or GET) /describe_index_stats: per-namespace counts; a non-empty filter is refused."""
    body = wire.parse_json_object(call.body)
    if wire.parse_filter(body.get("filter")) is not None:
        raise InvalidArgument("describe_index_stats does not support a metadata filter on this index")
    stats = index.stats()
    return json_response(
        {
            "namespaces": {label: {"vectorCount": n} for label, n in stats.namespaces.items()},
            "dimension": stats.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": stats.total,
            "metric": stats.metric,
            "vectorType": "dense",
        }
    )


def namespaces(index: VectorIndex, call: Call) -> Response:
    """``/namespaces`` (POST create, GET list) and ``/namespaces/{name}`` (GET describe, DELETE)."""
    segs = call.segments
    if len(segs) == 1 and call.method == "POST":
        body = wire.parse_json_object(call.body)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument("name must be a non-empty string")
        if name == wire.DEFAULT_NAMESPACE_ALIAS:
            raise InvalidArgument("Namespace '__default__' always exists and cannot be created")
        schema = body.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise InvalidArgument("schema must be an object with 'fields'")
        return json_response(_namespace_json(index.create_namespace(wire.parse_namespace(name), schema)), 201)
    if len(segs) == 1 and call.method == "GET":
        limit = wire.parse_int(call.param("limit"), "limit", 1, wire.MAX_LIST_LIMIT, wire.MAX_LIST_LIMIT, query=True)
        after = wire.decode_token(call.param("paginationToken"))
        page, last, total = index.list_namespaces(call.param("prefix") or "", limit, after)
        payload: dict[str, Any] = {"namespaces": [_namespace_json(i) for i in page], "total_count": total}
        if last is not None:
            payload["pagination"] = {"next": wire.encode_token(last)}
        return json_response(payload)
    if len(segs) == 2 and call.method in ("GET", "DELETE"):
        name = wire.parse_namespace(segs[1])
        if call.method == "GET":
            return json_response(_namespace_json(index.describe_namespace(name)))
        index.delete_namespace(name)
        return json_response({})
    if len(segs) > 2:
        raise NotFound(f"No route {call.method} /{'/'.join(segs)} (document and records APIs are not served)")
    return Response(status_code=405)


DataHandler = Callable[[VectorIndex, Call], Response]
DATA_ROUTES: dict[tuple[str, str], DataHandler] = {
    ("POST", "vectors/upsert"): upsert,
    ("POST", "query"): query,
    ("GET", "vectors/fetch"): fetch,
    ("POST", "vectors/fetch_by_metadata"): fetch_by_metadata,
    ("POST", "vectors/delete"): delete,
    ("POST", "vectors/update"): update,
    ("GET", "vectors/list"): list_ids,
    ("POST", "describe_index_stats"): describe_index_stats,
    ("GET", "describe_index_stats"): describe_index_stats,
}


def data_call(engine: Engine, index_name: str, call: Call) -> Response:
    """Serve one data-plane request for ``index_name`` (``call.segments`` already stripped of the prefix)."""
    index = engine.index(index_name)
    if call.segments and call.segments[0] == "namespaces":
        return namespaces(index, call)
    handler = DATA_ROUTES.get((call.method, "/".join(call.segments)))
    if handler is None:
        if any(path == "/".join(call.segments) for _, path in DATA_ROUTES):
            return Response(status_code=405)
        raise NotFound(f"No route {call.method} /{'/'.join(call.segments)}")
    return handler(index, call)
