"""Parity's digests, parity's exact comparison and the verification re-check agree on "equal", and all
three agree with the README's "Comparison semantics" table, encoded below as the oracle.

Hypothesis draws a source record and a target record — payloads of nested objects and lists, ints past
2**53 and 2**64, floats (NaN and ±Inf included), bools, unicode strings; vectors near and across the
tolerance, NaN and ±Inf on either side — the pair kind (Qdrant → Qdrant, or Pinecone → Qdrant through
the mapping) and the target's distance, then asks each path whether the target holds the source's record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.model import Check, CollectionSchema, Distance, PointId, RecordBatch, Status, Verdict
from harness.records import MAPPING_FIELDS, Comparison, RecordId, mapping_for
from harness.verify import Finding, ParityFindings, recheck_parity
from harness.verify.parity import DigestTableBuilder, diff_tables, exact_diff

DIM = 4


# -- the README table, as an oracle ---------------------------------------------------------------------
def json_kind(value: Any) -> str:
    """The JSON type a payload value is stored as (bool before int: True is an int in Python)."""
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("string", str), ("null", type(None))):
        if isinstance(value, types):
            return kind
    return "list" if isinstance(value, list | tuple) else "object"


def table_equal(a: Any, b: Any) -> bool:
    """README: same JSON type (int ≠ float, bool ≠ int); ints exact at any size; floats within 1e-12
    relative, a non-finite one equal only to itself; lists in order; objects whatever their key order."""
    if json_kind(a) != json_kind(b):
        return False
    kind = json_kind(a)
    if kind == "float":
        if math.isfinite(a) and math.isfinite(b):
            return abs(a - b) <= 1e-12 * max(abs(a), abs(b))
        return str(a) == str(b)
    if kind == "list":
        return len(a) == len(b) and all(table_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return set(a) == set(b) and all(table_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def table_mapped(value: Any) -> Any:
    """README, Pinecone → Qdrant: what the mapping writes — Pinecone's doubles with integral values
    (within Qdrant's int64 range) become ints, everything else as it is."""
    kind = json_kind(value)
    if kind == "float" and math.isfinite(value) and value == int(value) and abs(value) < 2**63:
        return int(value)
    if kind == "list":
        return [table_mapped(v) for v in value]
    if kind == "object":
        return {k: table_mapped(v) for k, v in value.items()}
    return value


def table_payloads_equal(source: dict[str, Any], target: dict[str, Any], mapped: bool) -> bool:
    if mapped:  # the target must hold what the mapping writes; its mapping fields are parity.mapping's
        return table_equal(table_mapped(source), {k: v for k, v in target.items() if k not in MAPPING_FIELDS})
    return table_equal(source, target)


def table_vectors_equal(a: np.ndarray, b: np.ndarray, cosine: bool, tolerance: float) -> bool | None:
    """README: never equal with NaN/±Inf on either side; else every component of the canonical forms
    (unit-normalised for a cosine target, raw otherwise) within the tolerance. None at the boundary,
    where float32 rounding may decide either way."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return False
    x, y = a.astype(np.float64), b.astype(np.float64)
    if cosine:
        x = x / (np.linalg.norm(x) or 1.0)
        y = y / (np.linalg.norm(y) or 1.0)
    diff = float(np.abs(x - y).max())
    if diff <= tolerance * (1 - 1e-3):
        return True
    if diff > tolerance * (1 + 1e-3) + 1e-6:
        return False
    return None


# -- strategies -----------------------------------------------------------------------------------------
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers(min_value=2**53 - 3, max_value=2**53 + 3)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-3000, 3000).map(float)  # integral floats: what Pinecone holds for every number
    | st.text(max_size=6)
)
keys = st.text(min_size=1, max_size=5).filter(lambda k: k not in MAPPING_FIELDS)
values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=8,
)
payloads = st.dictionaries(keys, values, max_size=4)


def _edit(value: Any, how: str) -> Any:
    """One small change, the kind a broken migration makes."""
    kind = json_kind(value)
    if how == "int_float" and kind == "int" and abs(value) < 2**53:
        return float(value)
    if how == "int_float" and kind == "float" and math.isfinite(value) and value == int(value):
        return int(value)
    if how == "bool_int" and kind == "bool":
        return int(value)
    if how == "ulp" and kind == "float" and math.isfinite(value):
        return math.nextafter(value, math.inf)
    if how == "off_by_one" and kind == "int":
        return value + 1
    if how == "shorten" and kind == "list" and value:
        return value[:-1]
    if how == "reverse" and kind == "list":
        return list(reversed(value))
    if kind == "list":
        return [_edit(v, how) for v in value]
    if kind == "object":
        return {k: _edit(v, how) for k, v in reversed(list(value.items()))}  # key order never matters
    return value


@st.composite
def payload_pairs(draw: st.DrawFn, mapped: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    source = draw(payloads)
    how = draw(st.sampled_from(["same", "mapped", "int_float", "bool_int", "ulp", "off_by_one", "shorten",
                                "reverse", "independent"]))  # fmt: skip
    if how == "independent":
        target = draw(payloads)
    elif how == "mapped":
        target = table_mapped(source)
    else:
        target = _edit(source, how) if how != "same" else dict(source)
    if mapped:
        target = {**target, "__id__": "doc", "__namespace__": ""}
    return source, target


components = st.floats(-10, 10, width=32)
specials = st.sampled_from([float("nan"), float("inf"), -float("inf")])


@st.composite
def vector_pairs(draw: st.DrawFn, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.array(draw(st.lists(components, min_size=DIM, max_size=DIM)), dtype=np.float32)
    how = draw(st.sampled_from(["same", "scaled", "near", "independent", "nan_source", "nan_target", "all_nan"]))
    b = a.copy()
    if how == "scaled":
        b = (a * draw(st.floats(0.25, 4.0))).astype(np.float32)
    elif how == "near":
        b[draw(st.integers(0, DIM - 1))] += draw(st.sampled_from([0.5, 0.999, 1.001, 2.0, -1.5])) * tolerance
    elif how == "independent":
        b = np.array(draw(st.lists(components, min_size=DIM, max_size=DIM)), dtype=np.float32)
    elif how == "nan_source":
        a[draw(st.integers(0, DIM - 1))] = draw(specials)
    elif how == "nan_target":
        b[draw(st.integers(0, DIM - 1))] = draw(specials)
    elif how == "all_nan":
        b[:] = np.nan
    return a, b


# -- the three paths ------------------------------------------------------------------------------------
class _Held:
    """A store holding fixed records (NaN vectors too, which real adapters refuse): ``fetch`` and ``count``."""

    def __init__(self, batch: RecordBatch) -> None:
        self.batch = batch
        self.uri = "held://"

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        return self.batch.take([i for i, pid in enumerate(self.batch.ids) if pid in set(ids)])

    def count(self) -> int:
        return len(self.batch)


def digest_path(comparison: Comparison, source: RecordBatch, target: RecordBatch) -> tuple[bool, bool]:
    """Parity's decision: equal digests mean equal; differing ones (or a non-finite vector) go to the exact
    comparison."""
    tables = []
    for batch, side in ((source, False), (target, True)):
        builder = DigestTableBuilder(comparison, target_side=side, capacity=1)
        builder.add(batch)
        tables.append(builder.finish())
    diff = diff_tables(*tables)
    assert len(diff.common_source) == 1, "the mapped source record and its target point share a key"
    exact = exact_diff(comparison, source.vectors, source.payloads, target.vectors, target.payloads)
    vectors = not diff.vector_suspects[0] or bool(exact.vectors_equal[0])
    payloads = not diff.payload_suspects[0] or not exact.payload_fields[0]
    return vectors, payloads


def exact_path(comparison: Comparison, source: RecordBatch, target: RecordBatch) -> tuple[bool, bool]:
    exact = exact_diff(comparison, source.vectors, source.payloads, target.vectors, target.payloads)
    return bool(exact.vectors_equal[0]), not exact.payload_fields[0]


def recheck_path(comparison: Comparison, source: RecordBatch, target: RecordBatch) -> bool:
    """The re-check's answer: does a finding about this record settle?"""
    src = RecordId("", source.ids[0])
    tgt = comparison.mapping.target_record(src)
    failing = Check("parity.payloads", Status.FAIL, 1, 0, "", {})
    findings = ParityFindings(comparison, (Finding("parity.payloads", "payloads", src, tgt, src.id),))
    verdict, _ = recheck_parity(Verdict(checks=(failing,)), findings, _Held(source), _Held(target), rounds=1)  # type: ignore[arg-type]
    return verdict.check("parity.payloads").status is Status.PASS


@settings(max_examples=300, deadline=None)
@given(
    mapped=st.booleans(),
    cosine=st.booleans(),
    tolerance=st.sampled_from([1e-3, 1e-4]),
    data=st.data(),
)
def test_parity_and_the_recheck_agree_with_the_readme_table(
    mapped: bool, cosine: bool, tolerance: float, data: st.DataObject
) -> None:
    source_payload, target_payload = data.draw(payload_pairs(mapped))
    source_vector, target_vector = data.draw(vector_pairs(tolerance))
    source_backend, target_backend = ("pinecone", "qdrant-edge") if mapped else ("qdrant-edge", "qdrant")
    distance = Distance.COSINE if cosine else Distance.DOT
    comparison = Comparison.for_schemas(
        CollectionSchema(DIM, distance, backend=source_backend),
        CollectionSchema(DIM, distance, backend=target_backend),
        tolerance,
    )
    assert comparison.mapping == mapping_for(source_backend, target_backend)
    source_id: PointId = "doc" if mapped else 7
    source = RecordBatch((source_id,), source_vector[None], (source_payload,), ("",) if mapped else None)
    target_id = comparison.mapping.target_record(RecordId("", source_id)).id
    target = RecordBatch((target_id,), target_vector[None], (target_payload,))

    want_payloads = table_payloads_equal(source_payload, target_payload, mapped)
    want_vectors = table_vectors_equal(source_vector, target_vector, cosine, tolerance)
    digest = digest_path(comparison, source, target)
    exact = exact_path(comparison, source, target)
    settled = recheck_path(comparison, source, target)

    assert digest == exact, "parity's digests and its exact comparison disagree"
    assert exact[1] == want_payloads, (source_payload, target_payload)
    assume(want_vectors is not None)  # on the tolerance's edge float32 rounding may go either way
    assert exact[0] == want_vectors, (source_vector, target_vector)
    assert settled == (want_vectors and want_payloads), "the re-check disagrees with parity"
