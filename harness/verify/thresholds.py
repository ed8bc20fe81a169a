"""The gates a certification is judged by, and the TOML file that overrides them.

A thresholds file is flat TOML whose keys are the fields of ``Thresholds``::

    recall_target_min = 0.97
    p99_ms_max = 250
    accept = ["schema.datatype"]   # a deliberate float32 → float16 change: warn, not fail

``payload_indexes`` lists payload indexes the target must have (``{year = "integer", source = "keyword"}``;
the same names as ``ragmig migrate --payload-index FIELD=TYPE`` and a migration config's ``[target]
payload_indexes``): ``schema.payload_indexes`` warns when one is missing, and ``quality.filtered`` warns
when a filter ran on such a field without it.

``accept`` names schema checks whose drift the team made on purpose: they become ``warn``, their message
says so, and the verdict lists them in ``accepted``. Data checks (``parity.*``, ``quality.*``,
``latency.*``) can never be accepted, nor can ``schema.dimension`` (a target of another dimension cannot
hold the source's vectors). Anything else (an unknown key, a wrong type, a value out of range, malformed TOML) is a ``ConfigError``
whose message is one line naming the file and the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import ConfigError
from harness.stores.base import PayloadIndexType
from harness.verify.schema import ACCEPTABLE_CHECK_IDS


class Thresholds(BaseModel):
    """Default gates of ``ragmig certify`` and the orchestrator's verify phase (fractions are 0–1)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    recall_target_min: float = Field(default=0.95, ge=0.0, le=1.0, description="target recall@k at least this")
    recall_max_drop: float = Field(
        default=0.02, ge=0.0, le=1.0, description="target recall at most this below the source's"
    )
    overlap_min: float = Field(
        default=0.90, ge=0.0, le=1.0, description="overlap@k of target with source at least this"
    )
    noise_slack: float = Field(
        default=0.02, ge=0.0, le=1.0, description="overlap may fall this far below the source's own noise floor"
    )
    upgrade_margin: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="target recall above the source's by more than max(this, 1 − noise floor) is an upgrade: "
        "low overlap then warns instead of failing",
    )
    namespace_min_queries: int = Field(
        default=10, ge=1, le=100_000, description="a namespace is judged when it has at least this many queries"
    )
    filters_max: int = Field(default=12, ge=0, le=1000, description="distinct filters quality.filtered runs at most")
    filter_queries: int = Field(
        default=20, ge=1, le=10_000, description="queries run with each filter generated from the payloads"
    )
    payload_indexes: Annotated[dict[str, PayloadIndexType], Field(strict=False)] = Field(
        default_factory=dict, description="payload indexes the target must have, field = type"
    )
    tie_epsilon: float = Field(
        default=1e-3, ge=0.0, description="a result within this of the k-th true distance is a hit (ann-benchmarks)"
    )
    p99_ms_max: float = Field(default=500.0, gt=0.0, description="target p99 query latency at most this (ms)")
    p50_max_ratio: float = Field(
        default=2.0, ge=1.0, description="latency.p50 warns when target p50 exceeds source p50 × this"
    )
    p50_ms_floor: float = Field(
        default=10.0, ge=0.0, description="… and exceeds this many ms (tiny latencies never warn)"
    )
    vector_tolerance: float = Field(
        default=1e-3, gt=0.0, description="max abs component difference of canonical vectors still counted equal"
    )
    sample_size: int = Field(default=100, ge=1, le=100_000, description="ids listed per parity sample")
    worst_queries: int = Field(default=10, ge=0, le=10_000, description="worst queries listed in quality details")
    accept: Annotated[tuple[str, ...], Field(strict=False)] = Field(
        default=(), description="schema check ids whose drift is deliberate: warn instead of fail"
    )

    @field_validator("accept")
    @classmethod
    def _only_schema_changes(cls, accept: tuple[str, ...]) -> tuple[str, ...]:
        for check_id in accept:
            if check_id in ACCEPTABLE_CHECK_IDS:
                continue
            family = check_id.split(".", 1)[0]
            if check_id == "schema.dimension":
                why = "a target of another dimension cannot hold the source's vectors"
            elif family in ("parity", "quality", "latency"):
                why = f"{family} checks judge the data and the answers, never a deliberate change"
            else:
                why = "it is not a schema check id"
            raise ValueError(
                f"{check_id!r} cannot be accepted: {why}; only these can: {', '.join(ACCEPTABLE_CHECK_IDS)}"
            )
        return tuple(dict.fromkeys(accept))

    def describe(self) -> dict[str, Any]:
        """The thresholds as a plain dict (for verdict details and reports)."""
        return self.model_dump()


_TYPE_WORDS = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "tuple_type": "a list of check ids",
    "string_type": "a check id (a string)",
    "dict_type": "a table of field = index type",
    "literal_error": "one of keyword, integer, float, bool, geo, text, datetime, uuid",
}


def load_thresholds(path: str | Path) -> Thresholds:
    """Read and validate a thresholds TOML file; ``ConfigError`` (one line naming file and key) otherwise."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"thresholds file {name} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"thresholds file {name} cannot be read ({exc.__class__.__name__}: {exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: malformed TOML ({' '.join(str(exc).split())})") from None
    return thresholds_from_mapping(data, name)


def thresholds_from_mapping(data: dict[str, Any], source: str = "thresholds") -> Thresholds:
    """Validate ``data`` (parsed TOML); ``source`` names it in the one-line ``ConfigError``."""
    allowed = ", ".join(Thresholds.model_fields)
    for key, value in data.items():
        if key not in Thresholds.model_fields:
            kind = "table" if isinstance(value, dict) else "key"
            raise ConfigError(f"{source}: unknown {kind} {key!r} (allowed: {allowed})")
    try:
        return Thresholds(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "?"
        wanted = _TYPE_WORDS.get(error["type"])
        got = error.get("input")
        if wanted is not None:
            raise ConfigError(f"{source}: {key!r} must be {wanted}, got {got!r}") from None
        if error["type"] == "value_error":
            raise ConfigError(f"{source}: {key}: {error['msg'].removeprefix('Value error, ')}") from None
        raise ConfigError(f"{source}: {key!r} = {got!r} is invalid: {error['msg'].lower()}") from None
