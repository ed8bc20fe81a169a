"""The control plane: ``/indexes`` in the 2026-07 shapes (or 2026-04 on request) and the admin fault hooks."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from harness.pinecone_local import wire
from harness.pinecone_local.api_errors import InvalidArgument, NotFound, Unprocessable
from harness.pinecone_local.calls import Call, json_response
from harness.pinecone_local.engine import Engine
from harness.pinecone_local.faults import FaultConfig
from harness.pinecone_local.vector_index import IndexSpec

LEGACY_API_VERSION = "2026-04"


def _schema_json(spec: IndexSpec) -> dict[str, Any]:
    return {"fields": {"_values": {"type": "dense_vector", "dimension": spec.dimension, "metric": spec.metric}}}


def index_model(spec: IndexSpec, call: Call) -> dict[str, Any]:
    """The 2026-07 IndexModel (``ready`` at once, ``http://`` host)."""
    model: dict[str, Any] = {
        "name": spec.name,
        "status": {"ready": True, "state": "Ready"},
        "schema": _schema_json(spec),
        "deployment": dict(spec.deployment),
        "deletion_protection": spec.deletion_protection,
        "host": call.index_host(spec.name),
        "tags": dict(spec.tags) if spec.tags else None,
    }
    if spec.deployment.get("deployment_type") == "managed":
        model["read_capacity"] = {"mode": "OnDemand", "status": {"state": "Ready"}}
    return model


def legacy_index_model(spec: IndexSpec, call: Call) -> dict[str, Any]:
    """The flat 2026-04 IndexModel."""
    deployment = dict(spec.deployment)
    kind = deployment.pop("deployment_type", "managed")
    spec_json = {"serverless" if kind == "managed" else kind: deployment}
    return {
        "name": spec.name,
        "dimension": spec.dimension,
        "metric": spec.metric,
        "host": call.index_host(spec.name),
        "vector_type": "dense",
        "spec": spec_json,
        "status": {"ready": True, "state": "Ready"},
        "deletion_protection": spec.deletion_protection,
        "tags": dict(spec.tags) if spec.tags else None,
    }


def _tags(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise Unprocessable("tags must be an object of string keys and string values")
    return value


# The fields each deployment type must carry (the SDK cannot parse an IndexModel without them), by type.
DEPLOYMENT_FIELDS: dict[str, dict[str, type]] = {
    "managed": {"cloud": str, "region": str},
    "pod": {"environment": str, "pod_type": str, "replicas": int, "shards": int},
    "byoc": {"environment": str},
}


def _deployment(value: object) -> dict[str, Any]:
    """A deployment the SDK can read back: a known ``deployment_type`` with every field it needs (422
    otherwise, as Pinecone answers a body it cannot deserialize)."""
    if value is None:
        return {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
    kind = value.get("deployment_type") if isinstance(value, dict) else None
    if not isinstance(value, dict) or kind not in DEPLOYMENT_FIELDS:
        raise Unprocessable(f"deployment must be an object with deployment_type one of {sorted(DEPLOYMENT_FIELDS)}")
    for name, kind_of in DEPLOYMENT_FIELDS[kind].items():
        field_value = value.get(name)
        if kind_of is str:
            ok = isinstance(field_value, str) and bool(field_value.strip())
        else:
            ok = isinstance(field_value, int) and not isinstance(field_value, bool) and field_value >= 1
        if not ok:
            needs = "a non-empty string" if kind_of is str else "an integer of at least 1"
            raise Unprocessable(f"deployment of type {kind!r} needs {name!r} ({needs})")
    return dict(value)


def _metric(value: object) -> str:
    if value is None or value == "":
        return "cosine"
    if not isinstance(value, str):
        raise Unprocessable(f"metric must be a string, got {type(value).__name__}")
    return value.lower()


def spec_from_create(body: dict[str, Any]) -> IndexSpec:
    """An IndexSpec from a 2026-07 create body; only a classic dense ``_values`` schema is served."""
    schema = body.get("schema")
    fields = schema.get("fields") if isinstance(schema, dict) else None
    if not isinstance(fields, dict):
        raise Unprocessable("missing field 'schema' (an object with 'fields')")
    if set(fields) != {"_values"} or not isinstance(fields["_values"], dict):
        got = sorted(fields) if isinstance(fields, dict) else fields
        raise InvalidArgument(
            "This server serves dense vector indexes only: schema.fields must hold exactly '_values' "
            f"of type dense_vector; got {got!r}"
        )
    values = fields["_values"]
    if values.get("type") != "dense_vector":
        raise InvalidArgument(f"schema field '_values' must have type 'dense_vector', got {values.get('type')!r}")
    return IndexSpec(
        name=body.get("name"),  # type: ignore[arg-type]  # validated by IndexSpec
        dimension=values.get("dimension"),  # type: ignore[arg-type]
        metric=_metric(values.get("metric")),
        deployment=_deployment(body.get("deployment")),
        deletion_protection=body.get("deletion_protection") or "disabled",
        tags=_tags(body.get("tags")),
    )


def spec_from_legacy_create(body: dict[str, Any]) -> IndexSpec:
    """An IndexSpec from a 2026-04 flat create body (``dimension``, ``metric``, ``spec``)."""
    if body.get("vector_type", "dense") != "dense":
        raise InvalidArgument("This server serves dense vector indexes only (vector_type 'dense')")
    spec = body.get("spec") or {"serverless": {"cloud": "aws", "region": "us-east-1"}}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise Unprocessable("spec must be an object with exactly one of 'serverless', 'pod', 'byoc'")
    ((kind, settings),) = spec.items()
    deployment_type = {"serverless": "managed", "pod": "pod", "byoc": "byoc"}.get(kind)
    if deployment_type is None or not isinstance(settings, dict):
        raise Unprocessable(f"unknown spec {kind!r}; use 'serverless', 'pod' or 'byoc'")
    return IndexSpec(
        name=body.get("name"),  # type: ignore[arg-type]
        dimension=body.get("dimension"),  # type: ignore[arg-type]
        metric=_metric(body.get("metric")),
        deployment=_deployment({**settings, "deployment_type": deployment_type}),
        deletion_protection=body.get("deletion_protection") or "disabled",
        tags=_tags(body.get("tags")),
    )


def control_call(engine: Engine, call: Call) -> Response:
    """Serve ``/indexes[/{name}]``."""
    legacy = call.api_version == LEGACY_API_VERSION
    model = legacy_index_model if legacy else index_model
    segs = call.segments
    if len(segs) == 1:
        if call.method == "GET":
            return json_response({"indexes": [model(s, call) for s in engine.list_indexes()]})
        if call.method == "POST":
            body = wire.parse_json_object(call.body)
            spec = spec_from_legacy_create(body) if legacy else spec_from_create(body)
            return json_response(model(engine.create_index(spec), call), 201)
    elif len(segs) == 2:
        name = segs[1]
        if call.method == "GET":
            return json_response(model(engine.index(name).spec, call))
        if call.method == "DELETE":
            engine.delete_index(name)
            return Response(status_code=202)
        if call.method == "PATCH":
            body = wire.parse_json_object(call.body)
            protection = body.get("deletion_protection")
            if protection is not None and not isinstance(protection, str):
                raise InvalidArgument("deletion_protection must be 'enabled' or 'disabled'")
            if protection not in (None, "enabled", "disabled"):
                raise InvalidArgument(f"deletion_protection must be 'enabled' or 'disabled', got {protection!r}")
            spec = engine.configure_index(name, deletion_protection=protection, tags=_tags(body.get("tags")))
            return json_response(model(spec, call))
    else:
        raise NotFound(f"No route {call.method} /{'/'.join(segs)}")
    return Response(status_code=405)


def _faults_json(engine: Engine, name: str) -> dict[str, Any]:
    injector = engine.fault_injector(name)
    return {
        "faults": engine.faults(name).to_dict(),
        "requests": injector.requests if injector is not None else 0,
        "injected_errors": injector.injected_errors if injector is not None else 0,
    }


def admin_call(engine: Engine, call: Call) -> Response:
    """Serve ``/_admin/indexes/{name}/faults``: GET reads, POST sets (body: FaultConfig fields), DELETE clears.

    Every answer is ``{"faults": {...}, "requests": n, "injected_errors": n}``.
    """
    name = call.segments[2]
    if call.method == "POST":
        try:
            config = FaultConfig.from_mapping(wire.parse_json_object(call.body))
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"Invalid fault settings: {exc}") from None
        engine.set_faults(name, config)
    elif call.method == "DELETE":
        engine.clear_faults(name)
    elif call.method != "GET":
        return Response(status_code=405)
    return json_response(_faults_json(engine, name))
