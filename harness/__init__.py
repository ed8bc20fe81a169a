"""rag-migration-harness: certify, gate and rehearse a vector-database migration for a RAG system.

The curated public API; everything else is reachable through its module. Names are resolved on first
use (PEP 562), so ``import harness`` — and ``ragmig --help`` — import neither numpy nor a vendor SDK.
"""

import typing as _typing
from importlib import import_module as _import_module

from harness._version import __version__

if _typing.TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and IDEs
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
        DenseColumn,
        DenseVectorParams,
        Distance,
        HnswConfig,
        PointId,
        RecordBatch,
        SearchResult,
        SparseColumn,
        SparseVectorParams,
        Status,
        Verdict,
    )
    from harness.stores import StoreURI, VectorStore, iter_batches, open_store, parse_store_uri

_LAZY: dict[str, str] = {
    **dict.fromkeys(("Clock", "ManualClock", "SystemClock"), "harness.clock"),
    **dict.fromkeys(
        (
            "CollectionNotFoundError",
            "ConfigError",
            "DimensionMismatchError",
            "HarnessError",
            "InvalidInputError",
            "InvalidURIError",
            "StoreError",
            "StoreUnreachableError",
            "TransientStoreError",
            "UsageError",
        ),
        "harness.errors",
    ),
    **dict.fromkeys(
        (
            "Check",
            "CollectionSchema",
            "DenseColumn",
            "DenseVectorParams",
            "Distance",
            "HnswConfig",
            "PointId",
            "RecordBatch",
            "SearchResult",
            "SparseColumn",
            "SparseVectorParams",
            "Status",
            "Verdict",
        ),
        "harness.model",
    ),
    **dict.fromkeys(("StoreURI", "VectorStore", "iter_batches", "open_store", "parse_store_uri"), "harness.stores"),
}
"""public name -> the module that defines it."""

__all__ = [
    "Check",
    "Clock",
    "CollectionNotFoundError",
    "CollectionSchema",
    "ConfigError",
    "DenseColumn",
    "DenseVectorParams",
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
    "SparseColumn",
    "SparseVectorParams",
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


def __getattr__(name: str) -> _typing.Any:
    """Import the module behind a public name on first access and cache the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(_import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
