"""``make mutation``'s configuration and report stay honest: every module and test path it names exists,
every equivalent mutant names a configured module and a reason, and the score leaves out exactly the
equivalent mutants."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.mutation.run import (
    CONFIG,
    ROOT,
    Equivalent,
    Module,
    Outcome,
    changed_lines,
    function_of,
    load_config,
    load_equivalents,
    mark_equivalents,
    patch_hash,
    render,
    work_pyproject,
)

DIFF = """--- harness/migration/router.py
+++ harness/migration/router.py
@@ -1,4 +1,4 @@
 def bucket_of(user_id: str, salt: str = "ragmig") -> int:
-    return int.from_bytes(digest, "big") % BUCKETS
+    return int.from_bytes(digest, ) % BUCKETS"""


def test_every_configured_module_and_test_path_exists() -> None:
    modules, defaults = load_config()
    assert modules and 0 < float(defaults["floor"]) <= 1
    for module in modules:
        assert list(ROOT.glob(module.path)), f"{CONFIG.name}: no file matches {module.path}"
        assert module.tests, module.path
        for test in module.tests:
            assert (ROOT / test.split("::")[0]).is_file(), f"{CONFIG.name}: {module.path} names missing {test}"
    judged = {"harness/migration/router.py", "harness/migration/health.py", "harness/verify/schema.py"}
    assert judged <= {m.path for m in modules}


def test_every_equivalent_mutant_names_a_configured_module_and_a_reason() -> None:
    modules = {m.path for m in load_config()[0]}
    for entry in load_equivalents():
        assert entry.module in modules and len(entry.patch) == 12 and entry.reason.strip()


def test_a_patch_hash_depends_on_what_changed_not_where() -> None:
    assert changed_lines(DIFF) == [
        ' def bucket_of(user_id: str, salt: str = "ragmig") -> int:',
        '-return int.from_bytes(digest, "big") % BUCKETS',
        "+return int.from_bytes(digest, ) % BUCKETS",
    ]
    assert function_of("harness.migration.router.x_bucket_of__mutmut_13") == "bucket_of"
    assert function_of("harness.migration.router.xǁRouterǁroute__mutmut_2") == "Router.route"
    moved = DIFF.replace("@@ -1,4 +1,4 @@", "@@ -9,4 +9,4 @@")
    a = patch_hash("harness/migration/router.py", "harness.migration.router.x_bucket_of__mutmut_13", DIFF)
    assert a == patch_hash("harness/migration/router.py", "harness.migration.router.x_bucket_of__mutmut_14", moved)
    assert a != patch_hash("harness/migration/router.py", "harness.migration.router.x_other__mutmut_13", DIFF)


def test_the_score_leaves_out_equivalent_mutants_and_the_report_shows_every_survivor() -> None:
    module = Module("harness/migration/router.py", ("tests/judges/test_router_golden.py",), 0.9)
    name = "harness.migration.router.x_bucket_of__mutmut_{}"
    outcome = Outcome(
        module,
        [{"name": name.format(i), "status": "killed", "diff": ""} for i in range(8)]
        + [
            {"name": name.format(8), "status": "survived", "diff": DIFF},
            {"name": name.format(9), "status": "no tests", "diff": DIFF.replace("BUCKETS", "BUCKETS + 1")},
            {"name": name.format(10), "status": "timeout", "diff": ""},
        ],
    )
    equivalent = patch_hash(module.path, name.format(8), DIFF)
    mark_equivalents(outcome, [Equivalent(module.path, equivalent, "byteorder defaults to big")])
    assert (outcome.killed, outcome.counted, [m["name"] for m in outcome.survivors]) == (9, 10, [name.format(9)])
    assert outcome.score == 0.9 and outcome.ok
    report = render(
        [outcome], [Equivalent(module.path, "f" * 12, "gone", "old change")], datetime.now(UTC), "mutmut 9.9"
    )
    assert "| `harness/migration/router.py` | 11 | 9 | 0 | 1 | 1 | 90.0 % |" in report
    assert "x_bucket_of__mutmut_9` — no tests" in report and "BUCKETS + 1" in report
    assert "byteorder defaults to big" in report and report.count("mutmut 9.9, started") == 1
    assert "no longer generated" in report and "old change" in report


def test_the_work_directory_runs_the_projects_pytest_settings() -> None:
    module = Module("harness/verify/schema.py", ("tests/verify/test_schema.py",), 0.9)
    text = work_pyproject(module)
    assert 'filterwarnings = ["error"]' in text and "--strict-markers" in text
    assert 'only_mutate = ["harness/verify/schema.py"]' in text
    assert 'pytest_add_cli_args_test_selection = ["tests/verify/test_schema.py"]' in text
