"""Acceptance tests of the pytest plugin: real pytest sessions run with pytester.

The plugin is installed in every pytest run of the environment, so it must stay out of the way of
projects that never use it, and it must never let a certification run that did not finish say "pass".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

OPTIONS = (
    "--ragmig-source",
    "--ragmig-target",
    "--ragmig-queries",
    "--ragmig-query-vectors",
    "--ragmig-k",
    "--ragmig-sample",
    "--ragmig-workers",
    "--ragmig-cluster",
    "--ragmig-thresholds",
    "--ragmig-preflight",
    "--ragmig-verdict-json",
)
GROUP_HEADER = "rag-migration-harness (ragmig)"
STORES = ("--ragmig-source", "exact://plugin-a", "--ragmig-target", "exact://plugin-b")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# A certification family of the user's own, promising two check ids (the marker's contract).
FAMILY_CONFTEST = """
def pytest_configure(config):
    config.addinivalue_line("markers", "ragmig_certification(checks): promises check ids")
"""


def verdict_of(pytester: pytest.Pytester, name: str = "v.json") -> dict[str, object]:
    return json.loads((pytester.path / name).read_text())


def checks_of(verdict: dict[str, object]) -> dict[str, dict[str, object]]:
    checks = verdict["checks"]
    assert isinstance(checks, list)
    return {c["id"]: c for c in checks}


def help_lines(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest(*args, "--help")
    assert result.ret == 0
    return result.stdout.lines


def test_a_project_that_never_selects_the_suites_sees_only_the_prefixed_group(pytester: pytest.Pytester) -> None:
    with_plugin = help_lines(pytester)
    without = help_lines(pytester, "-p", "no:harness")
    added = list((Counter(with_plugin) - Counter(without)).elements())
    start = next(i for i, line in enumerate(with_plugin) if line.startswith(GROUP_HEADER))
    end = next(i for i in range(start + 1, len(with_plugin)) if not with_plugin[i].strip())
    group = with_plugin[start : end + 1]  # the group and the blank line that closes it
    # Everything the plugin adds to --help is its one group, and the group holds exactly the prefixed options.
    assert sorted(added) == sorted(group)
    listed = [m.group(1) for line in group for m in [re.match(r"\s+(--[\w-]+)", line)] if m]
    assert listed == list(OPTIONS)
    for generic in ("--source", "--target", "--queries", "--k", "--thresholds", "--verdict-json"):
        assert not any(re.match(rf"\s+{generic}[=\s]", line) for line in with_plugin), generic


def test_the_plugin_registers_no_marker_and_leaves_the_projects_markers_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.certification
        @pytest.mark.gameday
        @pytest.mark.slow
        def test_a():
            pass
        """
    )
    markers_with = pytester.runpytest("--markers").stdout.lines
    markers_without = pytester.runpytest("-p", "no:harness", "--markers").stdout.lines
    assert markers_with == markers_without
    assert not [line for line in markers_with if "ragmig" in line or "certification" in line or "gameday" in line]
    # An unregistered marker is the project's own business: strict mode fails it exactly as without us
    # (in a fresh interpreter: pytest remembers marker names across in-process sessions).
    for args in ((), ("-p", "no:harness")):
        result = pytester.runpytest_subprocess("--strict-markers", *args)
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*'certification' not found in `markers` configuration option*"])
    # Without strict mode the project's tests run as before, needing no store and writing no verdict.
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_recorded_checks_land_in_the_json_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from harness.model import Check, Status

        def test_parity(harness_checks):
            harness_checks.add(Check("parity.count", Status.PASS, 10, 10))
            harness_checks.add(Check("parity.ids", Status.FAIL, 9, 10, "1 missing", {"missing_count": 1}))
            harness_checks.describe_side("source", {"uri": "exact://s", "count": 10})

        def test_schema(harness_checks):
            harness_checks.add(Check("schema.dimension", Status.PASS, 8, 8))
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--ragmig-verdict-json", "out/verdict.json")
    result.assert_outcomes(passed=2)
    verdict = json.loads((pytester.path / "out" / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    assert verdict["schema_version"] == 2 and verdict["tool"]["name"] == "ragmig"
    assert ISO_UTC.match(verdict["started_at"]) and ISO_UTC.match(verdict["finished_at"])
    assert verdict["started_at"] <= verdict["finished_at"]
    assert [c["id"] for c in verdict["checks"]] == ["parity.count", "parity.ids", "schema.dimension"]
    assert verdict["checks"][1]["details"] == {"missing_count": 1}
    assert verdict["source"] == {"uri": "exact://s", "count": 10}
    assert "incomplete" not in verdict


def test_a_session_that_recorded_no_check_is_an_error_never_a_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.runpytest("--ragmig-verdict-json", "v.json").assert_outcomes(passed=1)
    verdict = verdict_of(pytester)
    assert verdict["verdict"] == "error" and verdict["checks"] == []
    assert verdict["incomplete"] == "no check recorded a result"


def test_store_fixtures_skip_without_uris_and_open_with_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_source(ragmig_source_store):
            assert ragmig_source_store.uri == "exact://plugin-src"
        """
    )
    pytester.runpytest().assert_outcomes(skipped=1)
    pytester.runpytest("--ragmig-source", "exact://plugin-src").assert_outcomes(passed=1)


def test_credentials_never_reach_the_verdict(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINECONE_API_KEY", "pcsk_supersecretvalue123")
    pytester.makepyfile(
        """
        import os
        from harness.model import Check, Status

        def test_leaky(harness_checks):
            key = os.environ["PINECONE_API_KEY"]
            harness_checks.add(Check("latency.p99", Status.PASS, 1, 2, f"connected with {key}"))
        """
    )
    pytester.runpytest("--ragmig-verdict-json", "v.json").assert_outcomes(passed=1)
    text = (pytester.path / "v.json").read_text()
    assert "supersecretvalue" not in text and "***" in text


# -- a certification family that promised checks and did not deliver them --------------------------------
def test_a_family_that_raised_records_error_checks_with_the_redacted_exception(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_API_KEY", "pcsk_supersecretvalue123")
    pytester.makeconftest(FAMILY_CONFTEST)
    pytester.makepyfile(
        """
        import os
        import pytest
        from harness.model import Check, Status

        @pytest.fixture
        def scanned():
            raise ConnectionError(f"source went away while scanning (key {os.environ['PINECONE_API_KEY']})")

        @pytest.mark.ragmig_certification(checks=("schema.dimension",))
        def test_schema(harness_checks):
            harness_checks.add(Check("schema.dimension", Status.PASS, 8, 8))

        @pytest.mark.ragmig_certification(checks=("parity.count", "parity.ids"))
        def test_parity(scanned, harness_checks):
            harness_checks.add(Check("parity.count", Status.PASS, 1, 1))
        """
    )
    result = pytester.runpytest("--strict-markers", *STORES, "--ragmig-verdict-json", "v.json")
    result.assert_outcomes(passed=1, errors=1)
    verdict = verdict_of(pytester)
    assert verdict["verdict"] == "error"
    checks = checks_of(verdict)
    assert checks["schema.dimension"]["status"] == "pass"
    for cid in ("parity.count", "parity.ids"):
        assert checks[cid]["status"] == "error"
        assert "ConnectionError: source went away while scanning" in str(checks[cid]["message"])
        assert "(in setup)" in str(checks[cid]["message"])
    assert str(verdict["incomplete"]).startswith("parity.* did not complete: ConnectionError")
    assert "supersecretvalue" not in (pytester.path / "v.json").read_text()


def test_findings_fail_the_verdict_but_an_exception_after_recording_makes_it_incomplete(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FAMILY_CONFTEST)
    pytester.makepyfile(
        test_findings="""
        import pytest
        from harness.model import Check, Status

        @pytest.mark.ragmig_certification(checks=("parity.ids",))
        def test_parity(harness_checks):
            harness_checks.add(Check("parity.ids", Status.FAIL, 9, 10, "1 missing"))
            assert False, "parity.ids: 1 missing"
        """
    )
    pytester.runpytest(*STORES, "--ragmig-verdict-json", "v.json").assert_outcomes(failed=1)
    verdict = verdict_of(pytester)
    assert verdict["verdict"] == "fail" and "incomplete" not in verdict

    (pytester.path / "test_findings.py").unlink()
    pytester.makepyfile(
        test_crash="""
        import pytest
        from harness.model import Check, Status

        @pytest.mark.ragmig_certification(checks=("parity.ids",))
        def test_parity(harness_checks):
            harness_checks.add(Check("parity.ids", Status.PASS, 10, 10))
            raise KeyError("plot data")
        """
    )
    pytester.runpytest(*STORES, "--ragmig-verdict-json", "v.json").assert_outcomes(failed=1)
    verdict = verdict_of(pytester)
    assert verdict["verdict"] == "error"
    assert "raised after recording its checks: KeyError: 'plot data' (in call)" in str(verdict["incomplete"])


def test_a_skipped_or_never_run_family_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAMILY_CONFTEST)
    pytester.makepyfile(
        """
        import pytest
        from harness.model import Check, Status

        @pytest.mark.ragmig_certification(checks=("schema.dimension",))
        def test_schema(harness_checks):
            pytest.skip("no schema today")

        @pytest.mark.ragmig_certification(checks=("parity.ids",))
        def test_parity(harness_checks):
            harness_checks.add(Check("parity.ids", Status.FAIL, 1, 2, "missing"))
            assert False

        @pytest.mark.ragmig_certification(checks=("quality.overlap",))
        def test_quality(harness_checks):
            harness_checks.add(Check("quality.overlap", Status.PASS, 1.0, 0.9))
        """
    )
    # -x stops after the parity finding: quality never runs.
    result = pytester.runpytest("-p", "no:randomly", "-x", *STORES, "--ragmig-verdict-json", "v.json")
    result.assert_outcomes(skipped=1, failed=1)
    verdict = verdict_of(pytester)
    checks = checks_of(verdict)
    assert verdict["verdict"] == "error"
    assert checks["schema.dimension"]["status"] == "error"
    assert checks["schema.dimension"]["message"] == "did not complete: skipped: no schema today"
    assert checks["parity.ids"]["status"] == "fail"
    assert checks["quality.overlap"]["status"] == "error"
    assert checks["quality.overlap"]["message"] == "did not complete: the session ended before it ran"
    assert "schema.* did not complete" in str(verdict["incomplete"])
    assert "quality.* did not complete" in str(verdict["incomplete"])


@pytest.mark.parametrize(
    ("stores", "missing"),
    [
        ((), "--ragmig-source and --ragmig-target are missing or empty"),
        (("--ragmig-source", "", "--ragmig-target", ""), "--ragmig-source and --ragmig-target are missing or empty"),
        (("--ragmig-source", "exact://a"), "--ragmig-target is missing or empty"),
        (("--ragmig-target", "exact://b"), "--ragmig-source is missing or empty"),
        (("--ragmig-source", "  ", "--ragmig-target", "exact://b"), "--ragmig-source is missing or empty"),
    ],
)
def test_selecting_a_family_without_both_stores_is_a_usage_error_and_writes_no_verdict(
    pytester: pytest.Pytester, stores: tuple[str, ...], missing: str
) -> None:
    pytester.makeconftest(FAMILY_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.ragmig_certification(checks=("schema.dimension",))
        def test_schema():
            pass
        """
    )
    result = pytester.runpytest(*stores, "--ragmig-verdict-json", "v.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*the certification suite needs both stores: {missing}*"])
    assert not (pytester.path / "v.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ragmig-source", "exact://same", "--ragmig-target", "exact://same"), "name the same store"),
        ((*STORES, "--ragmig-k", "0"), "--ragmig-k must be between 1 and 1000, got 0"),
        ((*STORES, "--ragmig-k", "1000000000"), "--ragmig-k must be between 1 and 1000, got 1000000000"),
        ((*STORES, "--ragmig-queries", "-1"), "--ragmig-queries must be at least 0"),
        (("--ragmig-source", "nonsense://x", "--ragmig-target", "exact://b"), "unknown store scheme 'nonsense'"),
        ((*STORES, "--ragmig-query-vectors", "queries.txt"), "query file queries.txt not found"),
        ((*STORES, "--ragmig-query-vectors", "absent.npy"), "absent.npy not found"),
        ((*STORES, "--ragmig-thresholds", "absent.toml"), "thresholds file absent.toml not found"),
    ],
)
def test_bad_store_or_bound_options_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    pytester.makeconftest(FAMILY_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.ragmig_certification(checks=("schema.dimension",))
        def test_schema():
            pass
        """
    )
    result = pytester.runpytest(*args, "--ragmig-verdict-json", "v.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert not Path(pytester.path / "v.json").exists()
