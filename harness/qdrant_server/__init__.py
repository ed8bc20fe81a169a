"""A Qdrant-compatible REST server over Qdrant Edge, for offline runs (``ragmig serve-qdrant``).

Several processes (an application and ``ragmig run``) can share collections this way, which a Qdrant
Edge directory (one process only) cannot. One Edge shard directory per collection; the REST shapes are
Qdrant's (validated with qdrant-client's generated models); the HNSW graph is built by a background
optimizer thread (``optimizer.py``).

- ``testing.QdrantServer``: the server on a free loopback port in a background thread (tests);
- ``server.serve``: ``ragmig serve-qdrant`` in the foreground;
- ``app.create_app``: the ASGI app; ``registry.Registry``: the collections and the optimizer.

Modules are imported on demand so importing this package stays cheap.
"""

__all__: list[str] = []  # the modules above are the API; nothing is re-exported
