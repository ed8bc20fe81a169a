"""design.md's one direction of dependency: outer layers import inner ones, never back.

Every module of ``harness`` is parsed and every import in it — top level, inside functions, under
``TYPE_CHECKING`` — is checked against this table of layers (innermost first). A unit may import its
own modules and any unit of a lower layer; a unit of the same layer is a peer it must not import (that
is how ``migration`` and ``verify`` stay apart). The package root ``harness`` (the curated public API)
and ``scenarios`` sit outside every layer: nothing in ``harness`` imports them.

| layer | units | why there |
|---|---|---|
| 0 | ``_version``, ``errors``, ``units`` | facts with no dependencies; how durations read |
| 1 | ``model``, ``clock``, ``redact``, ``outputs``, ``console``, ``progress``, ``schemas``, ``netloc`` | value types and small seams everyone shares; terminal verbosity and progress; the shipped JSON Schemas; loopback and listening sockets |
| 2 | ``records``, ``vectormath``, ``datasets``, ``serving`` | the one record model; vector maths; corpora (value types only); an ASGI app served in a thread on loopback |
| 3 | ``stores`` | the ``VectorStore`` protocol and its adapters |
| 4 | ``parallel`` | the Dask engine, the partition planner, stores held open in a worker |
| 5 | ``pinecone_local``, ``qdrant_server``, ``migration``, ``verify`` | peers: the Pinecone- and Qdrant-compatible servers, the orchestrator, the checks |
| 6 | ``faults`` | wrappers around stores for game days |
| 7 | ``service``, ``load`` | the RAG query service (routes with ``migration``'s router), locust load |
| 8 | ``reporting``, ``deploy`` | renders what migration, verification and faults produced; real processes on loopback (Prometheus, Alertmanager, the demo stack) |
| 9 | ``benchmarks``, ``assembly`` | measures everything below; wires stores, journal, flags, metrics, alerts, verifier and orchestrator into one migration |
| 10 | ``plugin``, ``demo``, ``control`` | the pytest entry point; the demo; ``ragmig run``/``status`` and the steering commands |
| 11 | ``cli`` | ``ragmig``: dispatches to all of the above |

Also: the inner layers import neither pytest nor a vendor SDK; no two modules import each other, directly
or round a longer loop (function-level and ``TYPE_CHECKING`` imports count too); ``migration`` and
``verify`` import nothing from ``reporting``, ``service`` or the commands.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "harness"
LAYERS: dict[str, int] = {
    "_version": 0,
    "errors": 0,
    "units": 0,
    "model": 1,
    "clock": 1,
    "redact": 1,
    "outputs": 1,
    "console": 1,
    "progress": 1,
    "schemas": 1,
    "netloc": 1,
    "records": 2,
    "vectormath": 2,
    "datasets": 2,
    "serving": 2,
    "stores": 3,
    "parallel": 4,
    "pinecone_local": 5,
    "qdrant_server": 5,
    "migration": 5,
    "verify": 5,
    "faults": 6,
    "service": 7,
    "load": 7,
    "reporting": 8,
    "deploy": 8,
    "benchmarks": 9,
    "assembly": 9,
    "plugin": 10,
    "demo": 10,
    "control": 10,
    "cli": 11,
}
OUTSIDE = {"harness": "the package root (public API)", "scenarios": "the suites users run"}
FORBIDDEN = ("pytest", "qdrant_client", "qdrant_edge", "pinecone", "locust", "testcontainers")


def unit_of(module: str) -> str:
    """``harness.migration.backfill`` → ``migration``; ``harness`` → ``harness``; ``scenarios.x`` → ``scenarios``."""
    parts = module.split(".")
    if parts[0] == "harness":
        return parts[1] if len(parts) > 1 else "harness"
    return parts[0]


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, module) of every import anywhere in ``source`` (function bodies included), relative
    imports resolved against ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            elif node.module == "harness":  # ``from harness import console`` imports the module harness.console
                for alias in node.names:
                    submodule = (HARNESS / f"{alias.name}.py").is_file() or (HARNESS / alias.name).is_dir()
                    yield node.lineno, f"harness.{alias.name}" if submodule else "harness"
            elif node.module:
                yield node.lineno, node.module


def back_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every import in ``source`` (the text of ``module``) that breaks the layer table."""
    mine = unit_of(module)
    if mine not in LAYERS:
        return [f"{module}: unit {mine!r} is not in the layer table; place it there"]
    problems = []
    for line, name in imported_modules(source, module, is_package):
        if unit_of(name) == mine or not (name == "harness" or name.startswith(("harness.", "scenarios"))):
            continue
        theirs = unit_of(name)
        if theirs in OUTSIDE:
            problems.append(f"{module}:{line} imports {name} ({OUTSIDE[theirs]}, outside every layer)")
        elif theirs not in LAYERS:
            problems.append(f"{module}:{line} imports {name}: unit {theirs!r} is not in the layer table")
        elif LAYERS[theirs] >= LAYERS[mine]:
            kind = "a peer" if LAYERS[theirs] == LAYERS[mine] else "an outer layer"
            problems.append(
                f"{module}:{line} imports {name}: {mine} (layer {LAYERS[mine]}) may not import {kind}, "
                f"{theirs} (layer {LAYERS[theirs]})"
            )
    return problems


def harness_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(HARNESS.rglob("*.py")):
        parts = path.relative_to(HARNESS.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield module, path


def test_no_module_imports_an_outer_layer_or_a_peer() -> None:
    problems = [
        problem
        for module, path in harness_modules()
        if module != "harness"  # the root re-exports the public API from below
        for problem in back_imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    ]
    assert not problems, "layering broken:\n" + "\n".join(problems)


def test_every_unit_of_the_package_is_placed_in_the_table() -> None:
    units = {unit_of(module) for module, _ in harness_modules()} - {"harness"}
    assert units == set(LAYERS), f"unplaced: {sorted(units - set(LAYERS))}, gone: {sorted(set(LAYERS) - units)}"


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("harness.records.identity", "def f():\n    from harness.verify import parity\n", "an outer layer"),
        ("harness.migration.orchestrator", "def f():\n    import harness.verify.run\n", "a peer"),
        ("harness.verify.recheck", "from harness.migration.backfill import RetryPolicy\n", "a peer"),
        ("harness.stores.exact", "if TYPE_CHECKING:\n    from harness.faults import FaultyStore\n", "an outer layer"),
        ("harness.model", "from harness import open_store\n", "outside every layer"),
        ("harness.records.compare", "from ..verify import parity\n", "an outer layer"),
    ],
)
def test_the_check_catches_back_imports_wherever_they_hide(module: str, source: str, expected: str) -> None:
    problems = back_imports(source, module)
    assert len(problems) == 1 and expected in problems[0]


def test_inward_and_own_imports_are_allowed() -> None:
    source = "from harness.model import Check\nfrom . import mapping\ndef f():\n    import numpy\n"
    assert back_imports(source, "harness.records.compare") == []


@pytest.mark.parametrize("module", ["harness.model", "harness.records", "harness.verify", "harness.migration"])
def test_inner_layer_imports_no_pytest_or_vendor_sdk(module: str) -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"m = importlib.import_module({module!r})\n"
        "if hasattr(m, '__path__'):\n"
        "    for info in pkgutil.walk_packages(m.__path__, m.__name__ + '.'):\n"
        "        if not info.name.endswith('.journal'):\n"
        "            importlib.import_module(info.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulled in {out.stdout.strip()}"


# -- import cycles between modules --------------------------------------------------------------------------
def module_graph() -> dict[str, set[str]]:
    """Module → the ``harness`` modules it imports anywhere (function bodies included); ``from
    harness.x import y`` counts as importing ``harness.x.y`` when that is a module, else ``harness.x``."""
    modules = dict(harness_modules())
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for _, name in imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            if name in modules and name != module:
                edges.add(name)
        for node in ast.walk(tree):  # from harness.x import submodule
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness."):
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in modules:
                        edges.add(f"{node.module}.{alias.name}")
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted; a package's
    ``__init__`` re-exporting its own modules is not a cycle (the edge from a module to its own package
    root is left out: importing ``harness.x.y`` runs ``harness.x`` first anyway)."""
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_modules() -> None:
    assert cycles(module_graph()) == []


def test_the_cycle_check_finds_a_planted_cycle() -> None:
    graph = module_graph()
    assert graph["harness.service.app"]  # the graph is real: the app imports its service module
    planted = {
        **graph,
        "harness.service.service": graph.get("harness.service.service", set()) | {"harness.service.app"},
    }
    if "harness.service.service" in graph["harness.service.app"]:
        assert ["harness.service.app", "harness.service.service"] in cycles(planted)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"p": {"p.m"}, "p.m": {"p"}}) == []  # a package root re-exporting its module


def test_migration_and_verify_import_nothing_from_reporting_service_or_the_commands() -> None:
    outer = ("harness.reporting", "harness.service", "harness.cli", "harness.control", "harness.plugin")
    found = [
        f"{module} imports {name}"
        for module, edges in module_graph().items()
        if module.startswith(("harness.migration", "harness.verify"))
        for name in edges
        if name.startswith(outer)
    ]
    assert found == []
