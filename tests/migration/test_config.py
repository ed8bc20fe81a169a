"""MigrationConfig: the spec's defaults, the shipped examples, and one-line errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, UsageError
from harness.migration.config import MigrationConfig, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_defaults_are_the_chapters_thresholds_with_the_fixes() -> None:
    cfg = MigrationConfig(source="exact://a", target="exact://b")
    assert cfg.batch_size == 1000
    assert cfg.canary.steps == [5, 25, 50, 100]
    t = cfg.thresholds
    assert (t.error_rate_max, t.p99_ms_max, t.cache_hit_rate_min) == (0.01, 500.0, 0.3)
    assert t.mann_whitney_alpha == 0.02 and t.no_data_policy in ("fail", "pass", "hold")
    assert [a.type for a in cfg.alerts] == ["log"]


@pytest.mark.parametrize("name", ["pinecone-to-qdrant.toml", "qdrant-to-qdrant.toml"])
def test_shipped_examples_load(name: str) -> None:
    cfg = load_config(EXAMPLES / name)
    assert cfg.canary.steps[-1] == 100
    assert cfg.source_is_pinecone is name.startswith("pinecone")


def test_per_step_bake_times() -> None:
    cfg = load_config(EXAMPLES / "pinecone-to-qdrant.toml")
    assert [cfg.canary.bake_time_of(i) for i in range(4)] == [900, 900, 1800, 1800]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('source = "exact://a"\ntarget = "exact://b"\n[thresholds]\nerror_rat = 0.1\n', "thresholds.error_rat"),
        ('source = "exact://a"\ntarget = "exact://b"\nbatch_size = "1000"\n', "batch_size"),
        ('source = "exact://a"\ntarget = "exact://b"\n[canary]\nsteps = [5, 50]\n', "canary.steps"),
        ('source = "exact://a"\ntarget = "exact://b"\n[canary]\nsteps = [25, 5, 100]\n', "canary.steps"),
        ('source = "exact://a"\ntarget = "exact://b"\n[canary]\nsteps = [0, 100]\n', "canary.steps"),
        ('source = "exact://a"\ntarget = "exact://b"\n[canary]\nbake_time_s = [1, 2]\n', "canary"),
        ('source = "exact://a"\ntarget = "exact://b"\n[thresholds]\nno_data_policy = "maybe"\n', "no_data_policy"),
        ('source = "exact://a"\ntarget = "exact://b"\n[[alerts]]\ntype = "webhook"\n', "alerts"),
        ('source = "mysql://a"\ntarget = "exact://b"\n', "source"),
        ('target = "exact://b"\n', "source"),
        ('source = "exact://a"\ntarget =\n', "malformed TOML"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "migration.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert isinstance(info.value, UsageError)
    assert "\n" not in message
    assert str(path) in message and expected in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")
