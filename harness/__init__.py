"""rag-migration-harness: certify, gate and rehearse a vector-database migration for a RAG system.

The curated public API; everything else is reachable through its module.
"""

from harness._version import __version__
from harness.clock import Clock, ManualClock, SystemClock
from harness.errors import (
    CollectionNotFoundError,
    ConfigError,
    DimensionMismatchError,
    HarnessError,
    InvalidInputError,
    InvalidURIError,
    StoreError,
    StoreUnreachableError,
    TransientStoreError,
    UsageError,
)
from harness.model import (
    Check,
    CollectionSchema,
    Distance,
    HnswConfig,
    PointId,
    RecordBatch,
    SearchResult,
    Status,
    Verdict,
)
from harness.stores import StoreURI, VectorStore, iter_batches, open_store, parse_store_uri

__all__ = [
    "Check",
    "Clock",
    "CollectionNotFoundError",
    "CollectionSchema",
    "ConfigError",
    "DimensionMismatchError",
    "Distance",
    "HarnessError",
    "HnswConfig",
    "InvalidInputError",
    "InvalidURIError",
    "ManualClock",
    "PointId",
    "RecordBatch",
    "SearchResult",
    "Status",
    "StoreError",
    "StoreURI",
    "StoreUnreachableError",
    "SystemClock",
    "TransientStoreError",
    "UsageError",
    "VectorStore",
    "Verdict",
    "__version__",
    "iter_batches",
    "open_store",
    "parse_store_uri",
]
