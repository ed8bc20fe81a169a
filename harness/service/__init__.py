"""The RAG query service game days put under load: routing, per-backend result caches, metrics, HTTP."""

from harness.service.app import ServiceEndpoint, create_app, requests_total, serve_in_thread
from harness.service.service import (
    MetricsRecorder,
    QueryResult,
    QueryService,
    QuerySpec,
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
    "serve_in_thread",
    "text_key_table",
    "vector_for_text_key",
]
