"""Payload indexes a migration creates: ``[target] payload_indexes`` in the config, ``--payload-index`` on
``ragmig migrate``, and the verification gate that checks them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import ConfigError, UsageError
from harness.migration.backfill import ensure_target_collection
from harness.migration.config import parse_config
from harness.model import CollectionSchema, Distance, RecordBatch, Status
from harness.stores import open_store
from harness.stores.base import parse_payload_index
from harness.stores.exact import ExactStore
from harness.verify import make_verifier


def test_the_target_table_carries_uri_and_payload_indexes() -> None:
    config = parse_config(
        {
            "source": "exact://a",
            "target": {"uri": "exact://b", "payload_indexes": {"year": "integer", "src": "keyword"}},
        }
    )
    assert config.target == "exact://b"
    assert config.target_payload_indexes == {"year": "integer", "src": "keyword"}
    assert parse_config({"source": "exact://a", "target": "exact://b"}).target_payload_indexes == {}


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ({"uri": "exact://b", "payload_indexes": {"year": "int"}}, {}, "m.toml: target.payload_indexes.year: Input"),
        ({"uri": "exact://b", "payload_indexes": ["year"]}, {}, "m.toml: target.payload_indexes: Input"),
        ({"url": "exact://b"}, {}, "m.toml: [target] has unknown key(s) ['url']; it takes uri, payload_indexes"),
        ({"payload_indexes": {}}, {}, "m.toml: [target] needs uri"),
        ("exact://b", {"target_payload_indexes": {}}, "m.toml: unknown key 'target_payload_indexes'"),
        ({"uri": "exact://a"}, {}, "m.toml: target: names the same store as source"),
    ],
)
def test_config_mistakes_name_the_key(target: object, extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"source": "exact://a", "target": target, **extra}, "m.toml")
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize("text", ["year", "year=", "=integer", "year=int", "year=Integer=2"])
def test_bad_payload_index_options_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="write FIELD=TYPE"):
        parse_payload_index(text)
    assert parse_payload_index(" year = Integer ") == ("year", "integer")


def test_migrate_refuses_a_bad_payload_index_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["migrate", "--source", "exact://nothing", "--target", f"qdrant-edge://{tmp_path / 't'}",
         "--journal", str(tmp_path / "j.sqlite"), "--payload-index", "year=int"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("ragmig: error: --payload-index 'year=int': write FIELD=TYPE")
    assert not (tmp_path / "j.sqlite").exists() and not (tmp_path / "t").exists()


@pytest.fixture
def exact_source() -> ExactStore:
    store = ExactStore("payload-index-source")
    store.create(CollectionSchema(4, Distance.COSINE, payload_indexes={"doc": "keyword"}))
    rng = np.random.default_rng(0)
    store.upsert(
        RecordBatch.build(range(50), rng.standard_normal((50, 4)), [{"doc": f"d{i}", "year": i} for i in range(50)])
    )
    yield store
    store.drop()


def test_a_created_target_gets_the_sources_and_the_asked_indexes(exact_source: ExactStore, tmp_path: Path) -> None:
    target = open_store(f"qdrant-edge://{tmp_path / 'target'}")
    try:
        assert ensure_target_collection(exact_source, target, {"year": "integer"})
        assert target.describe().payload_indexes == {"doc": "keyword", "year": "integer"}
        assert not ensure_target_collection(exact_source, target, {"other": "keyword"})  # exists: left alone
        assert "other" not in target.describe().payload_indexes
    finally:
        target.close()


def test_the_gate_checks_the_indexes_the_config_asks_for(exact_source: ExactStore, tmp_path: Path) -> None:
    target = open_store(f"qdrant-edge://{tmp_path / 'target'}")
    try:
        ensure_target_collection(exact_source, target)
        for batch in [exact_source.fetch(list(range(50)))]:
            target.upsert(batch)
        verify = make_verifier(20, 5, measure_latency=False, payload_indexes={"year": "integer"})
        check = verify(exact_source, target).check("schema.payload_indexes")
    finally:
        target.close()
    assert check.status is Status.WARN
    assert "missing on target: year (payload_indexes asks for it)" in check.message
    assert check.details["required"] == {"year": "integer"}
