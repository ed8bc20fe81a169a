"""The thresholds file: defaults, overrides, and one-line errors that name the file and the key."""

from pathlib import Path

import pytest

from harness.errors import ConfigError, UsageError
from harness.verify import Thresholds, load_thresholds


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_issues_gates() -> None:
    t = Thresholds()
    assert (t.recall_target_min, t.recall_max_drop, t.overlap_min, t.p99_ms_max) == (0.95, 0.02, 0.90, 500.0)


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    t = load_thresholds(write(tmp_path, "recall_target_min = 0.97\np99_ms_max = 250\nsample_size = 20\n"))
    assert t.recall_target_min == 0.97
    assert t.p99_ms_max == 250.0  # an integer is a fine number
    assert t.sample_size == 20
    assert t.overlap_min == Thresholds().overlap_min


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("recal_min = 0.9\n", "unknown key 'recal_min' (allowed: recall_target_min,"),
        ("[gates]\nrecall_target_min = 0.9\n", "unknown table 'gates'"),
        ('recall_target_min = "high"\n', "'recall_target_min' must be a number, got 'high'"),
        ("sample_size = 2.5\n", "'sample_size' must be an integer, got 2.5"),
        ("overlap_min = true\n", "'overlap_min' must be a number, got True"),
        ("recall_target_min = 1.5\n", "'recall_target_min' = 1.5 is invalid: input should be less than or equal to 1"),
        ("recall_target_min = \n", "malformed TOML"),
    ],
)
def test_bad_files_fail_with_one_line_naming_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_thresholds(path)
    message = str(info.value)
    assert isinstance(info.value, UsageError)  # the CLI turns it into exit 2
    assert fragment in message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_thresholds(tmp_path / "nope.toml")
