"""Fixtures and report hooks of the certification suite.

``verification_run`` is built once per session from the plugin's ``source_store``/``target_store`` and
the ``--queries``/``--k``/``--thresholds`` options; each family test records its checks through
``harness_checks``. The HTML report (pytest-html) gets the verdict, every check and the plots at the top.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.stores.base import VectorStore
    from harness.verify import VerificationRun

RUN_KEY = pytest.StashKey["VerificationRun"]()
FAMILY_ORDER = ("test_schema", "test_parity", "test_quality", "test_latency")  # the verdict's order


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the families in the order of design.md's check ids, whatever the file names sort to."""
    rank = {name: i for i, name in enumerate(FAMILY_ORDER)}
    items.sort(key=lambda item: rank.get(getattr(item, "originalname", item.name), len(rank)))


@pytest.fixture(scope="session")
def verification_run(
    request: pytest.FixtureRequest, source_store: VectorStore, target_store: VectorStore
) -> Iterator[VerificationRun]:
    """The session's one verification of ``--target`` against ``--source``."""
    from harness.verify import VerificationRun, load_thresholds

    config = request.config
    path = config.getoption("harness_thresholds")
    run = VerificationRun(
        source_store,
        target_store,
        queries=config.getoption("harness_queries"),
        k=config.getoption("harness_k"),
        thresholds=load_thresholds(path) if path else None,
    )
    config.stash[RUN_KEY] = run
    yield run
    run.close()


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
    from harness.reporting.plots import latency_plots, quality_plots

    collector = session.config.pluginmanager.get_plugin("harness-verdict")
    if collector is None:
        return
    run = session.config.stash.get(RUN_KEY, None)
    plots = []
    if run is not None:
        data = run.plot_data()
        plots = quality_plots(data, run.k) + latency_plots(data, run.thresholds.p99_ms_max)
    prefix.append(summary_html(collector.verdict(), plots))
