"""``ragmig certify --sample N``: sampled parity end to end (the CI-speed mode), and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.datasets import synthetic_corpus
from harness.model import CollectionSchema, Distance
from harness.stores import open_store
from harness.stores.qdrant_edge import copy_shard
from harness.verify import PARITY_CHECK_IDS

N, DIM = 2000, 16


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("sample")
    store = open_store(f"qdrant-edge://{root / 'source'}")
    store.create(CollectionSchema(DIM, Distance.COSINE))
    for batch in synthetic_corpus(N, DIM, seed=5, batch_size=1000):
        store.upsert(batch)
    store.close()
    copy_shard(root / "source", root / "copy")
    copy_shard(root / "source", root / "holes")
    holes = open_store(f"qdrant-edge://{root / 'holes'}")
    holes.delete([7, 700, 1400])
    holes.close()
    return {name: f"qdrant-edge://{root / name}" for name in ("source", "copy", "holes")}


def _certify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["certify", *args])
    return result.exit_code, result.stdout + result.stderr


def test_a_sampled_certification_of_a_copy_passes_and_states_its_bound(shards: dict[str, str], tmp_path: Path) -> None:
    code, out = _certify(
        "--source", shards["source"], "--target", shards["copy"], "--sample", "500", "--queries", "0",
        "--json", str(tmp_path / "v.json"),
    )  # fmt: skip
    assert code == 0, out
    checks = {c["id"]: c for c in json.loads((tmp_path / "v.json").read_text())["checks"]}
    for cid in PARITY_CHECK_IDS:
        assert cid in checks
    ids = checks["parity.ids"]
    assert ids["details"]["mode"] == "sampled" and ids["details"]["sampled"] == 500
    assert "at 99 % confidence" in ids["message"] and ids["details"]["bound"]["population"] == N
    assert {checks[c]["status"] for c in checks if c.startswith("quality.")} == {"skip"}  # --queries 0


def test_a_sample_of_every_record_names_the_missing_ones(shards: dict[str, str], tmp_path: Path) -> None:
    code, out = _certify(
        "--source", shards["source"], "--target", shards["holes"], "--sample", str(N), "--queries", "20",
        "--json", str(tmp_path / "v.json"),
    )  # fmt: skip
    assert code == 1, out
    checks = {c["id"]: c for c in json.loads((tmp_path / "v.json").read_text())["checks"]}
    assert checks["parity.ids"]["status"] == "fail"
    assert sorted(checks["parity.ids"]["details"]["missing"]) == [7, 700, 1400]
    assert checks["parity.ids"]["details"]["bound"]["max_records"] == 3  # every record was looked at
    assert checks["quality.recall_target"]["status"] in ("pass", "warn", "fail")  # quality still measured


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--sample", "0"], "--sample must be at least 1, got 0"),
        (["--sample", "-5"], "--sample must be at least 1"),
        (["--queries", "0"], "--queries 0 measures no quality: only with --sample"),
    ],
)
def test_bad_sample_arguments_exit_2_with_one_line(shards: dict[str, str], args: list[str], fragment: str) -> None:
    code, out = _certify("--source", shards["source"], "--target", shards["copy"], *args)
    assert code == 2 and fragment in out, out
    assert "Traceback" not in out
