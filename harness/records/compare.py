"""The one comparison: does the target hold the record the source holds? (README, "Comparison semantics")

Payloads are compared as the JSON values they are stored as, type-exact:
- int ≠ float (``5`` vs ``5.0``: on Qdrant an exact-match filter for 5 misses a stored 5.0), bool ≠ int,
  ``"5"`` ≠ 5; key order is irrelevant, list order is not.
- Strings are compared code point by code point, never Unicode-normalised: NFC "é" and NFD "é" are the
  same text but different strings, and a keyword filter for one does not match the other.
- Two floats within ``FLOAT_REL_TOLERANCE`` of each other are equal: Qdrant parses JSON floats with
  serde_json's fast path, which can round a double by one ulp.
- Pinecone → Qdrant: the target must hold exactly what the mapping writes (``RecordMapping.expected_payload``:
  Pinecone's doubles with integral values become ints); the mapping fields are ``parity.mapping``'s.

Vectors are equal when their canonical forms — unit-normalised when the target ranks by cosine (Qdrant
stores cosine vectors normalised), raw for dot, euclid and manhattan — differ by at most the tolerance
in every component. A vector holding NaN or ±Inf equals nothing, itself included.

Named dense vectors are compared like the default one, each after its own distance's canonical form
(the target's distance for that name); a record must hold the same named vectors on both sides.

Sparse vectors are equal when they hold the same indices — in any order — with values within the
tolerance of each other; a record without a sparse vector equals one whose sparse vector has no entries.
Pinecone's ``sparse_values`` are compared with the target's ``sparse_vector`` (the mapping's names).

Parity hashes the same canonical forms (``payload_digests``, ``vector_digests``: vectors quantised to
multiples of the tolerance, a whole batch at a time in numpy; ``named_digests``, ``sparse_digests``), so
equal records have equal digests and only records whose digests differ need the exact comparison
(``records_equal``). The digests are keyed by a random ``digest_key`` drawn per comparison: two different
records share one with negligible probability (a vector's lanes all agree with probability at most 2^-128
before they are folded into 16 bytes; a payload's digest is a keyed 64-bit hash) that no one can raise by
choosing what a store holds, and digests are compared only between tables one comparison built.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from harness.model import CollectionSchema, DenseColumn, Distance, Payload, RecordBatch, SparseColumn
from harness.records.identity import mix64
from harness.records.mapping import IDENTITY, RecordMapping, mapping_for

__all__ = [
    "FLOAT_REL_TOLERANCE",
    "Comparison",
    "RecordParts",
    "field_diffs",
    "non_finite_rows",
    "record_fingerprints",
    "values_equal",
]

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

FLOAT_REL_TOLERANCE = 1e-12
"""Floats this close (relative) are one value: Qdrant's JSON parsing can round a double by an ulp."""

# msgspec's encoder (sorted keys) is several times faster than json's. It writes NaN and ±Inf as null,
# so a payload whose encoding holds a null is encoded again by json, which keeps them apart from null.
_FAST_JSON = msgspec.json.Encoder(order="sorted", enc_hook=repr)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), check_circular=False, default=repr)
# Quantised rows are hashed as the narrowest type that holds them; beyond int64, as float64.
_QUANT_BOUNDS = np.array([2.0**15 - 1, 2.0**31 - 1, 2.0**62])
_QUANT_TYPES = (np.int16, np.int32, np.int64, np.float64)
_QUANT_BITS = (15, 31)  # |value| < 2^bits in the int16 and int32 groups: their digest is multilinear (below)
_TINY_NORM = 1e-15  # below this a float32 norm has lost precision to underflow
# A multilinear digest of a quantised row keeps drawing 64-bit lanes until two different rows share every
# lane with probability at most 2^-DIGEST_BITS; below MIN_KEY_BITS of key per lane, blake2b is used instead.
DIGEST_BITS = 128
MIN_KEY_BITS = 8
_EXACT_BITS = 52  # float64 adds integers below 2^53 exactly, in any order


# -- payload values -----------------------------------------------------------------------------------
def _json_text(value: Any) -> str:
    return _ENCODER.encode(value)


def values_equal(source: Any, target: Any) -> bool:
    """Two payload values are the same JSON value: same type (int, float, bool, string, null, list,
    object), ints exactly equal whatever their size, floats within ``FLOAT_REL_TOLERANCE`` (a non-finite
    float only equals the same non-finite float), lists element by element in order, objects key by key."""
    if isinstance(source, bool) or isinstance(target, bool):
        return type(source) is type(target) and source == target
    if isinstance(source, int) or isinstance(target, int):
        return isinstance(source, int) and isinstance(target, int) and source == target
    if isinstance(source, float) or isinstance(target, float):
        if not (isinstance(source, float) and isinstance(target, float)):
            return False
        if not (math.isfinite(source) and math.isfinite(target)):
            return repr(source) == repr(target)
        return math.isclose(source, target, rel_tol=FLOAT_REL_TOLERANCE, abs_tol=0.0)
    if isinstance(source, list | tuple) or isinstance(target, list | tuple):
        return (
            isinstance(source, list | tuple)
            and isinstance(target, list | tuple)
            and len(source) == len(target)
            and all(values_equal(a, b) for a, b in zip(source, target, strict=True))
        )
    if isinstance(source, Mapping) or isinstance(target, Mapping):
        return (
            isinstance(source, Mapping)
            and isinstance(target, Mapping)
            and source.keys() == target.keys()
            and all(values_equal(source[k], target[k]) for k in source)
        )
    if isinstance(source, str) or isinstance(target, str) or source is None or target is None:
        return type(source) is type(target) and source == target
    return _json_text(source) == _json_text(target)


def field_diffs(source: Mapping[str, Any], target: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The top-level fields whose values differ, as (field, "changed" | "removed" | "added"), sorted."""
    out = []
    for name in sorted(set(source) | set(target), key=str):
        in_s, in_t = name in source, name in target
        if in_s and in_t and values_equal(source[name], target[name]):
            continue
        out.append((name, "changed" if in_s and in_t else "removed" if in_s else "added"))
    return out


# -- digests --------------------------------------------------------------------------------------------
def _digests(chunks: Iterable[Any]) -> U64:
    """(n, 2) uint64: the first 16 bytes of each chunk's blake2b digest.

    The default-parameter constructor is the cheapest per call (keyword arguments cost as much as
    hashing a short payload), and a prefix of blake2b-512 is as good a 128-bit digest as blake2b-128.
    """
    raw = b"".join([h.digest() for h in map(hashlib.blake2b, chunks)])
    return np.ascontiguousarray(np.frombuffer(raw, np.uint64).reshape(-1, 8)[:, :2])


@lru_cache(maxsize=64)
def _multilinear_keys(key: int, dimension: int, value_bits: int) -> tuple[F64, U64] | None:
    """Keys of the multilinear digest of rows of ``dimension`` integers below 2^value_bits in magnitude:
    (dimension, lanes) float64 integers below 2^key_bits, and (lanes, 2) odd uint64 folding multipliers;
    None when a float64 sum could not hold a lane exactly with at least ``MIN_KEY_BITS`` of key."""
    key_bits = _EXACT_BITS - value_bits - max(dimension - 1, 1).bit_length()
    if key_bits < MIN_KEY_BITS:
        return None
    lanes = -(-DIGEST_BITS // key_bits)
    rng = np.random.default_rng([key, dimension, value_bits])
    weights = rng.integers(0, 1 << key_bits, size=(dimension, lanes)).astype(np.float64)
    fold = rng.integers(0, np.iinfo(np.uint64).max, size=(lanes, 2), dtype=np.uint64, endpoint=True) | np.uint64(1)
    return weights, fold


def _multilinear_digests(rows: F64 | npt.NDArray[np.float32], keys: tuple[F64, U64]) -> U64:
    """(n, 2) uint64 digests of integer-valued rows. Each lane is the exact integer sum of the row's values
    times random integer weights (one matrix product; no rounding, so the sum order does not matter); for
    two different rows all lanes agree with probability at most 2^-DIGEST_BITS over the weights. The lanes
    are scrambled by splitmix64's finaliser (a bijection: lanes that differ stay different, and a difference
    made of high powers of two no longer vanishes mod 2^64), then folded into two 64-bit words by random
    odd multipliers (mod 2^64)."""
    weights, fold = keys
    lanes = np.asarray(rows, dtype=np.float64) @ weights
    return mix64(lanes.astype(np.int64).view(np.uint64)) @ fold


def _text_digests(texts: Sequence[bytes]) -> U64:
    """(n, 2) uint64 per text: Python's keyed hash (SipHash) of it, and its length. The hash key is the
    process's, which a Dask cluster's workers share with it (``Engine.check_same_hashing``)."""
    n = len(texts)
    out = np.empty((n, 2), dtype=np.uint64)
    out[:, 0] = np.fromiter(map(hash, texts), dtype=np.int64, count=n).view(np.uint64)
    out[:, 1] = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    return out


def _slow_json(payload: Mapping[str, Any]) -> bytes:
    try:
        return _ENCODER.encode(payload).encode()
    except (TypeError, ValueError):  # e.g. keys json cannot sort: still one text per payload
        return repr(sorted(payload.items(), key=lambda kv: str(kv[0]))).encode()


def _salted_json(payloads: Sequence[Mapping[str, Any]], salt: bytes) -> list[bytes]:
    """``salt`` followed by each payload's canonical JSON: sorted keys, type-exact (5 and 5.0 differ), NaN
    apart from null. JSON holds no raw newline (a string escapes it), so every payload is encoded as one line
    of one text in one call, and the lines are salted and cut apart in two bulk byte operations."""
    try:
        text = _FAST_JSON.encode_lines(payloads)
    except (TypeError, ValueError, msgspec.EncodeError):  # e.g. non-string keys: the general path
        return [salt + _slow_json(p) for p in payloads]
    if b"null" not in text:
        return (salt + text.replace(b"\n", b"\n" + salt)).split(b"\n")[:-1]  # the text ends with a newline
    # null, or a non-finite float msgspec wrote as null: those payloads are encoded again by json
    parts = text.split(b"\n")[:-1]
    return [salt + (_slow_json(p) if b"null" in part else part) for p, part in zip(payloads, parts, strict=True)]


def record_fingerprints(batch: RecordBatch) -> list[bytes]:
    """A 16-byte fingerprint of each record of ``batch`` (float32 vector bytes + sorted-key JSON of the
    payload): any change at all changes it. For watching one store over time (the orphan watch), not for
    comparing two stores. A stored format (journaled baselines): it never changes."""
    vectors = np.ascontiguousarray(batch.vectors, dtype=np.float32)
    out = []
    for row, payload in zip(vectors, batch.payloads, strict=True):
        h = hashlib.blake2b(row.tobytes(), digest_size=16)
        h.update(json.dumps(payload, sort_keys=True, default=str).encode())
        out.append(h.digest())
    return out


def non_finite_rows(vectors: npt.ArrayLike) -> Bools:
    """Per row: True when the vector holds NaN or ±Inf."""
    v = np.asarray(vectors)
    if v.ndim != 2:
        v = v.reshape(len(v), -1)
    return ~np.isfinite(v).all(axis=1)


SparseRow = tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class RecordParts:
    """One record as the comparison sees it: its default vector and payload, the named dense vectors it
    has and the sparse vectors it holds entries in (each side under its own names)."""

    vector: npt.NDArray[Any]
    payload: Mapping[str, Any]
    named: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    sparse: Mapping[str, SparseRow] = field(default_factory=dict)

    @classmethod
    def of(cls, batch: RecordBatch, row: int) -> RecordParts:
        """Record ``row`` of ``batch``."""
        named = {
            name: column.vectors[row]
            for name, column in batch.named.items()
            if column.present is None or column.present[row]
        }
        sparse = {}
        for name, sparse_column in batch.sparse.items():
            indices, values = sparse_column.row(row)
            if len(indices):
                sparse[name] = (indices, values)
        return cls(batch.vectors[row], batch.payloads[row], named, sparse)


def _as_parts(record: RecordParts | tuple[npt.ArrayLike, Mapping[str, Any]]) -> RecordParts:
    if isinstance(record, RecordParts):
        return record
    return RecordParts(np.asarray(record[0]), record[1])


def _combine_digests(parts: Sequence[U64], n: int) -> U64:
    """One (n, 2) digest per row from several (n, w) parts (rows of zeros: nothing there)."""
    if len(parts) == 1 and parts[0].shape[1] == 2:
        return parts[0]
    stacked = np.ascontiguousarray(np.concatenate(parts, axis=1))
    out = _digests(stacked.view(f"V{stacked.shape[1] * 8}").ravel())
    out[~stacked.any(axis=1)] = 0  # nothing in any part: the same digest as a batch without them
    return out


def _name_key(name: str) -> npt.NDArray[np.uint64]:
    """16 bytes standing for a vector name in combined digests."""
    return np.frombuffer(hashlib.blake2b(name.encode()).digest()[:16], np.uint64)


# -- the comparison -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Comparison:
    """How the records of one source → target pair are compared (see the module docstring).

    ``normalise``: the target ranks by cosine, so vectors are compared unit-normalised. ``tolerance``:
    the largest difference of one canonical vector component (or sparse value) that still counts as
    equal. ``named_normalise``: (name, normalise) of each named dense vector either schema declares;
    ``sparse_names``: the target names of the sparse vectors either schema declares.
    """

    mapping: RecordMapping = IDENTITY
    normalise: bool = False
    tolerance: float = 1e-4
    named_normalise: tuple[tuple[str, bool], ...] = ()
    sparse_names: tuple[str, ...] = ()
    digest_key: int = field(default_factory=lambda: secrets.randbits(63), compare=False, repr=False)

    @classmethod
    def for_schemas(cls, source: CollectionSchema, target: CollectionSchema, tolerance: float) -> Comparison:
        """The comparison for this pair: the mapping from the two backends, the target's distance
        deciding each vector's canonical form (the source's for a named vector the target lacks)."""
        named = tuple(
            (name, (target.named_vectors.get(name) or source.named_vectors[name]).distance is Distance.COSINE)
            for name in sorted(set(source.named_vectors) | set(target.named_vectors))
        )
        mapping = mapping_for(source, target)
        sparse = sorted({mapping.target_sparse_name(n) for n in source.sparse_vectors} | set(target.sparse_vectors))
        return cls(mapping, target.distance is Distance.COSINE, tolerance, named, tuple(sparse))

    def for_named(self, name: str) -> Comparison:
        """The comparison of named dense vector ``name``: unit-normalised when its distance is cosine; a
        name neither schema declares is compared raw."""
        normalise = dict(self.named_normalise).get(name, False)
        return self if normalise == self.normalise else replace(self, normalise=normalise)

    # -- payloads ---------------------------------------------------------------------------------------
    def payload_forms(
        self, source: Mapping[str, Any], target: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """(what the target must hold, the part of the target's payload compared with it)."""
        return self.mapping.expected_payload(source), self.mapping.held_payload(target)

    def payloads_equal(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        """True when the target's payload is the one the source's maps to."""
        expected, held = self.payload_forms(source, target)
        return values_equal(expected, held)

    def payload_digests(self, payloads: Sequence[Payload], *, target_side: bool) -> U64:
        """(n, 2) uint64: a keyed hash of each payload's canonical JSON (of its mapped form on the source
        side, without the mapping fields on the target side) salted by ``digest_key``, and its length.

        The salt is drawn per comparison, so whoever wrote a store's data cannot have chosen payloads whose
        digests collide."""
        forms: Sequence[Mapping[str, Any]] = payloads
        if self.mapping.pinecone_to_qdrant:
            form = self.mapping.held_payload if target_side else self.mapping.expected_payload
            forms = [form(p) for p in payloads]
        return _text_digests(_salted_json(forms, b"%016x" % self.digest_key))

    # -- vectors ----------------------------------------------------------------------------------------
    def canonical_vectors(self, vectors: npt.ArrayLike) -> F64:
        """Float64 canonical vectors (unit-normalised when the target ranks by cosine; a zero vector
        stays zero). Non-finite rows stay non-finite."""
        v = np.asarray(vectors, dtype=np.float64)
        if v.ndim == 1:
            v = v[None]
        if self.normalise:
            with np.errstate(invalid="ignore", over="ignore"):
                norms = np.sqrt(np.einsum("ij,ij->i", v, v))
                norms[norms == 0] = 1.0
                v = v / norms[:, None]
        return v

    def _quantised(self, vectors: npt.ArrayLike) -> tuple[F64 | npt.NDArray[np.float32], npt.NDArray[np.intp], Bools]:
        """Canonical vectors as multiples of the tolerance (rint), the narrowest hash type group of each
        row, and which rows are non-finite (their quantised values are zeroed: they equal nothing)."""
        v = np.asarray(vectors)
        if v.ndim == 1:
            v = v[None]
        n = len(v)
        if self.normalise:
            v32 = np.asarray(v, dtype=np.float32)
            with np.errstate(invalid="ignore", over="ignore"):
                norms = np.sqrt(np.einsum("ij,ij->i", v32, v32))
                suspect = ~np.isfinite(norms)  # NaN/Inf — or float32 overflow of a huge finite vector
                bad = np.zeros(n, dtype=bool)
                if suspect.any():
                    bad[suspect] = non_finite_rows(v32[suspect])
                # Squared in float32, a huge vector overflows and a tiny one underflows (to a zero norm):
                # those rows are normalised in float64, as ``canonical_vectors`` does.
                precise = (suspect & ~bad) | (norms < _TINY_NORM)
                norms[norms == 0] = 1.0
                q: Any = v32 * (1.0 / (norms * np.float32(self.tolerance)))[:, None]
                np.rint(q, out=q)
            if precise.any():
                q[precise] = np.rint(self.canonical_vectors(v[precise]) / self.tolerance)
            if bad.any():
                q[bad] = 0.0
            if 1.0 / self.tolerance < _QUANT_BOUNDS[0] - 1:  # every component of a unit vector fits int16
                groups = np.zeros(n, dtype=np.intp)
            else:
                peak = np.abs(q).max(axis=1) if q.shape[1] else np.zeros(n)
                groups = np.searchsorted(_QUANT_BOUNDS, peak)
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                q = np.rint(np.asarray(v, dtype=np.float64) / self.tolerance)
                peak = np.abs(q).max(axis=1) if q.shape[1] else np.zeros(n)
            bad = ~np.isfinite(peak)
            if bad.any():
                bad = non_finite_rows(v)
                q[bad] = 0.0
                peak = np.where(bad, 0.0, peak)
            groups = np.searchsorted(_QUANT_BOUNDS, peak)
        return q, groups, bad

    def vector_digests(self, vectors: npt.ArrayLike) -> tuple[U64, Bools]:
        """(n, 2) uint64 digest of each canonical vector quantised to multiples of the tolerance, and per
        row whether it holds NaN or ±Inf (such a row's digest means nothing: compare it exactly).

        Each row is digested by the narrowest integer group that holds it (int16 for unit vectors), so a
        row's digest depends on that row alone: rows of the int16 and int32 groups by the multilinear digest
        keyed by ``digest_key`` (one matrix product a batch, ``_multilinear_digests``), wider rows by
        blake2b-128 of their bytes. Unit vectors are quantised in float32 (their quotients stay far below
        float32's integer precision), raw vectors in float64.
        """
        v = np.asarray(vectors)
        n = len(v)
        out = np.empty((n, 2), dtype=np.uint64)
        if n == 0:
            return out, np.zeros(0, dtype=bool)
        if v.ndim == 2 and v.shape[1] == 0:  # no default vector (named or sparse vectors only)
            out[:] = 0
            return out, np.zeros(n, dtype=bool)
        q, groups, bad = self._quantised(v)
        present = np.unique(groups).tolist() if groups.any() else [0]
        for group in present:
            rows = slice(None) if len(present) == 1 else np.flatnonzero(groups == group)
            bits = _QUANT_BITS[group] if group < len(_QUANT_BITS) else None
            keys = None if bits is None else _multilinear_keys(self.digest_key, q.shape[1], bits)
            if keys is not None:
                out[rows] = _multilinear_digests(q[rows], keys)
                continue
            part = np.ascontiguousarray(q[rows].astype(_QUANT_TYPES[group]))
            out[rows] = _digests(part.view(f"V{part.shape[1] * part.itemsize}").ravel())
        return out, bad

    def vector_differences(self, source: npt.ArrayLike, target: npt.ArrayLike) -> F64:
        """Per row pair: the largest absolute difference of a canonical component (inf for another
        dimension, NaN when either side is non-finite)."""
        a, b = np.asarray(source), np.asarray(target)
        a, b = (a[None] if a.ndim == 1 else a), (b[None] if b.ndim == 1 else b)
        if a.shape != b.shape:
            return np.full(max(len(a), len(b)), np.inf)
        if a.shape[1] == 0:
            return np.zeros(len(a))
        out = np.full(len(a), np.nan)
        finite = ~(non_finite_rows(a) | non_finite_rows(b))
        if finite.any():
            with np.errstate(over="ignore", invalid="ignore"):
                diff = np.abs(self.canonical_vectors(a[finite]) - self.canonical_vectors(b[finite])).max(axis=1)
            out[finite] = diff
        return out

    def vectors_equal(self, source: npt.ArrayLike, target: npt.ArrayLike) -> Bools:
        """Per row pair: equal canonical vectors — every component within the tolerance, or the same
        quantised form (what the digests hash; the two differ only by float32 rounding at the
        boundary). Never equal when either side holds NaN or ±Inf, or the dimensions differ."""
        a, b = np.asarray(source), np.asarray(target)
        a, b = (a[None] if a.ndim == 1 else a), (b[None] if b.ndim == 1 else b)
        if a.shape != b.shape:
            return np.zeros(max(len(a), len(b)), dtype=bool)
        qa, _, bad_a = self._quantised(a)
        qb, _, bad_b = self._quantised(b)
        finite = ~(bad_a | bad_b)
        with np.errstate(invalid="ignore"):
            close = self.vector_differences(a, b) <= self.tolerance
        same = (qa == qb).all(axis=1)
        return finite & (close | same)

    # -- named dense vectors ----------------------------------------------------------------------------
    def named_digests(self, named: Mapping[str, DenseColumn], n: int) -> tuple[U64 | None, Bools]:
        """(n, 2) uint64 per row over every named vector the row has (name and canonical vector), and
        per row whether one of them holds NaN or ±Inf. None when the batch has no named vectors; a row
        with none gets zeros, so a side without named vectors compares as zeros."""
        bad = np.zeros(n, dtype=bool)
        if not named:
            return None, bad
        parts = []
        for name in sorted(named):
            column = named[name]
            digests, non_finite = self.for_named(name).vector_digests(column.vectors)
            present = column.present_rows()
            part = np.zeros((n, 4), dtype=np.uint64)
            part[present, :2] = _name_key(name)
            part[present, 2:] = digests[present]
            parts.append(part)
            bad |= non_finite & present
        return _combine_digests(parts, n), bad

    def named_differences(self, source: RecordParts, target: RecordParts) -> list[str]:
        """The named dense vectors that differ between a source record and its target record: held by
        one side only, or not equal after that vector's canonical form."""
        out = []
        for name in sorted(set(source.named) | set(target.named)):
            a, b = source.named.get(name), target.named.get(name)
            if a is None or b is None or not bool(self.for_named(name).vectors_equal(a, b)[0]):
                out.append(name)
        return out

    # -- sparse vectors ---------------------------------------------------------------------------------
    def sparse_digests(
        self, sparse: Mapping[str, SparseColumn], n: int, *, target_side: bool
    ) -> tuple[U64 | None, Bools]:
        """(n, 2) uint64 per row over its sparse vectors (target name, indices in ascending order, values
        quantised to multiples of the tolerance), and per row whether a value is NaN or ±Inf. A row
        without entries gets zeros; None when the batch has no sparse vectors (zeros for every row).

        A row whose values a digest cannot stand for — NaN or ±Inf (which equal nothing, not even
        themselves), or a value too large to quantise (beyond 2^62 tolerances) — gets a digest of its own
        side and row that equals no digest of the other side, so parity always compares it exactly."""
        bad = np.zeros(n, dtype=bool)
        unsure = np.zeros(n, dtype=bool)
        if not sparse:
            return None, bad
        named = {(name if target_side else self.mapping.target_sparse_name(name)): c for name, c in sparse.items()}
        parts = []
        for name in sorted(named):
            column = named[name].canonical()
            with np.errstate(invalid="ignore", over="ignore"):
                quantised = np.rint(column.values.astype(np.float64) / self.tolerance)
            finite = np.isfinite(quantised)
            representable = finite & (np.abs(quantised) < _QUANT_BOUNDS[-1])  # int64 holds it, as for dense rows
            if not representable.all():
                rows = np.repeat(np.arange(n), column.row_lengths())
                bad[rows[~finite]] = True
                unsure[rows[~representable]] = True
                quantised[~representable] = 0.0
            q = quantised.astype(np.int64)
            ends = column.indptr.tolist()
            prefix = name.encode() + b"\x00"
            digests = np.zeros((n, 2), dtype=np.uint64)
            rows_with = np.flatnonzero(column.row_lengths())
            if len(rows_with):
                chunks = [
                    prefix + column.indices[ends[r] : ends[r + 1]].tobytes() + q[ends[r] : ends[r + 1]].tobytes()
                    for r in rows_with.tolist()
                ]
                digests[rows_with] = _digests(chunks)
            parts.append(digests)
        combined = _combine_digests(parts, n)
        if unsure.any():
            side = b"target" if target_side else b"source"
            rows_unsure = np.flatnonzero(unsure)
            combined[rows_unsure] = _digests(
                [b"\xffunsure\x00" + side + int(r).to_bytes(8, "little") for r in rows_unsure]
            )
        return combined, bad

    def sparse_differences(self, source: RecordParts, target: RecordParts) -> list[str]:
        """The target names of the sparse vectors that differ between a source record and its target
        record: not the same indices (order aside), or a value further apart than the tolerance (NaN and
        ±Inf equal nothing). Absent and without entries are the same."""
        mapped = {self.mapping.target_sparse_name(name): row for name, row in source.sparse.items()}
        out = []
        for name in sorted(set(mapped) | set(target.sparse)):
            if not _sparse_rows_equal(mapped.get(name), target.sparse.get(name), self.tolerance):
                out.append(name)
        return out

    # -- records ----------------------------------------------------------------------------------------
    def records_equal(
        self,
        source: RecordParts | tuple[npt.ArrayLike, Mapping[str, Any]] | None,
        target: RecordParts | tuple[npt.ArrayLike, Mapping[str, Any]] | None,
    ) -> bool:
        """A source record and its target record (``RecordParts``, or (vector, payload)): equal in every
        part — default vector, payload, named and sparse vectors — or both absent."""
        if source is None or target is None:
            return source is None and target is None
        a, b = _as_parts(source), _as_parts(target)
        return (
            bool(self.vectors_equal(a.vector, b.vector)[0])
            and self.payloads_equal(a.payload, b.payload)
            and not self.named_differences(a, b)
            and not self.sparse_differences(a, b)
        )


def _sparse_rows_equal(a: SparseRow | None, b: SparseRow | None, tolerance: float) -> bool:
    """Two sparse rows: the same indices in any order, values within ``tolerance``; None is empty."""
    empty_a, empty_b = a is None or not len(a[0]), b is None or not len(b[0])
    if empty_a or empty_b:
        return empty_a and empty_b
    assert a is not None and b is not None
    if len(a[0]) != len(b[0]):
        return False
    order_a, order_b = np.argsort(a[0], kind="stable"), np.argsort(b[0], kind="stable")
    if not np.array_equal(np.asarray(a[0])[order_a], np.asarray(b[0])[order_b]):
        return False
    va = np.asarray(a[1], dtype=np.float64)[order_a]
    vb = np.asarray(b[1], dtype=np.float64)[order_b]
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.isfinite(va).all() and np.isfinite(vb).all() and (np.abs(va - vb) <= tolerance).all())
