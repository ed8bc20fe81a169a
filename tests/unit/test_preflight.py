"""``harness.verify.preflight``: ragmig certify's store checks, made where the suite opens the stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.errors import CollectionNotFoundError, StoreUnreachableError, UsageError
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores import open_store
from harness.stores.qdrant_edge import _OPEN_SHARDS
from harness.verify.preflight import DEFAULT_K, DEFAULT_QUERIES, bounded, preflight, read_failure, write_failure

COUNT = 12


def create(uri: str) -> str:
    store = open_store(uri)
    store.create(CollectionSchema(4, Distance.COSINE))
    store.close()
    return uri


def held_under(root: Path) -> list[str]:
    """The Edge shards under ``root`` this process still holds."""
    return [key for key in _OPEN_SHARDS if key.startswith(str(root))]


@pytest.fixture
def edge_source(tmp_path: Path) -> str:
    uri = f"qdrant-edge://{tmp_path / 'source'}"
    store = open_store(uri)
    store.create(CollectionSchema(4, Distance.COSINE))
    rng = np.random.default_rng(3)
    store.upsert(RecordBatch.build(range(COUNT), rng.normal(size=(COUNT, 4)), [{"i": i} for i in range(COUNT)]))
    store.close()
    return uri


@pytest.mark.parametrize(
    ("queries", "k", "expected"),
    [
        (None, None, (min(DEFAULT_QUERIES, COUNT), min(DEFAULT_K, COUNT))),  # the defaults fitted to the source
        (COUNT, COUNT, (COUNT, COUNT)),  # just inside: as many as the source holds
        (1, 1, (1, 1)),
    ],
)
def test_bounds_just_inside_are_kept(queries: int | None, k: int | None, expected: tuple[int, int]) -> None:
    assert bounded(queries, k, COUNT) == expected


def test_bounds_just_outside_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=f"--queries {COUNT + 1} is more than the {COUNT} records"):
        bounded(COUNT + 1, None, COUNT)
    with pytest.raises(UsageError, match=f"--k {COUNT + 1} is more than the {COUNT} records"):
        bounded(None, COUNT + 1, COUNT)
    assert bounded(None, None, 500) == (DEFAULT_QUERIES, DEFAULT_K)  # a large source: the defaults as they are


def test_a_checked_pair_stays_open_for_the_run(edge_source: str, tmp_path: Path) -> None:
    target = create(f"qdrant-edge://{tmp_path / 'target'}")
    checked = preflight(edge_source, target, None, 3)
    try:
        assert (checked.queries, checked.k) == (COUNT, 3)
        assert checked.source.count() == COUNT and checked.target.count() == 0  # open, not reloaded
    finally:
        checked.close()
    assert not held_under(tmp_path)


@pytest.mark.parametrize("bad", ["target", "bound"])
def test_a_refused_pair_leaves_no_store_open(edge_source: str, tmp_path: Path, bad: str) -> None:
    """A failure closes what the preflight opened: nothing holds an Edge shard the user may retry on."""
    target = f"qdrant-edge://{tmp_path / 'target'}"
    if bad == "bound":
        create(target)
    with pytest.raises(UsageError, match="does not exist" if bad == "target" else "more than the"):
        preflight(edge_source, target, COUNT + 1, None)
    assert not held_under(tmp_path)


def test_a_shard_another_process_holds_is_refused_naming_its_role(edge_source: str, tmp_path: Path) -> None:
    held = subprocess.Popen(  # another process holds the shard: Edge refuses a second one
        [sys.executable, "-c", f"from harness.stores import open_store; s = open_store({edge_source!r}); s.count(); "
         "print('held', flush=True); input()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=r"^source: qdrant-edge shard .* is open in another process"):
            preflight(edge_source, f"qdrant-edge://{tmp_path / 'target'}", None, None)
    finally:
        held.communicate("\n", timeout=60)
    assert not held_under(tmp_path)


def test_a_failure_travels_to_the_parent_with_its_type_and_one_redacted_line(tmp_path: Path) -> None:
    path = tmp_path / "preflight.json"
    assert read_failure(path) is None  # nothing recorded: nothing refused
    write_failure(path, StoreUnreachableError("target store pinecone://idx?api_key=pcsk_secret123456 cannot\nbe read"))
    refused = read_failure(path)
    assert type(refused) is StoreUnreachableError
    assert "\n" not in str(refused) and "pcsk_secret123456" not in str(refused) and "cannot be read" in str(refused)
    write_failure(path, CollectionNotFoundError("target: gone"))
    assert type(read_failure(path)) is CollectionNotFoundError


@pytest.mark.parametrize(
    "recorded",
    [
        {"error": "SystemExit", "message": "x"},  # not a usage error: raised as a plain one
        {"error": "StoreError", "message": "x"},
        {"error": "NoSuchError", "message": "x"},
    ],
)
def test_a_recorded_type_that_is_not_a_usage_error_is_raised_as_one(tmp_path: Path, recorded: dict[str, str]) -> None:
    path = tmp_path / "preflight.json"
    path.write_text(json.dumps(recorded))
    assert type(read_failure(path)) is UsageError


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"error": "UsageError"}', '{"message": 3}'])
def test_a_file_that_is_not_a_recorded_failure_refuses_nothing(tmp_path: Path, text: str) -> None:
    path = tmp_path / "preflight.json"
    path.write_text(text)
    assert read_failure(path) is None


def test_the_session_s_store_fixtures_are_the_preflight_s_stores(edge_source: str, tmp_path: Path) -> None:
    """Under ``--ragmig-preflight`` the session's stores are the ones the preflight opened: each loaded once."""
    target = create(f"qdrant-edge://{tmp_path / 'target'}")
    tests = tmp_path / "suite"
    tests.mkdir()
    (tests / "test_same.py").write_text(
        "import pytest\n"
        "from harness.plugin import PREFLIGHT_KEY\n"
        "@pytest.mark.ragmig_certification(checks=())\n"
        "def test_same(request, ragmig_source_store, ragmig_target_store):\n"
        "    checked = request.config.stash[PREFLIGHT_KEY]\n"
        "    assert checked.source is ragmig_source_store and checked.target is ragmig_target_store\n"
        "    assert (checked.queries, checked.k) == (12, 10)\n"
    )
    (tests / "conftest.py").write_text(
        "def pytest_configure(config):\n"
        "    config.addinivalue_line('markers', 'ragmig_certification(checks): a family')\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "harness.plugin", "-p", "no:cacheprovider", str(tests),
         "--ragmig-source", edge_source, "--ragmig-target", target, "--ragmig-preflight", str(tmp_path / "preflight.json")],
        capture_output=True, text=True, check=False, cwd=tmp_path, env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout and not (tmp_path / "preflight.json").exists()
