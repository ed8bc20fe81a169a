"""Record identity's keys, pinned: int ids through splitmix64's finaliser (a bijection: two int ids never
share a key), string ids through Python's own hash, namespaced records through the hash of the pair,
and the text key's exact spelling (a stored format: journals and baselines hold it)."""

from __future__ import annotations

import numpy as np

from harness.model import RecordBatch
from harness.records import RecordId, batch_keys, batch_record_ids, record_key, record_keys64

MASK = 2**64 - 1


def splitmix64_finaliser(x: int) -> int:
    """The reference: Steele, Lea and Flood's splitmix64 output function, on Python ints."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & MASK
    return x ^ (x >> 31)


def as_u64(value: int) -> int:
    return value & MASK


def test_int_ids_are_keyed_by_the_splitmix64_finaliser() -> None:
    ids = [0, 1, 2, 7, 12345, 2**31, 2**32 + 1, 2**53 + 1, 2**63, 2**63 + 5, MASK]
    assert record_keys64(ids).tolist() == [splitmix64_finaliser(i) for i in ids]
    assert record_keys64([1]).tolist() == [6238072747940578789]  # stored in no file, but never changes
    many = record_keys64(list(range(100_000)))
    assert len(np.unique(many)) == 100_000


def test_string_and_mixed_ids_are_keyed_by_pythons_hash_and_ints_by_the_finaliser() -> None:
    keys = record_keys64(["doc-1", 5, "5", 2**63 + 1])
    assert keys.tolist() == [
        as_u64(hash("doc-1")),
        splitmix64_finaliser(5),
        as_u64(hash("5")),
        splitmix64_finaliser(2**63 + 1),
    ]
    assert keys.dtype == np.uint64


def test_records_in_a_namespace_are_keyed_by_the_pair() -> None:
    keys = record_keys64(["a", "b", 1, "a"], ["ns", "ns", "ns", ""])
    assert keys.tolist() == [
        as_u64(hash(("ns", "a"))),
        as_u64(hash(("ns", "b"))),
        as_u64(hash(("ns", 1))),
        as_u64(hash("a")),
    ]
    assert len(set(keys.tolist())) == 4
    assert record_keys64([1, 2], ["", ""]).tolist() == [splitmix64_finaliser(1), splitmix64_finaliser(2)]


def test_text_keys_are_compact_json() -> None:
    assert record_key(5, "ns") == '["ns",5]'
    assert record_key("doc 1", "tenant-b") == '["tenant-b","doc 1"]'
    assert RecordId("ns", "a").key == '["ns","a"]'


def test_a_batch_without_namespaces_takes_the_default_one() -> None:
    batch = RecordBatch.build([1, "b"], np.eye(2))
    assert batch_record_ids(batch) == [RecordId("", 1), RecordId("", "b")]
    assert batch_keys(batch) == ['["",1]', '["","b"]']
    assert batch_keys(batch, "docs") == ['["docs",1]', '["docs","b"]']
    assert batch_record_ids(batch, "docs") == [RecordId("docs", 1), RecordId("docs", "b")]
