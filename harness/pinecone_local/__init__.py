"""A Pinecone-compatible server for offline runs, faithful to what the ``pinecone`` SDK (v10) sends and expects.

- ``testing.PineconeServer``: the server on a free loopback port in a background thread (tests, benchmarks);
- ``server.serve``: ``ragmig serve-pinecone`` in the foreground;
- ``app.create_app``: the ASGI app; ``engine.Engine``: indexes, fault hooks, persistence.

Modules are imported on demand so importing this package stays cheap.
"""

__all__: list[str] = []  # the modules above are the API; nothing is re-exported
