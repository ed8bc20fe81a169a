"""What ``ragmig migrate`` checks before its first write, so a migration that would lose data or could
never verify is refused in seconds, not after hours of copying.

- source and target are not the same store (``same_store``: one store spelled two ways included);
- the target's schema — or, for a target still to be created, the schema it would be created with —
  is compatible with the source's (``BREAKING_FIELDS``: what verification would fail as breaking drift),
  named and sparse vectors included: a target that lacks a vector the source's records carry is refused
  here, before anything is copied, rather than the copy dropping those vectors (Pinecone's
  ``sparse_values`` are compared under the name the mapping gives them, ``records.mapping_for``);
- an existing target that already holds records was created by this journal, or the user said
  ``--into-existing`` (the copy overwrites records with the same ids; the verdict names it);
- ``--resume`` names an existing journal of this same source → target.

Pure checks over ``VectorStore`` values and journal state: nothing here writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InvalidURIError, UsageError
from harness.model import CollectionSchema, Distance
from harness.records import mapping_for
from harness.stores.base import VectorStore
from harness.stores.uri import parse_store_uri, same_store, store_identity

__all__ = [
    "BREAKING_FIELDS",
    "TargetPlan",
    "check_distinct",
    "check_resume_journal",
    "check_target",
    "same_migration",
    "schema_mismatches",
]


def _named_layout(schema: CollectionSchema) -> str:
    parts = [
        f"{n} ({p.dimension}, {p.distance}, {p.datatype.lower()})" for n, p in sorted(schema.named_vectors.items())
    ]
    return "{" + ", ".join(parts) + "}"


def _sparse_layout(schema: CollectionSchema) -> str:
    parts = [f"{n} (modifier {p.modifier})" for n, p in sorted(schema.sparse_vectors.items())]
    return "{" + ", ".join(parts) + "}"


BREAKING_FIELDS: tuple[tuple[str, Callable[[CollectionSchema], Any]], ...] = (
    ("dimension", lambda s: s.dimension),
    ("distance", lambda s: str(s.distance)),
    ("datatype", lambda s: s.datatype.lower()),
    ("named vectors", _named_layout),
    ("sparse vectors", _sparse_layout),
)
"""The schema fields a target must share with its source, each (name, how to read it): the default
dense vector, and every named dense vector (dimension, distance, datatype) and sparse vector (modifier)
by name. The source's side is read under the target's names (``RecordMapping.target_schema``)."""


@dataclass(frozen=True, slots=True)
class TargetPlan:
    """What the preflight found: whether the target exists, how many records it held before the copy,
    and whether the copy goes into a non-empty target this journal did not create (``--into-existing``)."""

    exists: bool
    records_before: int
    into_existing: bool


def schema_mismatches(source: CollectionSchema, target: CollectionSchema) -> list[str]:
    """``"distance: cosine on the source, dot on the target"`` for every breaking field that differs
    (the source's vectors under the names the mapping gives them on the target)."""
    found = []
    mapped = mapping_for(source, target).target_schema(source)
    for name, read in BREAKING_FIELDS:
        theirs, ours = read(mapped), read(target)
        if theirs != ours:
            found.append(f"{name}: {theirs} on the source, {ours} on the target")
    return found


def check_distinct(source: str, target: str) -> None:
    """``UsageError`` when ``source`` and ``target`` name the same store (or overlapping ones)."""
    if same_store(source, target):
        raise UsageError(
            f"source and target are the same store ({parse_store_uri(source).redacted} and "
            f"{parse_store_uri(target).redacted}); migrating would rewrite the source: pick another --target"
        )


def same_migration(recorded: str | None, given: str) -> bool:
    """Whether a journal's recorded URI names the store ``given`` names (spelled alike or not)."""
    if recorded is None:
        return False
    try:
        return store_identity(recorded) == store_identity(given)
    except InvalidURIError:
        return recorded == given


def check_resume_journal(journal: Path) -> None:
    """``--resume`` needs a journal to resume: a missing or empty file is a mistyped path, not a new start."""
    if journal.is_dir():
        return  # the journal's own checks name it
    if not journal.exists() or journal.stat().st_size == 0:
        raise UsageError(
            f"--resume: journal {journal} does not exist{' (empty file)' if journal.exists() else ''}; "
            "check the path, or drop --resume to start a new migration"
        )


def _planned_schema(source: CollectionSchema, target_uri: str) -> CollectionSchema:
    """The schema a target created from ``source`` would get — the source's vectors under the target's
    names (``ensure_target_collection`` creates it so) — with the URI's ``distance`` option winning."""
    uri = parse_store_uri(target_uri)
    planned = dataclasses.replace(mapping_for(source, uri.scheme).target_schema(source), backend=uri.scheme)
    option = uri.options.get("distance")
    if option is None:
        return planned
    try:
        distance = Distance.parse(option)
    except ValueError as exc:
        raise InvalidURIError(f"{exc} (in the target URI)") from None
    return dataclasses.replace(planned, distance=distance)


def check_target(
    source: VectorStore,
    source_schema: CollectionSchema,
    target: VectorStore,
    *,
    created_by_journal: bool,
    into_existing: bool,
    journal: Path,
) -> TargetPlan:
    """Refuse (``UsageError``) a target that is incompatible with the source, or that already holds
    records this journal did not write there unless ``into_existing``; else say what was found."""
    if not target.exists():
        mismatches = schema_mismatches(source_schema, _planned_schema(source_schema, target.uri))
        if mismatches:
            raise UsageError(
                f"target {target.uri} would be created incompatible with source {source.uri} "
                f"({'; '.join(mismatches)}); drop the conflicting option from the target URI"
            )
        return TargetPlan(exists=False, records_before=0, into_existing=False)
    mismatches = schema_mismatches(source_schema, target.describe())
    if mismatches:
        raise UsageError(
            f"target {target.uri} is incompatible with source {source.uri} ({'; '.join(mismatches)}); "
            "nothing was copied: migrate into a new target, or recreate this one with the source's schema"
        )
    records = target.count()
    if records and not created_by_journal and not into_existing:
        raise UsageError(
            f"target {target.uri} already holds {records} records and was not created by journal {journal}; "
            "nothing was copied: migrate into a new or empty target, or pass --into-existing to copy over "
            "them (records with the same ids are overwritten)"
        )
    return TargetPlan(exists=True, records_before=records, into_existing=bool(records) and not created_by_journal)
