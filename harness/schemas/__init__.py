"""JSON Schemas of the harness's versioned outputs, shipped as package data.

``verdict.schema.json`` describes the JSON verdict of certify, migrate, gameday and run (design.md,
``schema_version`` 2), including the rule that decides ``verdict`` from the checks. Validate with any
JSON Schema 2020-12 validator, e.g. ``jsonschema.Draft202012Validator(verdict_schema())``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["VERDICT_SCHEMA", "verdict_schema"]

VERDICT_SCHEMA = "verdict.schema.json"
"""The verdict schema's file name inside this package."""


@cache
def verdict_schema() -> dict[str, Any]:
    """The verdict's JSON Schema (draft 2020-12) as a mapping (do not mutate it: it is cached)."""
    loaded: dict[str, Any] = json.loads(files(__name__).joinpath(VERDICT_SCHEMA).read_text(encoding="utf-8"))
    return loaded
