"""Payload edge cases end to end: real ``ragmig certify`` processes on Qdrant Edge pairs.

The source's payloads hold what a careless copy breaks (unicode text, an int 1, an int beyond 2**53, a
null, a nested object and list). The target is a sparse copy of the source (``copy_shard``) in which
each of a set of records is broken in one way — and one record only has its keys reordered, which must
not count. ``tests/adversarial/test_certify_records.py`` has the rows this file does not repeat (bool →
int, int → float, a large int off by one upwards, a nested list shortened, top-level key order with a
one-ulp float).

Unicode normalisation: NFC "é" (U+00E9) and NFD "é" (U+0065 U+0301) are the same text to a reader but
different strings to Qdrant — a keyword filter or a full-text match on one does not find the other — so
a target holding the other normal form differs (``harness.records.values_equal`` compares code points).
"""

from __future__ import annotations

import json
import subprocess
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.datasets import synthetic_corpus
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.records import field_diffs, values_equal
from harness.stores import open_store
from harness.stores.qdrant_edge import copy_shard
from tests.adversarial.test_certify_records import RAGMIG, edge_uri, rewrite

N, DIM = 120, 16
TEXT = unicodedata.normalize("NFC", "café naïve — Zürich")
BIG = 2**53 + 1  # the first int a float64 cannot hold: 9007199254740993 → 9007199254740992.0
Payload = dict[str, Any]


def source_payload(i: int) -> Payload:
    return {"text": TEXT, "flag": 1, "big": BIG, "note": None, "tags": ["a", "b"], "meta": {"a": i, "b": [1, 2]}}


def removed(key: str) -> Callable[[Payload], Payload]:
    return lambda p: {k: v for k, v in p.items() if k != key}


def setting(key: str, value: Any) -> Callable[[Payload], Payload]:
    return lambda p: {**p, key: value}


BROKEN: dict[int, tuple[str, Callable[[Payload], Payload], str, str]] = {
    30: ("a key removed", removed("tags"), "tags", "removed"),
    31: ("a key added", setting("extra", "x"), "extra", "added"),
    32: ("nested list lengthened", setting("tags", ["a", "b", "c"]), "tags", "changed"),
    33: ("int 1 → true", setting("flag", True), "flag", "changed"),
    34: ("int beyond 2**53 → float", setting("big", float(BIG)), "big", "changed"),
    35: ("int beyond 2**53 off by one downwards", setting("big", BIG - 1), "big", "changed"),
    36: ("NFC text → NFD", setting("text", unicodedata.normalize("NFD", TEXT)), "text", "changed"),
    37: ("a nested key removed", lambda p: {**p, "meta": {"a": p["meta"]["a"]}}, "meta", "changed"),
    38: ("null → key removed", removed("note"), "note", "removed"),
    39: ("null → empty string", setting("note", ""), "note", "changed"),
}
"""record → (what, edit, field reported, change reported)."""


def reordered(p: Payload) -> Payload:
    """The same payload with every key order reversed, nested objects included."""
    return {
        k: ({kk: vv for kk, vv in reversed(v.items())} if isinstance(v, dict) else v) for k, v in reversed(p.items())
    }


@pytest.fixture(scope="module")
def payload_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("payload-edges") / "source"
    store = open_store(edge_uri(directory))
    store.create(CollectionSchema(DIM, Distance.COSINE))
    for batch in synthetic_corpus(N, DIM, seed=17, batch_size=N):
        store.upsert(RecordBatch(batch.ids, batch.vectors, tuple(source_payload(i) for i in range(len(batch)))))
    store.close()
    return directory


def certify(source: Path, target: Path, out: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [str(RAGMIG), "certify", "--source", edge_uri(source), "--target", edge_uri(target), "--queries", "10",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.exists(), done.stdout + done.stderr
    return done.returncode, json.loads(out.read_text())


def edit_payloads(target: Path, edits: dict[int, Callable[[Payload], Payload]], mp: pytest.MonkeyPatch) -> None:
    for record, edit in edits.items():
        rewrite(target, [record], lambda v, p, edit=edit: (v, edit(p)), mp)


def failing(verdict: dict[str, Any]) -> set[str]:
    assert not [c["id"] for c in verdict["checks"] if c["status"] == "error"]
    return {c["id"] for c in verdict["checks"] if c["status"] == "fail"}


def test_each_broken_payload_is_found_and_reordered_keys_are_not(
    payload_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "target"
    copy_shard(payload_source, target)
    edit_payloads(target, {**{r: e for r, (_, e, _, _) in BROKEN.items()}, 41: reordered}, monkeypatch)
    code, verdict = certify(payload_source, target, tmp_path / "verdict.json")
    # The broken fields also answer the filters generated from them differently: quality.filtered fails too.
    assert (verdict["verdict"], code, failing(verdict)) == ("fail", 1, {"parity.payloads", "quality.filtered"})
    payloads = next(c for c in verdict["checks"] if c["id"] == "parity.payloads")
    assert sorted(payloads["details"]["mismatched"]) == sorted(BROKEN)  # record 41 (reordered) is not there
    found = {(d["id"], d["field"], d["change"]) for d in payloads["details"]["sample"]}
    assert found == {(r, name, change) for r, (_, _, name, change) in BROKEN.items()}


def test_a_target_with_only_key_order_changed_passes(
    payload_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "target"
    copy_shard(payload_source, target)
    edit_payloads(target, {r: reordered for r in (3, 4, 5)}, monkeypatch)
    code, verdict = certify(payload_source, target, tmp_path / "verdict.json")
    assert (verdict["verdict"], code, failing(verdict)) == ("pass", 0, set())


@pytest.mark.parametrize("record", sorted(BROKEN), ids=[BROKEN[r][0] for r in sorted(BROKEN)])
def test_the_record_comparison_agrees_with_certify(record: int) -> None:
    _, edit, name, change = BROKEN[record]
    source = source_payload(record)
    target = edit(source_payload(record))
    assert not values_equal(source, target)
    assert field_diffs(source, target) == [(name, change)]
    assert values_equal(source, reordered(source)) and field_diffs(source, reordered(source)) == []


def test_nfc_and_nfd_are_different_strings_with_the_same_text() -> None:
    nfd = unicodedata.normalize("NFD", TEXT)
    assert nfd != TEXT and unicodedata.normalize("NFC", nfd) == TEXT
    assert not values_equal(TEXT, nfd) and not values_equal({"t": [TEXT]}, {"t": [nfd]})
