"""A workspace of good and bad inputs, built once and copied for every case, and the byte-for-byte check
that a refused command changed none of the files that were there before it ran."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness.migration.journal import Journal
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores import open_store
from harness.stores.qdrant_edge import copy_sparse_file

RECORDS = 200
GOOD_CONFIG = """\
source = "qdrant-edge://{root}/src"
target = "qdrant-edge://{root}/new-target"
journal = "{root}/plan-journal.sqlite"

[canary]
steps = [5, 25, 50, 100]

[[alerts]]
type = "log"
"""


def _shard(path: Path, schema: CollectionSchema, n: int, seed: int = 0) -> None:
    store = open_store(f"qdrant-edge://{path}")
    store.create(schema)
    if n:
        rng = np.random.default_rng(seed)
        ids = list(range(n)) if seed == 0 else list(range(90_000, 90_000 + n))
        vectors = rng.normal(size=(n, schema.dimension)).astype(np.float32)
        store.upsert(RecordBatch.build(ids, vectors, [{"doc": i} for i in ids]))
    store.close()
    # Qdrant Edge completes its config file on the first open after create; after that an open that only
    # reads leaves every file byte-identical, which is what the cases check.
    reopened = open_store(f"qdrant-edge://{path}")
    reopened.count()  # the shard opens on first use
    reopened.close()


def _journal(path: Path, source: str, target: str, done: int = 400) -> None:
    with Journal(path) as journal:
        journal.set(source=source, target=target)
        journal.note_attempt(done)
        journal.advance('{"offset": 1}', done)


def _sql(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def _build(root: Path) -> None:
    cosine8 = CollectionSchema(dimension=8, distance=Distance.COSINE)
    _shard(root / "src", cosine8, RECORDS)
    _shard(root / "foreign", cosine8, 12, seed=1)  # a non-empty target no journal created
    _shard(root / "dot", CollectionSchema(dimension=8, distance=Distance.DOT), 0)
    _shard(root / "dim16", CollectionSchema(dimension=16, distance=Distance.COSINE), 0)
    _shard(root / "f16", CollectionSchema(dimension=8, distance=Distance.COSINE, datatype="float16"), 0)
    src, tgt = f"qdrant-edge://{root}/src", f"qdrant-edge://{root}/tgt"
    journals = root / "journals"
    journals.mkdir()
    _journal(journals / "good.sqlite", src, tgt)
    good = (journals / "good.sqlite").read_bytes()
    _journal(journals / "other.sqlite", "qdrant-edge:///elsewhere/a", "qdrant-edge:///elsewhere/b")
    with Journal(journals / "nomigration.sqlite"):
        pass
    (journals / "empty.sqlite").write_bytes(b"")
    (journals / "truncated.sqlite").write_bytes(good[: len(good) // 2])
    (journals / "onepage.sqlite").write_bytes(good[:4096])
    (journals / "garbage.sqlite").write_bytes(bytes(range(256)) * 40)
    (journals / "text.sqlite").write_text("this is not a journal\n")
    (journals / "overwritten.sqlite").write_bytes(good[:4096] + b"\x5a" * 4096 + good[8192:])
    _sql(journals / "foreign.sqlite", "CREATE TABLE users (id INTEGER)")
    for name, statement in {
        "newer": "PRAGMA user_version = 42",
        "moved": "UPDATE checkpoints SET cursor = '{\"offset\": 150}'",
        "ahead": "UPDATE checkpoints SET done = 100000",
        "badstate": "UPDATE state SET value = '{not json' WHERE key = 'source'",
        "badstatus": "UPDATE checkpoints SET status = 'teleported'",
    }.items():
        (journals / f"{name}.sqlite").write_bytes(good)
        _sql(journals / f"{name}.sqlite", statement)
    (journals / "adir.sqlite").mkdir()

    configs = root / "configs"
    configs.mkdir()
    good_config = GOOD_CONFIG.format(root=root)
    (configs / "good.toml").write_text(good_config)
    (configs / "latin1.toml").write_bytes(good_config.replace("log", "l\xf6g").encode("latin-1"))
    (configs / "binary.toml").write_bytes(b"\x00\xff\xfe" * 50)
    (configs / "malformed.toml").write_text("source = 'x'\n[canary\n")
    (configs / "unknown-key.toml").write_text(good_config + "\nsurprise = 1\n")
    (configs / "wrong-type.toml").write_text(good_config.replace("steps = [5, 25, 50, 100]", 'steps = "all"'))
    (configs / "bad-steps.toml").write_text(good_config.replace("steps = [5, 25, 50, 100]", "steps = [50, 5]"))
    (configs / "bad-uri.toml").write_text(good_config.replace("qdrant-edge://", "mysql://", 1))
    (configs / "userinfo.toml").write_text(
        good_config.replace(f"qdrant-edge://{root}/src", "pinecone://idx?host=http://user:s3cr3t@127.0.0.1:5081")
    )
    (configs / "empty.toml").write_text("")
    (configs / "adir.toml").mkdir()
    (root / "thresholds-malformed.toml").write_text("[parity\n")
    (root / "thresholds-binary.toml").write_bytes(b"\xff\xfe\x00" * 30)
    (root / "adir").mkdir()
    (root / "afile").write_text("a file, not a directory\n")
    (root / "reports").mkdir()
    (root / "reports" / "verdict.json").write_text('{"verdict": "pass", "kept": true}\n')  # a good old file
    (root / "data-file").write_text("not a data dir\n")
    broken = root / "data-broken-snapshot"
    broken.mkdir()
    (broken / "idx.npz").write_bytes(b"not a snapshot")
    damaged = root / "data-damaged-log"
    damaged.mkdir()
    (damaged / "wal-00000000000000000001.log").write_bytes(b"\x10\x00\x00\x00garbage-frame...")
    (damaged / "wal-00000000000000000009.log").write_bytes(b"")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace every case copies: Edge shards, journals, configs, reports (see ``_build``)."""
    root = tmp_path_factory.mktemp("badinput-template")
    _build(root)
    return root


@pytest.fixture
def workspace(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template, with paths inside it rewritten to the copy's location."""
    root = tmp_path / "ws"
    shutil.copytree(template, root, symlinks=True, copy_function=copy_sparse_file)  # Edge files are sparse
    for path in (root / "configs").glob("*.toml"):
        if path.is_file():
            data = path.read_bytes()
            path.write_bytes(data.replace(str(template).encode(), str(root).encode()))
    return root


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file under ``root``, by relative path, with its bytes (None for a directory)."""
    return {
        str(path.relative_to(root)): (path.read_bytes() if path.is_file() else None) for path in sorted(root.rglob("*"))
    }


def assert_unchanged(before: dict[str, bytes | None], root: Path) -> None:
    """Every file that was there before is there, byte-identical (new files may appear)."""
    after = snapshot(root)
    changed = [name for name, data in before.items() if after.get(name, b"<gone>") != data]
    assert not changed, f"files changed by a refused command: {changed[:5]}"


Check = Callable[[Path], None]
