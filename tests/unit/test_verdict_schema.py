"""The shipped JSON Schema of the verdict: it accepts what ``Verdict.to_dict`` writes, encodes the rule
that decides ``verdict`` from the checks, rejects what no writer may produce, and ships in the wheel."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from harness.model import Check, Status, Verdict
from harness.schemas import verdict_schema
from tests.verdict_schemas import schema_errors

ROOT = Path(__file__).resolve().parents[2]


def valid(data: dict[str, Any]) -> bool:
    return not schema_errors(data)


def a_verdict(*statuses: Status, **fields: Any) -> dict[str, Any]:
    checks = tuple(Check(f"parity.c{i}", s, observed=i, expected=0, message="m") for i, s in enumerate(statuses))
    return Verdict(checks=checks, **fields).to_dict()


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(verdict_schema())


@pytest.mark.parametrize(
    "statuses",
    [
        (),
        (Status.PASS,),
        (Status.PASS, Status.WARN, Status.SKIP),
        (Status.FAIL, Status.PASS),
        (Status.ERROR,),
        (Status.ERROR, Status.FAIL),
    ],
)
def test_every_verdict_the_model_writes_is_valid_and_only_with_its_own_verdict(statuses: tuple[Status, ...]) -> None:
    data = a_verdict(*statuses, started_at="2026-01-02T03:04:05.678+00:00", finished_at="2026-01-02T03:04:09Z")
    assert valid(data), schema_errors(data)
    for other in {"pass", "fail", "error"} - {data["verdict"]}:
        assert not valid({**data, "verdict": other}), f"{data['verdict']} relabelled {other} was accepted"


def test_an_incomplete_run_must_say_error_even_when_every_check_passed() -> None:
    data = a_verdict(Status.PASS, incomplete="checks parity.* did not run")
    assert data["verdict"] == "error" and valid(data)
    assert not valid({**data, "verdict": "pass"})
    assert not valid({**data, "incomplete": ""})


def test_non_finite_figures_are_written_as_null_and_stay_valid() -> None:
    check = Check("latency.p99", Status.FAIL, observed=math.nan, expected=math.inf, details={"x": [math.nan]})
    data = Verdict(checks=(check,)).to_dict()
    assert data["checks"][0]["observed"] is None and valid(data)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.pop("tool"), "no tool"),
        (lambda d: d.update(schema_version=1), "another schema version"),
        (lambda d: d.update(tool={"name": "ragmig", "version": ""}), "an empty tool version"),
        (lambda d: d.update(started_at="yesterday"), "a timestamp that is not RFC 3339"),
        (lambda d: d.update(started_at="2026-01-02 03:04:05"), "a timestamp without zone"),
        (lambda d: d.update(duration_s=-1.0), "a negative duration"),
        (lambda d: d.update(unknown=1), "an unknown top-level key"),
        (lambda d: d["checks"][0].update(status="passed"), "an unknown check status"),
        (lambda d: d["checks"][0].update(id="Parity IDs"), "a check id that is not family.name"),
        (lambda d: d["checks"][0].pop("details"), "a check without details"),
        (lambda d: d["checks"][0].update(details=[]), "details that are not an object"),
        (lambda d: d.update(accepted=["parity.c0", "parity.c0"]), "an accepted id twice"),
        (lambda d: d["source"].update(count=-3), "a negative store count"),
        (lambda d: d.update(checks=[]), "a pass with no checks"),
    ],
)
def test_what_no_writer_may_produce_is_rejected(change: Any, why: str) -> None:
    data = a_verdict(Status.PASS, source={"uri": "exact://a", "count": 3, "schema": {}})
    assert valid(data)
    change(data)
    assert not valid(data), why


def test_the_schema_ships_in_the_wheel(tmp_path: Path) -> None:
    """Build the wheel from a copy of the sources and find the schema in it (package data, not a repo file)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("harness", "scenarios"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("harness/schemas/verdict.schema.json")
    assert shipped == (ROOT / "harness/schemas/verdict.schema.json").read_bytes()
