"""The session-end check of ``tests/verdict_schemas.py`` itself: an invalid verdict anywhere under the
session's base temp dir fails the session, naming the file; valid verdicts and other JSON pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.verdict_schemas import invalid_verdicts, looks_like_verdict

WRITERS = """
import json
from harness.model import Check, Status, Verdict

def test_writes_a_valid_verdict(tmp_path):
    (tmp_path / "good.json").write_text(Verdict(checks=(Check("parity.ids", Status.PASS),)).to_json())

def test_writes_other_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"collection": "x", "checks": 3}))
    (tmp_path / "torn.json").write_text('{"schema_version": 2, "verdict"')
"""

BAD_WRITER = """
import json
from harness.model import Check, Status, Verdict

def test_writes_a_relabelled_verdict(tmp_path):
    data = Verdict(checks=(Check("parity.ids", Status.FAIL),)).to_dict()
    data["verdict"] = "pass"  # a failed check read as a pass
    (tmp_path / "planted-bad-verdict.json").write_text(json.dumps(data))
"""


def _session(pytester: pytest.Pytester, *modules: str) -> pytest.RunResult:
    pytester.makeconftest("from tests.verdict_schemas import verdicts_match_the_schema  # noqa: F401\n")
    pytester.makepyfile(**{f"test_m{i}": source for i, source in enumerate(modules)})
    return pytester.runpytest("-p", "no:randomly")


def _forget_bad_verdicts(root: Path) -> None:
    """The inner session's base temp dir lies inside this session's: remove the planted verdict once
    checked, or this session's own check would (rightly) fail on it."""
    for path in root.rglob("planted-bad-verdict.json"):
        path.unlink()


def test_a_session_writing_only_valid_verdicts_passes(pytester: pytest.Pytester) -> None:
    result = _session(pytester, WRITERS)
    result.assert_outcomes(passed=2)
    assert result.ret == 0


def test_a_session_writing_an_invalid_verdict_fails_naming_the_file(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    try:
        result = _session(pytester, WRITERS, BAD_WRITER)
        result.assert_outcomes(passed=3, errors=1)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        output = result.stdout.str()
        assert "1 verdict(s) written by this session break harness/schemas/verdict.schema.json" in output
        assert "planted-bad-verdict.json: at /verdict: 'fail' was expected" in output
        assert "good.json" not in output
    finally:
        _forget_bad_verdicts(tmp_path_factory.getbasetemp())


def test_what_counts_as_a_verdict() -> None:
    assert looks_like_verdict({"schema_version": 2})
    assert looks_like_verdict({"verdict": "pass", "checks": []})  # a v1 verdict is checked, and fails
    assert not looks_like_verdict({"verdict": "pass"})
    assert not looks_like_verdict([{"schema_version": 2}])


def test_a_version_1_verdict_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "v1.json").write_text('{"verdict": "pass", "checks": [], "duration_s": 1.0}')
    try:
        [errors] = invalid_verdicts(tmp_path).values()
        assert any("'schema_version' is a required property" in e for e in errors)
    finally:
        (tmp_path / "v1.json").unlink()
