"""Store adapters behind one seam, opened by URI (``open_store``)."""

from __future__ import annotations

from importlib import import_module

from harness.stores.base import Cursor, SearchParams, VectorStore, iter_batches
from harness.stores.uri import SCHEMES, StoreURI, parse_store_uri, same_store, store_identity

__all__ = [
    "SCHEMES",
    "Cursor",
    "SearchParams",
    "StoreURI",
    "VectorStore",
    "iter_batches",
    "open_store",
    "parse_store_uri",
    "same_store",
    "store_identity",
]

# scheme -> "module:factory"; each factory takes a StoreURI. Vendor SDKs are imported only when used.
_FACTORIES = {
    "exact": "harness.stores.exact:from_uri",
    "qdrant-edge": "harness.stores.qdrant_edge:from_uri",
    "qdrant": "harness.stores.qdrant:from_uri",
    "qdrant-local": "harness.stores.qdrant:from_uri",
    "pinecone": "harness.stores.pinecone:from_uri",
}


def open_store(uri: str) -> VectorStore:
    """Open the store named by ``uri`` (see design.md for the schemes).

    Raises ``InvalidURIError`` for a URI that is not ours (its message names the accepted schemes).
    Opening does not create a collection: call ``create(schema)`` for a new one.
    """
    parsed = parse_store_uri(uri)
    module_name, _, factory = _FACTORIES[parsed.scheme].partition(":")
    store: VectorStore = getattr(import_module(module_name), factory)(parsed)
    return store
