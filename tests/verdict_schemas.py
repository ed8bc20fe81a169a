"""Every JSON verdict the test session writes validates against the schema the package ships.

``verdicts_match_the_schema`` is a session-scoped autouse fixture (``tests/conftest.py`` re-exports it):
after the last test it walks the session's base temporary directory (``tmp_path_factory.getbasetemp()``:
every ``tmp_path``, pytester run and CLI output of the session lives there), picks each ``*.json`` file
shaped like a verdict (an object with ``schema_version``, or with both ``verdict`` and ``checks``) and
validates it with ``jsonschema``. Any invalid verdict fails the session, naming the file and the error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MAX_BYTES = 50 * 2**20  # a verdict of a large run is a few MB; bigger JSON files are not verdicts


def looks_like_verdict(data: Any) -> bool:
    """A JSON object with ``schema_version``, or with both ``verdict`` and ``checks``."""
    return isinstance(data, dict) and ("schema_version" in data or {"verdict", "checks"} <= data.keys())


def verdict_files(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(path, data)`` of every verdict-shaped JSON file under ``root`` (unparsable files are skipped:
    a verdict is always written atomically, so a torn file is not one)."""
    for path in sorted(root.rglob("*.json")):
        try:
            if not path.is_file() or path.stat().st_size > MAX_BYTES:
                continue
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if looks_like_verdict(data):
            yield path, data


def schema_errors(data: dict[str, Any]) -> list[str]:
    """Every way ``data`` breaks the shipped verdict schema, as ``"at /json/path: message"``."""
    from jsonschema import Draft202012Validator

    from harness.schemas import verdict_schema

    validator = Draft202012Validator(verdict_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors]


def invalid_verdicts(root: Path) -> dict[Path, list[str]]:
    """path -> schema errors, for every verdict under ``root`` that does not validate."""
    return {path: errors for path, data in verdict_files(root) if (errors := schema_errors(data))}


@pytest.fixture(scope="session", autouse=True)
def verdicts_match_the_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the session's last test: every verdict written under the base temp dir is schema-valid."""
    yield
    root = tmp_path_factory.getbasetemp()
    invalid = invalid_verdicts(root)
    if invalid:
        lines = [f"{path.relative_to(root)}: {'; '.join(errors[:3])}" for path, errors in invalid.items()]
        pytest.fail(
            f"{len(invalid)} verdict(s) written by this session break harness/schemas/verdict.schema.json:\n"
            + "\n".join(lines),
            pytrace=False,
        )
