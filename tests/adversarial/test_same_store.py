"""The same store on both sides is refused before anything runs: ``ragmig plan`` (through the
``MigrationConfig`` that ``ragmig run`` validates too) and ``ragmig certify``, one line, exit 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.migration.config import parse_config
from tests.adversarial.conftest import RAGMIG

SAME = [
    ("qdrant-edge:///srv/shard", "qdrant-edge:///srv/shard?m=32&ef_construct=256"),
    ("qdrant://localhost:6333/docs", "qdrant://127.0.0.1:6333/docs?grpc=1"),
    ("pinecone://docs?host=http://127.0.0.1:5081", "pinecone://docs?host=http://127.0.0.1:5081&namespace=books"),
]


@pytest.mark.parametrize(("source", "target"), SAME)
def test_the_config_refuses_a_target_that_is_its_source(source: str, target: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"source": source, "target": target}, "migration.toml")
    assert str(info.value).startswith("migration.toml: target: names the same store as source")


def test_the_config_accepts_two_stores() -> None:
    config = parse_config({"source": "qdrant://old:6333/docs", "target": "qdrant://new:6333/docs"})
    assert config.target == "qdrant://new:6333/docs"


def test_plan_refuses_the_same_store_reached_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "shard").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "shard", target_is_directory=True)
    config = tmp_path / "migration.toml"
    config.write_text(f'source = "qdrant-edge://{tmp_path / "shard"}"\ntarget = "qdrant-edge://{tmp_path / "alias"}"\n')
    proc = subprocess.run(
        [RAGMIG, "plan", "--config", str(config), "--out", str(tmp_path / "runbook.md")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"ragmig: error: {config}: target: names the same store as source (qdrant-edge://{tmp_path / 'shard'}); "
        "migrate into a different store"
    ]
    assert not (tmp_path / "runbook.md").exists()


def test_certify_refuses_the_same_qdrant_collection_under_another_host_name(tmp_path: Path) -> None:
    """Refused before any store is contacted: nothing listens on this port."""
    proc = subprocess.run(
        [RAGMIG, "certify", "--source", "qdrant://localhost:1/docs", "--target", "qdrant://127.0.0.1:1/docs",
         "--json", str(tmp_path / "v.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("ragmig: error: --source and --target name the same store")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v.json").exists()
