"""Fixtures and report hooks of the certification suite.

``verification_run`` is built once per session from the plugin's ``ragmig_source_store`` /
``ragmig_target_store`` and the ``--ragmig-queries`` / ``--ragmig-query-vectors`` / ``--ragmig-k`` /
``--ragmig-thresholds`` / ``--ragmig-sample`` options. Each family test is marked ``ragmig_certification(checks=...)`` with the
check ids it promises; its checks are computed in the ``family`` fixture, so an exception there
is a setup error (JUnit ``<error>``) and the plugin turns every promised id into an ``error`` check. The
HTML report (pytest-html) gets the verdict, every check and the plots at the top.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.progress import Progress
    from harness.stores.base import VectorStore
    from harness.verify import VerificationRun
    from scenarios.certification.recording import Family

RUN_KEY = pytest.StashKey["VerificationRun"]()
FAMILY_ORDER = ("test_schema", "test_parity", "test_quality", "test_latency")  # the verdict's order


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ragmig_certification(checks): a certification check family promising these check ids "
        "(needs --ragmig-source and --ragmig-target)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the families in the order of design.md's check ids, whatever the file names sort to."""
    rank = {name: i for i, name in enumerate(FAMILY_ORDER)}
    items.sort(key=lambda item: rank.get(getattr(item, "originalname", item.name), len(rank)))


@pytest.fixture(scope="session")
def verification_run(
    request: pytest.FixtureRequest, ragmig_source_store: VectorStore, ragmig_target_store: VectorStore
) -> Iterator[VerificationRun]:
    """The session's one verification of ``--ragmig-target`` against ``--ragmig-source``."""
    from harness.plugin import query_vectors_option, run_sizes
    from harness.verify import VerificationRun, load_thresholds

    config = request.config
    path = config.getoption("ragmig_thresholds")
    queries, k = run_sizes(config)
    run = VerificationRun(
        ragmig_source_store,
        ragmig_target_store,
        queries=queries,
        k=k,
        thresholds=load_thresholds(path) if path else None,
        query_vectors=query_vectors_option(config),
        sample=config.getoption("ragmig_sample"),
        workers=config.getoption("ragmig_workers"),
        cluster=config.getoption("ragmig_cluster"),
        progress=_progress(config),
    )
    config.stash[RUN_KEY] = run
    yield run
    run.close()


def _progress(config: pytest.Config) -> Progress:
    """Where the run's phases are shown: ``ragmig certify``'s pipe when this is its child session, else
    plain lines on stderr past pytest's capture (nothing under ``-q``)."""
    import sys

    from harness.progress import NO_PROGRESS, LineProgress, progress_from_env

    piped = progress_from_env()
    if piped is not None:
        return piped
    capture = config.pluginmanager.getplugin("capturemanager")
    if config.get_verbosity() < 0 or capture is None:
        return NO_PROGRESS

    def write(text: str) -> None:
        with capture.global_and_fixture_disabled():
            sys.stderr.write(text)
            sys.stderr.flush()

    return LineProgress(write)


@pytest.fixture
def family(request: pytest.FixtureRequest, verification_run: VerificationRun) -> Family:
    """The requesting test's family (named by ``test_<family>``), computed during setup: checks and both
    stores' descriptions. An exception here is a setup error, never a finding."""
    from scenarios.certification.recording import Family

    name = getattr(request.node, "originalname", request.node.name).removeprefix("test_")
    compute = {
        "schema": verification_run.schema_checks,
        "parity": verification_run.parity_checks,
        "quality": verification_run.quality_checks,
        "latency": verification_run.latency_checks,
    }[name]
    checks = compute()
    sides = {side: verification_run.side_info(side) for side in ("source", "target")}
    return Family(tuple(checks), sides, verification_run.thresholds.describe())


@pytest.fixture
def report_extras(request: pytest.FixtureRequest) -> list[Any]:
    """pytest-html's ``extras`` list when its fixtures are loaded, else a list nobody reads."""
    try:
        extras: list[Any] = request.getfixturevalue("extras")
    except pytest.FixtureLookupError:
        return []
    return extras


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    """Put the verdict, the stores, every check and the plots at the top of the HTML report."""
    from harness.reporting.html import summary_html
    from scenarios.certification.recording import family_plots

    collector = session.config.pluginmanager.get_plugin("harness-verdict")
    if collector is None:
        return
    run = session.config.stash.get(RUN_KEY, None)
    plots = []
    if run is not None:
        plots = family_plots(session.config, run, "quality") + family_plots(session.config, run, "latency")
    prefix.append(summary_html(collector.verdict(), plots))
