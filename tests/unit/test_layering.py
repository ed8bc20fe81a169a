"""The inner layers import neither pytest nor a vendor SDK (design.md's one direction of dependency)."""

import subprocess
import sys

import pytest

FORBIDDEN = ("pytest", "qdrant_client", "qdrant_edge", "pinecone", "locust", "testcontainers")


@pytest.mark.parametrize("module", ["harness.model", "harness.verify", "harness.migration"])
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
