"""``ragmig certify``'s checks of its stores, made where the suite opens them, before any work.

``ragmig certify`` checks its arguments in its own process; the stores are checked by its child pytest
session as that session starts, before any test runs (``harness.plugin``, ``--ragmig-preflight``): the
child opens each store once for the whole run — a Qdrant Edge shard is loaded once, not once to be
counted and again to be scanned (1.0–2.6 s measured for a 1M-record pair; minutes, at that rate, for
100M). What a user can get wrong there ends as one line that the child writes to the preflight file
(``write_failure``) and the parent raises again (``read_failure``): exit 2, no report written, whichever
process found it.

Checked: each store exists and answers (its schema and count); ``--queries`` and ``--k`` are at most what
the source holds (the defaults, 200 and 10, are fitted to it); a query file's queries can be answered by
the source (dimension, sparse vectors, namespaces).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness import errors
from harness.errors import HarnessError, StoreUnreachableError, UsageError
from harness.redact import redact_text
from harness.stores import open_store, parse_store_uri
from harness.stores.base import VectorStore
from harness.verify.queries import QuerySet

__all__ = [
    "DEFAULT_K",
    "DEFAULT_QUERIES",
    "Preflight",
    "bounded",
    "check_queries",
    "one_line",
    "preflight",
    "read_failure",
    "write_failure",
]

DEFAULT_QUERIES = 200
DEFAULT_K = 10


@dataclass(frozen=True, slots=True)
class Preflight:
    """Both stores, open and checked, and the query count and k the suite runs with."""

    source: VectorStore
    target: VectorStore
    queries: int
    k: int

    def close(self) -> None:
        """Close both stores (a store's close is idempotent: the session may have closed them already)."""
        try:
            self.source.close()
        finally:
            self.target.close()


def one_line(message: str) -> str:
    """``message`` on one line, credentials redacted."""
    return redact_text(" ".join(message.split()))


def preflight(
    source: str, target: str, queries: int | None, k: int | None, query_set: QuerySet | None = None
) -> Preflight:
    """Open and check both stores (module docstring); a ``UsageError`` (one line) when one fails. The
    stores stay open, for the run."""
    source_store, source_count = _open_checked(source, "source")
    try:
        target_store, _ = _open_checked(target, "target")
    except BaseException:
        source_store.close()
        raise
    try:
        if query_set is not None:
            try:
                check_queries(query_set, source_store, source)
            except UsageError:
                raise
            except HarnessError as exc:
                raise StoreUnreachableError(
                    one_line(f"source store {source_store.uri} cannot be read: {exc}")
                ) from None
        queries, k = bounded(queries, k, source_count)
    except BaseException:
        source_store.close()
        target_store.close()
        raise
    return Preflight(source_store, target_store, queries, k)


def bounded(queries: int | None, k: int | None, source_count: int) -> tuple[int, int]:
    """The query count and k the suite runs with: the defaults fitted to the source, or the user's values
    when the source holds that many records (``UsageError`` otherwise)."""
    if queries is None:
        queries = max(1, min(DEFAULT_QUERIES, source_count))
    elif queries > source_count:
        raise UsageError(
            f"--queries {queries:,} is more than the {source_count:,} records the source holds; "
            f"sample at most {source_count:,}"
        )
    if k is None:
        k = max(1, min(DEFAULT_K, source_count))
    elif k > source_count:
        raise UsageError(
            f"--k {k:,} is more than the {source_count:,} records the source holds; use at most {source_count:,}"
        )
    return queries, k


def _open_checked(uri: str, role: str) -> tuple[VectorStore, int]:
    """The store at ``uri``, open, with its count, after reading its schema; ``UsageError`` (one line) if
    that fails (the store is closed then)."""
    store = open_store(uri)
    try:
        if not store.exists():
            hint = (
                "; exact:// stores live inside one process, use a qdrant-edge:// or qdrant-local:// directory"
                if uri.lower().startswith("exact:")
                else ""
            )
            raise UsageError(f"{role} store {store.uri} does not exist{hint}")
        store.describe()
        return store, store.count()
    except UsageError as exc:
        store.close()
        message = str(exc)
        raise UsageError(one_line(message if message.startswith(role) else f"{role}: {message}")) from None
    except HarnessError as exc:
        store.close()
        raise StoreUnreachableError(one_line(f"{role} store {store.uri} cannot be read: {exc}")) from None
    except BaseException:
        store.close()
        raise


def check_queries(query_set: QuerySet, store: VectorStore, uri: str) -> None:
    """``UsageError`` when the source (``store``, opened from ``uri``) cannot answer the query file's queries
    (``check_against_source``, ``check_namespaces_hold_records``); a store that fails while it is asked
    raises its own error."""
    from harness.verify.queries import check_against_source, check_namespaces_hold_records

    confined = parse_store_uri(uri).options.get("namespace")
    check_against_source(query_set, store.describe(), store.uri, confined_to=confined)
    check_namespaces_hold_records(query_set, store)


def write_failure(path: Path, exc: UsageError) -> None:
    """Record a failed preflight for the parent: the error's type and its one line."""
    path.write_text(json.dumps({"error": type(exc).__name__, "message": one_line(str(exc))}) + "\n")


def read_failure(path: Path) -> UsageError | None:
    """The ``UsageError`` a child's preflight recorded at ``path`` (of the type it raised, when that is one
    of ``harness.errors``' usage errors), or None when it recorded none."""
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("message"), str):
        return None
    kind = getattr(errors, str(recorded.get("error")), UsageError)
    if not (isinstance(kind, type) and issubclass(kind, UsageError)):
        kind = UsageError
    return kind(recorded["message"])
