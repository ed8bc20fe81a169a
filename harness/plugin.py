"""The pytest plugin (``pytest11`` entry point ``harness``): the ``ragmig`` option group, store fixtures, verdicts.

Cheap to import, and quiet in projects that never use it: it adds one option group whose options all
start with ``--ragmig-``, registers no marker (each suite registers its own in its conftest) and does
nothing else until a test asks for one of its fixtures. Heavy parts (stores, verification) are imported
inside fixtures and hooks.

Tests record checks with the ``harness_checks`` fixture; each check travels on the test's report
(``user_properties``), so only the controller process collects them and writes the JSON verdict
(``--ragmig-verdict-json``), pytest-xdist safe.

A test marked ``ragmig_certification(checks=(...))`` promises those check ids. Selecting such a test
without both store options is a usage error (exit 4, no verdict written). A promised id the test did
not record — it raised, was skipped, or never ran — becomes an ``error`` check carrying the reason, and
the verdict's ``incomplete`` says which families did not complete: a run that could not finish is
never a pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.model import Check, Verdict
    from harness.stores.base import VectorStore
    from harness.verify.preflight import Preflight
    from harness.verify.queries import QuerySet

CHECK_PROPERTY = "harness_check"
SIDE_PROPERTY = "harness_side"
RUN_PROPERTY = "ragmig_run"  # what the verdict says of the run itself (thresholds in force)
EXPECTS_PROPERTY = "ragmig_expects"  # [check ids] a selected test promises
CRASH_PROPERTY = "ragmig_crash"  # an exception (not a findings assertion) in setup, call or teardown
CERTIFICATION_MARKER = "ragmig_certification"
REASON_CLIP = 300  # characters of an exception message kept in a check
PREFLIGHT_KEY: pytest.StashKey[Preflight] = pytest.StashKey()  # the stores ragmig certify's session checked


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ragmig", "rag-migration-harness (ragmig): the certification suite")
    group.addoption("--ragmig-source", dest="ragmig_source", metavar="URI", default=None, help="source store URI")
    group.addoption("--ragmig-target", dest="ragmig_target", metavar="URI", default=None, help="target store URI")
    group.addoption(
        "--ragmig-queries",
        dest="ragmig_queries",
        metavar="N",
        type=int,
        default=None,
        help="queries sampled from the source (default 200; all records when it holds fewer)",
    )
    group.addoption(
        "--ragmig-query-vectors",
        dest="ragmig_query_vectors",
        metavar="FILE",
        default=None,
        help="ask these queries instead of sampling the source: a .npy array (a vector a row) or .jsonl lines "
        'with "vector" and optionally "id", "namespace", "filter", "sparse"',
    )
    group.addoption(
        "--ragmig-k",
        dest="ragmig_k",
        metavar="K",
        type=int,
        default=None,
        help="neighbours per query (default 10; fewer when the source holds fewer)",
    )
    group.addoption(
        "--ragmig-sample",
        dest="ragmig_sample",
        metavar="N",
        type=int,
        default=None,
        help="sampled parity: N uniformly drawn source records fetched from both sides, the verdict stating "
        "the bound it proves (the CI-speed mode; the default full scan is what a final gate uses)",
    )
    group.addoption(
        "--ragmig-workers",
        dest="ragmig_workers",
        metavar="N",
        default="auto",
        help="worker processes of a local Dask cluster for the scan (1: in this process; default auto: the "
        "CPU count from 200,000 records on, else 1)",
    )
    group.addoption(
        "--ragmig-cluster",
        dest="ragmig_cluster",
        metavar="ADDRESS",
        default=None,
        help="scan on the Dask cluster of this scheduler (tcp://HOST:8786) instead of a local one",
    )
    group.addoption(
        "--ragmig-thresholds",
        dest="ragmig_thresholds",
        metavar="FILE.toml",
        default=None,
        help="thresholds TOML file (gates, accept)",
    )
    group.addoption(
        "--ragmig-preflight",
        dest="ragmig_preflight",
        metavar="FILE",
        default=None,
        help="ragmig certify's own: check the stores as the session starts (harness.verify.preflight), keep "
        "them open for the run, and write a bad input's one line to FILE",
    )
    group.addoption(
        "--ragmig-verdict-json",
        dest="ragmig_verdict_json",
        metavar="FILE",
        default=None,
        help="write the JSON verdict here",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # only the controller collects checks and writes reports
        config.pluginmanager.register(VerdictCollector(config), "harness-verdict")


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: only what will run counts
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a certification run without its stores; make each test's report carry the checks it promises."""
    promised = {item: _promised_checks(item) for item in items if item.get_closest_marker(CERTIFICATION_MARKER)}
    if not promised:
        return
    check_certification_options(config)
    for item, check_ids in promised.items():
        if check_ids:
            item.user_properties.append((EXPECTS_PROPERTY, json.dumps(check_ids)))


def _promised_checks(item: pytest.Item) -> list[str]:
    marker = item.get_closest_marker(CERTIFICATION_MARKER)
    return [str(cid) for cid in marker.kwargs.get("checks", ())] if marker is not None else []


def check_certification_options(config: pytest.Config) -> None:
    """``pytest.UsageError`` (exit 4) unless both stores are named and distinct, ``--ragmig-k`` and
    ``--ragmig-queries`` are in range, ``--ragmig-query-vectors`` names a query file that parses and that
    the source can answer (``harness.verify.queries``), and the ``--ragmig-thresholds`` file validates."""
    from harness.errors import UsageError
    from harness.stores import same_store
    from harness.verify.run import MAX_K

    source = (config.getoption("ragmig_source") or "").strip()
    target = (config.getoption("ragmig_target") or "").strip()
    missing = [name for name, value in (("--ragmig-source", source), ("--ragmig-target", target)) if not value]
    if missing:
        raise pytest.UsageError(
            f"the certification suite needs both stores: {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing or empty (give store URIs, e.g. qdrant-edge:///DIR)"
        )
    try:
        same = same_store(source, target)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    if same:
        raise pytest.UsageError(
            f"--ragmig-source and --ragmig-target name the same store ({target}); certify a copy against its source"
        )
    k, queries = config.getoption("ragmig_k"), config.getoption("ragmig_queries")
    if k is not None and not 1 <= k <= MAX_K:
        raise pytest.UsageError(f"--ragmig-k must be between 1 and {MAX_K}, got {k}")
    if queries is not None and queries < 0:
        raise pytest.UsageError(f"--ragmig-queries must be at least 0, got {queries}")
    sample = config.getoption("ragmig_sample")
    if sample is not None and sample < 1:
        raise pytest.UsageError(f"--ragmig-sample must be at least 1, got {sample}")
    workers = config.getoption("ragmig_workers")
    if str(workers) != "auto" and not (str(workers).isdigit() and int(workers) >= 1):
        raise pytest.UsageError(f"--ragmig-workers must be a number of worker processes (>= 1) or auto, got {workers}")
    preflight_file = config.getoption("ragmig_preflight")
    if config.getoption("ragmig_query_vectors") and not preflight_file:
        try:
            _check_query_file(config, source)
        except UsageError as exc:
            raise pytest.UsageError(f"--ragmig-query-vectors: {exc}") from None
    thresholds = config.getoption("ragmig_thresholds")
    if thresholds:
        from harness.verify import load_thresholds

        try:
            load_thresholds(thresholds)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
    if preflight_file and PREFLIGHT_KEY not in config.stash:
        from harness.verify.preflight import preflight, write_failure

        try:
            config.stash[PREFLIGHT_KEY] = preflight(source, target, queries, k, query_vectors_option(config))
        except UsageError as exc:
            write_failure(Path(preflight_file), exc)
            raise pytest.UsageError(str(exc)) from None


def run_sizes(config: pytest.Config) -> tuple[int, int]:
    """(queries, k) of the session's run: the preflight's (fitted to the source) under ``ragmig certify``,
    else the options, 200 and 10 when not given (the run samples no more queries than the source holds)."""
    from harness.verify.preflight import DEFAULT_K, DEFAULT_QUERIES

    checked = config.stash.get(PREFLIGHT_KEY, None)
    if checked is not None:
        return checked.queries, checked.k
    queries, k = config.getoption("ragmig_queries"), config.getoption("ragmig_k")
    return (DEFAULT_QUERIES if queries is None else queries), (DEFAULT_K if k is None else k)


def pytest_unconfigure(config: pytest.Config) -> None:
    checked = config.stash.get(PREFLIGHT_KEY, None)
    if checked is not None:
        checked.close()


def _check_query_file(config: pytest.Config, source: str) -> None:
    """Parse the query file (kept for the session) and check that the source can answer it. A source that
    cannot be opened or read now is left for the suite, which reports it as an error check."""
    from harness.errors import HarnessError, UsageError
    from harness.stores import open_store
    from harness.verify.preflight import check_queries

    queries = query_vectors_option(config)
    if queries is None:
        return
    try:
        store = open_store(source)
    except HarnessError:
        return
    try:
        try:
            store.describe()
        except HarnessError:
            return
        check_queries(queries, store, source)
    except UsageError:
        raise
    except HarnessError:
        return
    finally:
        store.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Mark the report of a certification test that raised (rather than asserted findings or skipped)."""
    report = yield
    if call.excinfo is not None and item.get_closest_marker(CERTIFICATION_MARKER) is not None:
        exc = call.excinfo.value
        findings = isinstance(exc, AssertionError) and call.when == "call"
        if not findings and not isinstance(exc, pytest.skip.Exception):
            report.user_properties.append((CRASH_PROPERTY, json.dumps({"when": call.when, "error": _reason(exc)})))
    return report


def _reason(exc: BaseException) -> str:
    """``Type: message`` on one line, redacted and clipped."""
    from harness.redact import redact_text

    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    text = redact_text(text)
    return text if len(text) <= REASON_CLIP else text[: REASON_CLIP - 1] + "…"


def _utc_now() -> str:
    """Now as ISO 8601 UTC with milliseconds (``2026-12-01T09:30:00.123Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class VerdictCollector:
    """Collects checks from test reports and writes the verdict at the end of the session.

    Every promised check id a test did not record becomes an ``error`` check (with the exception, the
    skip reason, or "did not run"), and ``incomplete`` names the families that did not complete.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.checks: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.started_at = _utc_now()
        self.finished_at: str | None = None
        self.duration_s: float | None = None
        self.source: dict[str, Any] = {}
        self.target: dict[str, Any] = {}
        self.run: dict[str, Any] = {}
        self.expects: dict[str, list[str]] = {}
        self.finished_tests: set[str] = set()
        self.problems: dict[str, str] = {}  # nodeid -> why its checks are missing (first one wins)
        self.incomplete: list[str] = []
        self.exitstatus: int | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Learn every promise up front, so a test that never reports (the session stopped) is noticed.

        Under pytest-xdist the controller collects nothing: promises then arrive with the reports, and
        ``ragmig certify`` checks that every check family reported.
        """
        for item in session.items:
            for name, value in item.user_properties:
                if name == EXPECTS_PROPERTY:
                    self.expects[item.nodeid] = json.loads(str(value))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Runs in the controller (also under xdist): harvest what a test recorded, and what went wrong."""
        for name, value in report.user_properties:
            if name == EXPECTS_PROPERTY:
                self.expects[report.nodeid] = json.loads(str(value))
            elif name == CRASH_PROPERTY:
                crash = json.loads(str(value))
                self.problems.setdefault(report.nodeid, f"{crash['error']} (in {crash['when']})")
        if report.skipped and report.nodeid in self.expects:
            self.problems.setdefault(report.nodeid, f"skipped: {_skip_reason(report)}")
        if report.when != "teardown":
            return
        recorded: set[str] = set()
        for name, value in report.user_properties:
            if name == CHECK_PROPERTY:
                check = json.loads(str(value))
                recorded.add(check["id"])
                self.checks.append(check)
            elif name == SIDE_PROPERTY:
                side = json.loads(str(value))
                getattr(self, side["side"]).update(side["info"])
            elif name == RUN_PROPERTY:
                self.run.update(json.loads(str(value)))
        self.finished_tests.add(report.nodeid)
        missing = [cid for cid in self.expects.get(report.nodeid, ()) if cid not in recorded]
        problem = self.problems.get(report.nodeid)
        if missing:
            self._unfinished(missing, problem or "the test recorded no result for it")
        elif problem is not None and report.nodeid in self.expects:
            # Its checks were recorded, then something else raised: do not vouch for the run.
            self.incomplete.append(f"{report.nodeid} raised after recording its checks: {problem}")

    def _unfinished(self, check_ids: list[str], reason: str) -> None:
        from harness.model import Check, Status

        for cid in check_ids:
            self.checks.append(Check(cid, Status.ERROR, None, None, f"did not complete: {reason}").to_dict())
        families = ", ".join(dict.fromkeys(f"{cid.split('.')[0]}.*" for cid in check_ids))
        self.incomplete.append(f"{families} did not complete: {reason}")

    @pytest.hookimpl(tryfirst=True)  # before pytest-html renders the summary from this verdict
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)
        self.finished_at = _utc_now()
        self.duration_s = time.monotonic() - self.started
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            return  # nothing ran: no verdict at all, and certainly not a passing one
        for nodeid, check_ids in self.expects.items():
            if nodeid not in self.finished_tests:
                self.finished_tests.add(nodeid)
                self._unfinished(check_ids, self.problems.get(nodeid, "the session ended before it ran"))
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR) and not self.incomplete:
            self.incomplete.append(f"the pytest session was interrupted (exit {int(exitstatus)})")
        if not self.checks and not self.incomplete:
            self.incomplete.append("no check recorded a result")
        path = self.config.getoption("ragmig_verdict_json", None)
        if path:
            from harness.outputs import write_text_atomic

            write_text_atomic(Path(path), self.verdict().to_json() + "\n")

    def verdict(self) -> Verdict:
        """The verdict from what has been collected so far."""
        from harness.model import Verdict

        return Verdict.from_dict(
            {
                "checks": self.checks,
                "source": self.source,
                "target": self.target,
                "duration_s": self.duration_s if self.duration_s is not None else time.monotonic() - self.started,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "thresholds": self.run.get("thresholds") or {},
                "accepted": [c["id"] for c in self.checks if (c.get("details") or {}).get("accepted")],
                "incomplete": "; ".join(self.incomplete) or None,
            }
        )


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


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

        self.node.user_properties.append((SIDE_PROPERTY, redact_text(json.dumps({"side": side, "info": info}))))

    def describe_run(self, *, thresholds: dict[str, Any]) -> None:
        """Record the gates in force (the verdict's ``thresholds``)."""
        self.node.user_properties.append((RUN_PROPERTY, json.dumps({"thresholds": thresholds})))


@pytest.fixture
def harness_checks(request: pytest.FixtureRequest) -> CheckRecorder:
    """Records ``Check``s of this test into the session's JSON verdict."""
    return CheckRecorder(request.node)


def _open_from_option(request: pytest.FixtureRequest, option: str) -> VectorStore:
    uri = (request.config.getoption(option) or "").strip()
    if not uri:
        pytest.skip(f"no --{option.replace('_', '-')} URI given")
    from harness.stores import open_store

    return open_store(uri)


@pytest.fixture(scope="session")
def ragmig_source_store(request: pytest.FixtureRequest) -> Iterator[VectorStore]:
    """The store named by ``--ragmig-source`` (skips the test when it is not given; the preflight's, open
    already, under ``ragmig certify``)."""
    checked = request.config.stash.get(PREFLIGHT_KEY, None)
    store = checked.source if checked is not None else _open_from_option(request, "ragmig_source")
    yield store
    store.close()


@pytest.fixture(scope="session")
def ragmig_target_store(request: pytest.FixtureRequest) -> Iterator[VectorStore]:
    """The store named by ``--ragmig-target`` (skips the test when it is not given; the preflight's, open
    already, under ``ragmig certify``)."""
    checked = request.config.stash.get(PREFLIGHT_KEY, None)
    store = checked.target if checked is not None else _open_from_option(request, "ragmig_target")
    yield store
    store.close()


QUERIES_KEY = "_ragmig_query_set"


def query_vectors_option(config: pytest.Config) -> QuerySet | None:
    """The queries of ``--ragmig-query-vectors`` (``harness.verify.queries.load_query_file``: a ``.npy``
    array or ``.jsonl`` lines), read once per session; None when not given. ``harness.errors.UsageError``
    (one line) for a file that does not parse."""
    path = config.getoption("ragmig_query_vectors")
    if not path:
        return None
    cached: QuerySet | None = getattr(config, QUERIES_KEY, None)
    if cached is None:
        from harness.verify.queries import load_query_file

        cached = load_query_file(Path(path))
        setattr(config, QUERIES_KEY, cached)
    return cached
