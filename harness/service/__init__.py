"""The RAG query service game days put under load: routing, per-backend result caches, metrics, HTTP."""

from harness.service.app import create_app, requests_total
from harness.service.service import (
    MetricsRecorder,
    QueryResult,
    QueryService,
    QuerySpec,
    ServiceEndpoint,
    text_key_table,
    vector_for_text_key,
)

__all__ = [
    "MetricsRecorder",
    "QueryResult",
    "QueryService",
    "QuerySpec",
    "ServiceEndpoint",
    "create_app",
    "requests_total",
    "text_key_table",
    "vector_for_text_key",
]
