"""``harness.__all__`` lists exactly the public names the package exposes (httpx's test, adapted), and
the package resolves them lazily: importing it, or running ``ragmig --help``, loads no numpy."""

import json
import subprocess
import sys
import types

import harness


def test_all_is_complete_and_resolvable() -> None:
    public = {name for name in dir(harness) if not name.startswith("_")}
    # Submodules become attributes once imported; they are reached through their path, not __all__.
    public = {name for name in public if not isinstance(getattr(harness, name), types.ModuleType)}
    assert set(harness.__all__) - {"__version__"} == public
    for name in harness.__all__:
        assert getattr(harness, name) is not None


def test_a_lazy_name_is_the_defining_module_object() -> None:
    from harness.model import Verdict
    from harness.stores import open_store

    assert harness.Verdict is Verdict and harness.open_store is open_store


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        harness.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("harness.NoSuchThing resolved")


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (which must not print)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_importing_the_package_and_the_cli_loads_no_numpy() -> None:
    assert "numpy" not in _modules_after("import harness")
    loaded = _modules_after("import harness.cli")
    assert "harness.cli" in loaded
    assert not {"numpy", "scipy", "matplotlib", "qdrant_client", "pinecone"} & loaded


def test_ragmig_help_loads_no_numpy() -> None:
    code = (
        "import contextlib, io, sys\n"
        "sys.argv = ['ragmig', '--help']\n"
        "from harness.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main()\n"
        "assert 'certify' in out.getvalue(), out.getvalue()"
    )
    loaded = _modules_after(code)
    assert "typer" in loaded and "numpy" not in loaded


def test_every_package_names_its_public_api() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "harness"
    missing = []
    for init in sorted(root.rglob("__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        names = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        if "__all__" not in names:
            missing.append(str(init.relative_to(root.parent)))
    assert missing == []
