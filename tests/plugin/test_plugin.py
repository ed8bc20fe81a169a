"""Acceptance tests of the pytest plugin: real pytest sessions run with pytester."""

import json

import pytest


def test_option_group_is_listed_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["rag-migration-harness:", "*--source=*", "*--target=*", "*--queries=*", "*--k=*", "*--thresholds=*"]
    )


def test_markers_are_registered_under_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.certification
        def test_a():
            pass

        @pytest.mark.gameday
        def test_b():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=2)


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
    result = pytester.runpytest("--verdict-json", "out/verdict.json")
    result.assert_outcomes(passed=2)
    verdict = json.loads((pytester.path / "out" / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    assert [c["id"] for c in verdict["checks"]] == ["parity.count", "parity.ids", "schema.dimension"]
    assert verdict["checks"][1]["details"] == {"missing_count": 1}
    assert verdict["source"] == {"uri": "exact://s", "count": 10}


def test_store_fixtures_skip_without_uris_and_open_with_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_source(source_store):
            assert source_store.uri == "exact://plugin-src"
        """
    )
    pytester.runpytest().assert_outcomes(skipped=1)
    pytester.runpytest("--source", "exact://plugin-src").assert_outcomes(passed=1)


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
    pytester.runpytest("--verdict-json", "v.json").assert_outcomes(passed=1)
    text = (pytester.path / "v.json").read_text()
    assert "supersecretvalue" not in text and "***" in text
