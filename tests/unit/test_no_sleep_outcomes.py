"""No test outcome may hang on wall-clock sleeps: a ``time.sleep`` in the suite is allowed only as the body of
a polling loop (``while <condition not yet observed>: ... sleep``), which waits for real I/O and asserts on
what it observed, never on how much time passed. Game days and the orchestrator sleep on the injected clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITES = ("tests", "scenarios")


def _sleep_names(tree: ast.Module) -> set[str]:
    """Names that mean ``time.sleep`` in this module (``time.sleep`` itself, or ``from time import sleep``)."""
    names = {"time.sleep"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            names |= {alias.asname or alias.name for alias in node.names if alias.name == "sleep"}
    return names


def _unpolled_sleeps(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = _sleep_names(tree)
    bad: list[int] = []

    def visit(node: ast.AST, in_while: bool) -> None:
        if isinstance(node, ast.Call) and ast.unparse(node.func) in names and not in_while:
            bad.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            # A nested function resets the context: its sleep is judged where it is written.
            nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, False if nested else in_while or isinstance(node, ast.While))

    visit(tree, False)
    return bad


def test_every_wall_clock_sleep_in_the_suite_is_a_polling_loop() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for suite in SUITES
        for path in sorted((ROOT / suite).rglob("*.py"))
        for line in _unpolled_sleeps(path)
    ]
    assert not offenders, f"time.sleep outside a polling loop (use the injected clock or poll a condition): {offenders}"


def test_the_rule_catches_a_sleep_then_assert(tmp_path: Path) -> None:
    bad = tmp_path / "test_bad.py"
    bad.write_text("import time\nfrom time import sleep as nap\n\ndef test_x():\n    time.sleep(1)\n    nap(2)\n")
    good = tmp_path / "test_good.py"
    good.write_text("import time\n\ndef test_y(done):\n    while not done():\n        time.sleep(0.01)\n")
    assert _unpolled_sleeps(bad) == [5, 6]
    assert _unpolled_sleeps(good) == []
