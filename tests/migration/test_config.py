"""MigrationConfig: the spec's defaults, the shipped examples, and one-line errors naming file and key."""

from __future__ import annotations

import re
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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[thresholds]\nerror_rate_max = 0.0\n", "thresholds.error_rate_max"),
        ("[thresholds]\nerror_rate_max = 1.0\n", "thresholds.error_rate_max"),
        ("[thresholds]\nconfidence = 0.4\n", "thresholds.confidence"),
        ("[thresholds]\nconfidence = 1.0\n", "thresholds.confidence"),
        ("[thresholds]\nsevere_error_multiple = 1.0\n", "thresholds.severe_error_multiple"),
        ('[thresholds]\nbackend_errors = "loud"\n', "thresholds.backend_errors"),
        ("[canary]\nhealth_interval_s = 60\nwindow_s = 30\n", "window_s (30 s) must be at least health_interval_s"),
        ("[parity_gate]\nreplay_rounds = 0\n", "parity_gate.replay_rounds"),
        (
            '[metrics]\nprovider = "prometheus"\nurl = "http://p:9090"\nscrape_interval_s = 15\n'
            "[canary]\nhealth_interval_s = 20\n",
            "must hold two Prometheus scrapes",
        ),
    ],
)
def test_the_canarys_statistics_refuse_impossible_settings(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "migration.toml"
    path.write_text('source = "exact://a"\ntarget = "exact://b"\n' + body)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(path)


def test_the_defaults_of_the_canarys_statistics() -> None:
    cfg = MigrationConfig(source="exact://a", target="exact://b")
    t = cfg.thresholds
    assert (t.confidence, t.min_requests, t.error_min_requests, t.severe_error_rate) == (0.99, None, 459, 0.5)
    assert (t.backend_errors, t.latency_reference, t.failure_limit) == ("warn", True, 3)
    g = cfg.parity_gate
    assert (g.enabled, g.probes_per_check, g.sample, g.replay_rounds) == (True, 20, 1000, 3)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX",
        "hooks.slack.com/services/T000/B000/XXXXSECRETXXXX",
        "javascript:alert('XXXXSECRETXXXX')",
    ],
)
def test_a_webhook_url_that_is_refused_is_never_echoed(tmp_path: Path, url: str) -> None:
    path = tmp_path / "migration.toml"
    path.write_text(f'source = "exact://a"\ntarget = "exact://b"\n[[alerts]]\ntype = "slack"\nurl = "{url}"\n')
    with pytest.raises(ConfigError, match="must start with http:// or https://") as info:
        load_config(path)
    assert "SECRET" not in str(info.value) and "services" not in str(info.value)
