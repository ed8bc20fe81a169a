"""``make planted``'s index stays honest without running a mutant: every diff still applies to the current
code (and is not applied already), changes a few lines of one file, and every test it names exists.

When a judge's code changes under a diff, this fails: regenerate that diff against the new code so it
plants the same bug, then run ``python -m tests.mutation.planted NAME`` to see it killed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.mutation.planted import COPIED, HERE, ROOT, Planted, apply, changed_paths, load_index, make_copy
from tests.mutation.planted.__main__ import failed_tests, listed_that_failed

INDEX = load_index()
MAX_CHANGED_LINES = 12


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test")}


def test_every_diff_is_listed_once_and_every_entry_has_its_diff() -> None:
    assert INDEX
    assert sorted(p.name for p in INDEX) == sorted(d.stem for d in HERE.glob("*.diff"))


@pytest.mark.parametrize("planted", INDEX, ids=lambda p: p.name)
def test_the_diff_applies_to_the_current_code_and_is_not_applied_yet(planted: Planted) -> None:
    text = planted.diff.read_text(encoding="utf-8")
    paths = changed_paths(text)
    assert len(paths) == 1 and (ROOT / paths[0]).is_file(), paths
    assert paths[0].split("/")[0] in COPIED
    changed = [line for line in text.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert 0 < len(changed) <= MAX_CHANGED_LINES, f"{planted.diff.name}: {len(changed)} changed lines"
    assert apply(planted.diff, ROOT, check=True) == "", f"{planted.diff.name} no longer applies: regenerate it"
    assert apply(planted.diff, ROOT, check=True, reverse=True) != "", f"{planted.diff.name} is applied already"


@pytest.mark.parametrize("planted", INDEX, ids=lambda p: p.name)
def test_every_listed_test_exists(planted: Planted) -> None:
    assert planted.bullet.strip() and planted.why.strip()
    for test in planted.tests:
        path, _, name = test.partition("::")
        assert (ROOT / path).is_file(), f"{planted.name}: no file {path}"
        if name:
            assert name.split("[")[0] in _test_functions(ROOT / path), f"{planted.name}: no test {test}"


def test_a_copy_holds_what_the_tests_need_and_takes_a_patch(tmp_path: Path) -> None:
    copy = make_copy(tmp_path / "copy")
    assert {p.name for p in copy.iterdir()} == set(COPIED)
    assert not list(copy.rglob("__pycache__"))
    planted = next(p for p in INDEX if p.name == "router-salt-ignored")
    assert apply(planted.diff, copy) == ""
    router = (copy / "harness/migration/router.py").read_text(encoding="utf-8")
    assert "bucket_of(user_id) < threshold_for" in router
    assert "bucket_of(user_id, self.salt)" in (ROOT / "harness/migration/router.py").read_text(encoding="utf-8")
    assert planted.modules() == ["harness.migration.router"]


def test_a_listed_test_caught_the_bug_when_one_of_its_items_failed() -> None:
    output = (
        "FAILED tests/a.py::test_x[2 of 10 results-dot] - AssertionError: assert 1.0 == 0.2\n"
        "ERROR tests/b.py::test_y - RuntimeError\n"
        "1 failed, 1 error in 0.1s\n"
    )
    failed = failed_tests(output)
    assert failed == ["tests/a.py::test_x[2 of 10 results-dot]", "tests/b.py::test_y"]
    listed = ["tests/a.py::test_x", "tests/a.py::test_x_other", "tests/b.py", "tests/c.py::test_z"]
    assert listed_that_failed(listed, failed) == ["tests/a.py::test_x", "tests/b.py"]
