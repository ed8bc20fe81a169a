"""The pytest plugin (``pytest11`` entry point ``harness``): options, markers, store fixtures, verdicts.

Cheap to import: heavy parts (stores, verification) are imported inside fixtures and hooks.

Tests record checks with the ``harness_checks`` fixture; each check travels on the test's report
(``user_properties``), so only the controller process collects them and writes the JSON verdict
(``--verdict-json``), pytest-xdist safe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.model import Check, Verdict
    from harness.stores.base import VectorStore

CHECK_PROPERTY = "harness_check"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "rag-migration-harness")
    group.addoption("--source", dest="harness_source", default=None, help="source store URI")
    group.addoption("--target", dest="harness_target", default=None, help="target store URI")
    group.addoption("--queries", dest="harness_queries", type=int, default=200, help="queries sampled from the source")
    group.addoption("--k", dest="harness_k", type=int, default=10, help="neighbours per query")
    group.addoption("--thresholds", dest="harness_thresholds", default=None, help="thresholds TOML file")
    group.addoption("--verdict-json", dest="harness_verdict_json", default=None, help="write the JSON verdict here")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "certification: a certification check family (needs --source/--target)")
    config.addinivalue_line("markers", "gameday: a game-day scenario on the embedded stack")
    config.addinivalue_line("markers", "docker: needs a reachable Docker engine (skipped otherwise)")
    config.addinivalue_line("markers", "slow: a test that takes more than a few seconds")
    if not hasattr(config, "workerinput"):  # only the controller collects checks and writes reports
        config.pluginmanager.register(VerdictCollector(config), "harness-verdict")


class VerdictCollector:
    """Collects checks from test reports and writes the verdict at the end of the session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.checks: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.source: dict[str, Any] = {}
        self.target: dict[str, Any] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Runs in the controller (also under xdist): harvest the checks a test recorded."""
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == CHECK_PROPERTY:
                self.checks.append(json.loads(str(value)))
            elif name == "harness_side":
                side = json.loads(str(value))
                getattr(self, side["side"]).update(side["info"])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        path = self.config.getoption("harness_verdict_json", None)
        if path:
            out = Path(path)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(self.verdict().to_json() + "\n")

    def verdict(self) -> Verdict:
        from harness.model import Verdict

        return Verdict.from_dict(
            {
                "checks": self.checks,
                "source": self.source,
                "target": self.target,
                "duration_s": time.monotonic() - self.started,
            }
        )


class CheckRecorder:
    """What a test uses to record checks: ``harness_checks.add(check)``."""

    def __init__(self, node: pytest.Item) -> None:
        self.node = node
        self.checks: list[Check] = []

    def add(self, check: Check) -> Check:
        """Record ``check`` for the verdict and return it."""
        from harness.redact import redact_text

        self.checks.append(check)
        self.node.user_properties.append((CHECK_PROPERTY, redact_text(json.dumps(check.to_dict()))))
        return check

    def describe_side(self, side: str, info: dict[str, Any]) -> None:
        """Record what the verdict says of the ``source`` or ``target`` store (uri, count, schema)."""
        from harness.redact import redact_text

        self.node.user_properties.append(("harness_side", redact_text(json.dumps({"side": side, "info": info}))))


@pytest.fixture
def harness_checks(request: pytest.FixtureRequest) -> CheckRecorder:
    """Records ``Check``s of this test into the session's JSON verdict."""
    return CheckRecorder(request.node)


def _open_from_option(request: pytest.FixtureRequest, option: str) -> VectorStore:
    uri = request.config.getoption(option)
    if not uri:
        pytest.skip(f"no --{option.removeprefix('harness_')} URI given")
    from harness.stores import open_store

    return open_store(uri)


@pytest.fixture(scope="session")
def source_store(request: pytest.FixtureRequest) -> Iterator[VectorStore]:
    """The store named by ``--source`` (skips the test when it is not given)."""
    store = _open_from_option(request, "harness_source")
    yield store
    store.close()


@pytest.fixture(scope="session")
def target_store(request: pytest.FixtureRequest) -> Iterator[VectorStore]:
    """The store named by ``--target`` (skips the test when it is not given)."""
    store = _open_from_option(request, "harness_target")
    yield store
    store.close()
