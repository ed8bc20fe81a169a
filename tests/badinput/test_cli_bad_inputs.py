"""Bad input to every command: one line on stderr naming the problem, exit 2, no traceback, and every file
that was there before the run byte-identical after it (nothing lost, nothing half-written).

Each row is (args, what the one line must say); ``{ws}`` is the case's private copy of the workspace
(tests/badinput/conftest.py). Commands run in-process through the real CLI object (the same code the
``ragmig`` console script runs, click's own usage errors included).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.badinput.conftest import assert_unchanged, snapshot

SRC = "qdrant-edge://{ws}/src"
NEW = "qdrant-edge://{ws}/new-target"
PC = "pinecone://idx?host=http://127.0.0.1:1/data/idx"


def _migrate(source: str = SRC, target: str = NEW, journal: str = "{ws}/j.sqlite", *extra: str) -> str:
    return shlex.join(["migrate", "--source", source, "--target", target, "--journal", journal, *extra])


def _resume(journal: str) -> str:
    return _migrate(SRC, NEW, f"{{ws}}/journals/{journal}", "--resume")


CASES: dict[str, tuple[str, str]] = {
    # -- migrate: store URIs -------------------------------------------------------------------------
    "migrate: unknown source scheme": (_migrate("mysql://db/table"), "unknown store scheme"),
    "migrate: unknown target scheme": (_migrate(SRC, "redis://x"), "unknown store scheme"),
    "migrate: no scheme": (_migrate("just-a-name"), "expected SCHEME://"),
    "migrate: relative edge dir": (_migrate("qdrant-edge://relative/dir"), "absolute directory"),
    "migrate: userinfo nested in host=": (
        _migrate("pinecone://idx?host=http://user:s3cr3t@127.0.0.1:5081"),
        "credentials do not belong in a URI",
    ),
    "migrate: userinfo in a pinecone authority": (_migrate("pinecone://user:s3cr3t@idx"), "credentials"),
    "migrate: api_key parameter": (_migrate(SRC, NEW + "?api_key=s3cr3t-key"), "credentials"),
    "migrate: percent-encoded userinfo in host=": (
        _migrate("pinecone://idx?host=http%3A%2F%2Fuser%3As3cr3t%40127.0.0.1"),
        "credentials",
    ),
    "migrate: unknown pinecone option": (_migrate("pinecone://idx?namespce=a", NEW), "unknown option"),
    "migrate: unknown edge option": (_migrate(SRC, NEW + "?mm=16"), "unknown option"),
    "migrate: bad distance option": (_migrate(SRC, NEW + "?distance=hamming"), "unknown distance"),
    "migrate: same store": (_migrate(SRC, SRC), "same store"),
    "migrate: no workers": (_migrate(SRC, NEW, "{ws}/j.sqlite", "--workers", "0"), "at least 1"),
    "migrate: same store, other spelling": (_migrate(SRC, "qdrant-edge://{ws}/./src/"), "same store"),
    "migrate: source does not exist": (_migrate("qdrant-edge://{ws}/nothing-here"), "nothing-here"),
    "migrate: source is a file": (_migrate("qdrant-edge://{ws}/afile"), "afile"),
    "migrate: pinecone host nobody listens on": (_migrate(PC), "check the host"),
    # -- migrate: the target -------------------------------------------------------------------------
    "migrate: non-empty target it did not create": (
        _migrate(SRC, "qdrant-edge://{ws}/foreign"),
        "already holds 12 records",
    ),
    "migrate: distance mismatch": (_migrate(SRC, "qdrant-edge://{ws}/dot"), "distance: cosine on the source"),
    "migrate: dimension mismatch": (_migrate(SRC, "qdrant-edge://{ws}/dim16"), "dimension: 8 on the source"),
    "migrate: datatype mismatch": (_migrate(SRC, "qdrant-edge://{ws}/f16"), "datatype: float32 on the source"),
    "migrate: target URI asks for another distance": (_migrate(SRC, NEW + "?distance=dot"), "distance: cosine"),
    # -- migrate: the journal ------------------------------------------------------------------------
    "migrate: --resume, journal missing": (_resume("typo.sqlite"), "does not exist"),
    "migrate: --resume, empty journal file": (_resume("empty.sqlite"), "does not exist (empty file)"),
    "migrate: --resume, journal holds no migration": (_resume("nomigration.sqlite"), "holds no migration"),
    "migrate: journal of another migration": (_resume("other.sqlite"), "holds a migration of"),
    "migrate: journal truncated": (_resume("truncated.sqlite"), "truncated"),
    "migrate: journal cut to one page": (_resume("onepage.sqlite"), "truncated"),
    "migrate: journal is garbage": (_resume("garbage.sqlite"), "not a ragmig journal"),
    "migrate: journal is a text file": (_resume("text.sqlite"), "not a ragmig journal"),
    "migrate: journal page overwritten": (_resume("overwritten.sqlite"), "damaged"),
    "migrate: journal of another program": (_resume("foreign.sqlite"), "another program"),
    "migrate: journal from a newer ragmig": (_resume("newer.sqlite"), "newer ragmig"),
    "migrate: journal cursor moved": (_resume("moved.sqlite"), "impossible checkpoint"),
    "migrate: journal done ahead": (_resume("ahead.sqlite"), "ahead of acknowledged progress"),
    "migrate: journal state not JSON": (_resume("badstate.sqlite"), "state value"),
    "migrate: journal unknown status": (_resume("badstatus.sqlite"), "unknown status"),
    "migrate: journal is a directory": (_migrate(SRC, NEW, "{ws}/journals/adir.sqlite"), "is a directory"),
    "migrate: journal without --resume, truncated": (
        _migrate(SRC, NEW, "{ws}/journals/truncated.sqlite"),
        "truncated",
    ),
    "migrate: journal under a file": (_migrate(SRC, NEW, "{ws}/afile/j.sqlite"), "afile"),
    # -- migrate: report paths -----------------------------------------------------------------------
    "migrate: --json is a directory": (_migrate(SRC, NEW, "{ws}/j.sqlite", "--json", "{ws}/adir"), "is a directory"),
    "migrate: --html is a directory": (_migrate(SRC, NEW, "{ws}/j.sqlite", "--html", "{ws}/adir"), "is a directory"),
    "migrate: --junit is a directory": (_migrate(SRC, NEW, "{ws}/j.sqlite", "--junit", "{ws}/adir"), "is a directory"),
    "migrate: --json under a file": (_migrate(SRC, NEW, "{ws}/j.sqlite", "--json", "{ws}/afile/v.json"), "afile"),
    "migrate: --json over a good verdict, refused": (
        _migrate(SRC, "qdrant-edge://{ws}/dot", "{ws}/j.sqlite", "--json", "{ws}/reports/verdict.json"),
        "distance",
    ),
    # -- migrate: options ----------------------------------------------------------------------------
    "migrate: --batch-size 0": (_migrate(SRC, NEW, "{ws}/j.sqlite", "--batch-size", "0"), "--batch-size"),
    "migrate: --batch-size not a number": (_migrate(SRC, NEW, "{ws}/j.sqlite", "--batch-size", "many"), "--batch-size"),
    "migrate: missing --target": ("migrate --source " + SRC, "--target"),
    "migrate: unknown option": (_migrate(SRC, NEW, "{ws}/j.sqlite", "--into-exsting"), "--into-exsting"),
    # -- certify ---------------------------------------------------------------------------------------
    "certify: unknown scheme": ("certify --source nonsense://x --target " + NEW, "unknown store scheme"),
    "certify: userinfo in host=": (
        "certify --source pinecone://idx?host=http://u:s3cr3t@127.0.0.1:1 --target " + SRC,
        "credentials",
    ),
    "certify: target does not exist": ("certify --source " + SRC + " --target " + NEW, "does not exist"),
    "certify: no workers": (
        "certify --source " + SRC + " --target qdrant-edge://{ws}/foreign --workers 0",
        "at least 1",
    ),
    "certify: workers not a number": (
        "certify --source " + SRC + " --target qdrant-edge://{ws}/foreign --workers many",
        "number of worker processes",
    ),
    "certify: thresholds missing": (
        "certify --source " + SRC + " --target qdrant-edge://{ws}/foreign --thresholds {ws}/nope.toml",
        "nope.toml",
    ),
    "certify: thresholds malformed": (
        "certify --source " + SRC + " --target qdrant-edge://{ws}/foreign --thresholds {ws}/thresholds-malformed.toml",
        "thresholds-malformed.toml",
    ),
    "certify: thresholds not UTF-8": (
        "certify --source " + SRC + " --target qdrant-edge://{ws}/foreign --thresholds {ws}/thresholds-binary.toml",
        "thresholds-binary.toml",
    ),
    "certify: thresholds is a directory": (
        "certify --source " + SRC + " --target qdrant-edge://{ws}/foreign --thresholds {ws}/adir",
        "adir",
    ),
    "certify: --queries 0": ("certify --source " + SRC + " --target " + SRC + " --queries 0", "--queries"),
    "certify: --k not a number": ("certify --source " + SRC + " --target " + SRC + " --k ten", "--k"),
    # -- plan ------------------------------------------------------------------------------------------
    "plan: config missing": ("plan --config {ws}/configs/nope.toml", "no such file"),
    "plan: config is a directory": ("plan --config {ws}/configs/adir.toml", "adir.toml"),
    "plan: config not UTF-8": ("plan --config {ws}/configs/latin1.toml", "latin1.toml: not UTF-8"),
    "plan: config is binary": ("plan --config {ws}/configs/binary.toml", "binary.toml: not UTF-8"),
    "plan: malformed TOML": ("plan --config {ws}/configs/malformed.toml", "malformed TOML"),
    "plan: unknown key": ("plan --config {ws}/configs/unknown-key.toml", "surprise"),
    "plan: wrong type": ("plan --config {ws}/configs/wrong-type.toml", "steps"),
    "plan: steps that go down": ("plan --config {ws}/configs/bad-steps.toml", "steps"),
    "plan: bad store URI": ("plan --config {ws}/configs/bad-uri.toml", "mysql"),
    "plan: credentials in a URI": ("plan --config {ws}/configs/userinfo.toml", "credentials"),
    "plan: empty config": ("plan --config {ws}/configs/empty.toml", "empty.toml"),
    "plan: --out is a directory": ("plan --config {ws}/configs/good.toml --out {ws}/adir", "is a directory"),
    "plan: --out under a file": ("plan --config {ws}/configs/good.toml --out {ws}/afile/runbook.md", "afile"),
    "plan: --out directory, bad config too": ("plan --config {ws}/configs/malformed.toml --out {ws}/adir", "adir"),
    # -- gameday ---------------------------------------------------------------------------------------
    "gameday: unknown scenario": ("gameday --scenario meteor_strike", "unknown scenario"),
    "gameday: --json is a directory": ("gameday --scenario schema_drift --json {ws}/adir", "is a directory"),
    "gameday: --html under a file": ("gameday --scenario schema_drift --html {ws}/afile/g.html", "afile"),
    # -- bench -----------------------------------------------------------------------------------------
    "bench: unknown benchmark": ("bench --only warp_speed", "unknown benchmark"),
    "bench: --json is a directory": ("bench --only warp_speed --json {ws}/adir", "is a directory"),
    # -- serve-pinecone --------------------------------------------------------------------------------
    "serve-pinecone: all interfaces without a key": ("serve-pinecone --host 0.0.0.0 --port 0", "--api-key"),
    "serve-pinecone: IPv6 any without a key": ("serve-pinecone --host :: --port 0", "--api-key"),
    "serve-pinecone: a LAN address without a key": ("serve-pinecone --host 10.1.2.3 --port 0", "--api-key"),
    "serve-pinecone: empty key": ("serve-pinecone --port 0 --api-key ''", "--api-key is empty"),
    "serve-pinecone: port out of range": ("serve-pinecone --port 70000", "70000"),
    "serve-pinecone: port not a number": ("serve-pinecone --port http", "--port"),
    "serve-pinecone: host that does not resolve": ("serve-pinecone --host no.such.host.invalid --port 0", "--api-key"),
    "serve-pinecone: data dir is a file": ("serve-pinecone --port 0 --data-dir {ws}/data-file", "not a directory"),
    "serve-pinecone: damaged snapshot": ("serve-pinecone --port 0 --data-dir {ws}/data-broken-snapshot", "idx.npz"),
    "serve-pinecone: log damaged mid-file": ("serve-pinecone --port 0 --data-dir {ws}/data-damaged-log", "damaged"),
    # -- demo and the top level ------------------------------------------------------------------------
    "demo: --out-dir is a file": ("demo --out-dir {ws}/afile", "afile"),
    "ragmig: unknown command": ("transmogrify", "transmogrify"),
    "ragmig: unknown option": ("--frobnicate", "--frobnicate"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_no_file(
    case: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template, needle = CASES[case]
    args = [arg.replace("{ws}", str(workspace)) for arg in shlex.split(template)]
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("PINECONE_CONTROLLER_HOST", raising=False)
    before = snapshot(workspace)
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, SystemExit), result.exception  # no escaped exception (a traceback)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ragmig: error: ") and needle.replace("{ws}", str(workspace)) in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr
    assert_unchanged(before, workspace)


def test_the_table_covers_every_command_with_enough_cases() -> None:
    commands = {case.split(":")[0] for case in CASES}
    assert commands >= {"migrate", "certify", "plan", "gameday", "bench", "serve-pinecone", "demo", "ragmig"}
    assert len(CASES) >= 80
