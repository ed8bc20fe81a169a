"""The demo stack's reading of a migration config (no processes): what it starts where, what it refuses,
and ``--fast``'s substitution of values into the examples."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.deploy.stack import FAST_VALUES, plan_stack, substitute_values
from harness.errors import UsageError
from harness.migration.config import parse_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_examples_plan_the_stack_the_readme_describes() -> None:
    pinecone = plan_stack(EXAMPLES / "pinecone-to-qdrant.toml")
    qdrant = plan_stack(EXAMPLES / "qdrant-to-qdrant.toml")

    assert (pinecone.pinecone_port, pinecone.qdrant_port, pinecone.prometheus_port, pinecone.alertmanager_port) == (
        5081,
        6333,
        9090,
        9093,
    )
    assert pinecone.scrape_job == "rag-api" and pinecone.pinecone_url == "http://127.0.0.1:5081"
    assert (qdrant.pinecone_port, qdrant.qdrant_port, qdrant.alertmanager_port) == (None, 6333, None)


@pytest.mark.parametrize("example", ["pinecone-to-qdrant.toml", "qdrant-to-qdrant.toml"])
def test_fast_values_replace_only_what_they_name_and_keep_a_valid_config(example: str) -> None:
    original = (EXAMPLES / example).read_text()
    before = tomllib.loads(original)

    fast = substitute_values(original, FAST_VALUES)

    after = tomllib.loads(fast)
    parse_config(after)  # still a valid migration config
    for table, values in FAST_VALUES.items():
        section = after if table == "" else after[table]
        assert {key: section[key] for key in values} == values
    # Everything else is as written: steps, thresholds not named, stores, alerts, comments.
    assert after["canary"]["steps"] == before["canary"]["steps"]
    assert after["thresholds"]["failure_limit"] == before["thresholds"]["failure_limit"]
    assert after["thresholds"]["cache_hit_rate_min"] == before["thresholds"]["cache_hit_rate_min"]
    assert (after["source"], after["target"], after["alerts"]) == (before["source"], before["target"], before["alerts"])
    assert [line for line in original.splitlines() if line.startswith("#")] == [
        line for line in fast.splitlines() if line.startswith("#")
    ]


def test_substitution_adds_missing_keys_and_tables_and_leaves_arrays_of_tables_alone() -> None:
    text = 'source = "a"\n\n[canary]\nsteps = [5, 100]\n\n[[alerts]]\ntype = "log"\nqueries = 3\n'

    out = substitute_values(text, {"": {"name": "n"}, "canary": {"window_s": 2.0}, "shadow": {"queries": 9}})

    assert tomllib.loads(out) == {
        "source": "a",
        "name": "n",
        "canary": {"steps": [5, 100], "window_s": 2.0},
        "alerts": [{"type": "log", "queries": 3}],
        "shadow": {"queries": 9},
    }


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (("127.0.0.1:5081", "pinecone.internal:5081"), "is not on loopback"),
        (("http://127.0.0.1:9090", "http://prom.internal:9090"), "is not on loopback"),
        (('provider = "flagd-file"', 'provider = "in-memory"'), 'needs [flags] provider = "flagd-file"'),
        (("127.0.0.1:6333/rag_docs", "127.0.0.1:6334/rag_docs"), ""),  # still one qdrant server: fine
    ],
)
def test_what_the_stack_cannot_serve_is_a_usage_error(tmp_path: Path, change: tuple[str, str], why: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text((EXAMPLES / "pinecone-to-qdrant.toml").read_text().replace(*change))

    if not why:
        assert plan_stack(config).qdrant_port == 6334
        return
    with pytest.raises(UsageError, match=why.replace("[", r"\[").replace("]", r"\]")):
        plan_stack(config)


def test_two_qdrant_servers_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        (EXAMPLES / "qdrant-to-qdrant.toml")
        .read_text()
        .replace("127.0.0.1:6333/rag_chunks_v2", "127.0.0.1:6334/rag_chunks_v2")
    )

    with pytest.raises(UsageError, match=r"runs one qdrant server; the stores name ports \[6333, 6334\]"):
        plan_stack(config)
