"""``MigrationConfig``: everything the orchestrator and the runbook need, loaded from one TOML file.

The same validated object drives ``Orchestrator`` and ``ragmig plan``, so the runbook can never describe
a migration other than the one that runs. Every mistake in the file is one ``ConfigError`` line that
names the file and the key.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from harness.errors import ConfigError, InvalidURIError
from harness.records import RecordMapping, mapping_for
from harness.stores.base import PayloadIndexType
from harness.stores.uri import parse_store_uri, same_store

__all__ = [
    "AlertSinkConfig",
    "BackfillConfig",
    "CanaryConfig",
    "FlagsConfig",
    "MetricsConfig",
    "MigrationConfig",
    "ParityGateConfig",
    "RunbookConfig",
    "ShadowConfig",
    "Thresholds",
    "VerificationConfig",
    "WarmUpConfig",
    "evidence_floor",
    "load_config",
]

NoDataPolicy = Literal["fail", "pass", "hold"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveSeconds = Annotated[float, Field(gt=0.0)]


class _Section(BaseModel):
    # strict: a TOML string where a number belongs is an error, not a silent coercion.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Thresholds(_Section):
    """Canary health gates and the rollback rule (Flagger's failed-check budget, Kayenta's Mann-Whitney,
    exact binomial tests for every rate). The README's "Canary decisions" section explains each rule."""

    error_rate_max: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01
    """The error gate (fraction 0–1): a check fails when the canary's error rate is above it with
    ``confidence``; a step passes only when its error rate is below it with ``confidence``."""
    confidence: Annotated[float, Field(ge=0.5, lt=1.0)] = 0.99
    """Confidence of every rate decision (error rate, cache hit rate, store-call error rate, the
    slow-request share behind the p99 gate): a one-sided exact binomial test at 1 − this."""
    min_requests: Annotated[int, Field(ge=1)] | None = None
    """Least canary requests a step's evidence must hold before it may pass. Default (None): what the
    error gate itself needs — the fewest requests with no error at all that are below ``error_rate_max``
    with ``confidence`` (459 for 1 % at 99 %). A larger value raises the bar; a smaller one cannot lower
    the test's own need."""
    severe_error_multiple: Annotated[float, Field(gt=1.0)] = 50.0
    """A severe breach rolls back at once: an error rate at least min(this × ``error_rate_max``, 90 %)
    with ``confidence`` (an outage), in the last interval or in the step's evidence."""
    p99_ms_max: PositiveSeconds = 500.0
    """A check fails when the canary's p99 latency exceeds this (ms): with per-request latencies, when
    more than 1 % of requests are slower than this with ``confidence``."""
    cache_hit_rate_min: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.3
    """A check fails when the canary's cache hit rate is below this with ``confidence``; a step passes
    only when it is above with ``confidence`` (0 disables the gate)."""
    min_samples: Annotated[int, Field(ge=1)] = 50
    """Latency needs this many canary (and baseline) requests in the evidence before it is judged (the
    p99 point estimate from Prometheus, the Mann-Whitney comparisons)."""
    no_data_policy: NoDataPolicy = "hold"
    """A check whose interval had no canary request: "fail" (a failed check), "pass" (a step without any
    canary request may be promoted when its bake has passed), or "hold" (wait, at most ``max_hold_s``)."""
    max_hold_s: PositiveSeconds = 1800.0
    """How long a step waits: for data under "hold" (no data for longer rolls back), and past its bake time
    for enough evidence to pass (not enough evidence by then rolls back) (s)."""
    failure_limit: Annotated[int, Field(ge=1)] = 3
    """This many failed checks within one step roll back, consecutive or not (Flagger's threshold)."""
    backend_errors: Literal["off", "warn", "gate"] = "warn"
    """The canary's store-call error rate (behind the cache) above ``error_rate_max`` with ``confidence``:
    "warn" alerts (users may not see it yet); "gate" fails the check, and a step passes only when its
    store calls are below the gate with ``confidence`` too; "off" does not judge it."""
    latency_reference: bool = True
    """Judge each cohort's store-call latency against its own reference (its first ``min_samples``
    store calls in the canary): the target slower than its reference fails a check even when the
    baseline slowed down too; the source slower than its reference alerts without blaming the canary."""
    min_interval_points: Annotated[int, Field(ge=2)] = 5
    """With Prometheus metrics, latency is compared on per-interval quantile series: each side needs this
    many points before the Mann-Whitney comparison decides (5 against 5 can reach p = 0.004)."""
    mann_whitney_alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.02
    """Significance of the one-sided "canary slower" test (0.02 = Kayenta's 98 % confidence)."""
    latency_tolerance: Annotated[float, Field(ge=0.0)] = 0.1
    """Effect-size tolerance: a significant slowdown fails only when median(canary) > (1 + this) × median(baseline)."""
    latency_min_effect_ms: Annotated[float, Field(ge=0.0)] = 5.0
    """Absolute effect floor: a significant slowdown fails only when median(canary) − median(baseline)
    also exceeds this (ms), so microsecond differences between cache hits never roll back a canary."""

    @property
    def error_min_requests(self) -> int:
        """The requests a step's evidence needs before it may pass the error gate: ``min_requests``, or
        at least what the test needs with no error at all (``evidence_floor``)."""
        floor = evidence_floor(self.error_rate_max, self.confidence)
        return max(floor, self.min_requests or 0)

    @property
    def severe_error_rate(self) -> float:
        """The error rate (fraction) that rolls back at once: min(multiple × gate, 90 %)."""
        return min(self.severe_error_multiple * self.error_rate_max, SEVERE_CAP)


SEVERE_CAP = 0.9
"""An error rate of 90 % (at the configured confidence) is severe whatever ``severe_error_multiple`` says."""


def evidence_floor(gate: float, confidence: float) -> int:
    """The fewest requests, none failing, whose error rate is below ``gate`` with ``confidence``: the
    smallest n with (1 − gate)^n ≤ 1 − confidence (459 for a 1 % gate at 99 %, 299 at 95 %)."""
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(1.0 - gate) - 1e-9))


class CanaryConfig(_Section):
    """Stepped read traffic on sticky user buckets."""

    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    """Read percentages, strictly increasing, each in (0, 100], ending at 100."""
    bake_time_s: PositiveSeconds | list[PositiveSeconds] = 600.0
    """Time each step runs before it may be promoted (s); one value, or one per step."""
    health_interval_s: PositiveSeconds = 60.0
    """Time between health checks (s); also the traffic tick."""
    window_s: PositiveSeconds = 300.0
    """The longest span of evidence a check judges (s): evidence accumulates from the step's start, or
    from its last failed check (a failed check consumes its evidence), but never further back than this,
    so a long healthy stretch cannot outweigh a target that degrades late in a step. At least
    ``health_interval_s``; it must hold the traffic a step needs to pass (``ragmig plan`` prints it)."""
    live_bake_s: Annotated[float, Field(ge=0.0)] = 600.0
    """Health-checked time at 100 % with writes target-first before source writes are switched off (s)."""

    @field_validator("steps")
    @classmethod
    def _steps_valid(cls, steps: list[float]) -> list[float]:
        if not steps:
            raise ValueError("needs at least one step (the last must be 100)")
        if any(not 0.0 < s <= 100.0 for s in steps):
            raise ValueError(f"each step must be a percentage in (0, 100], got {steps}")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must be strictly increasing, got {steps}")
        if steps[-1] != 100.0:
            raise ValueError(f"the last step must be 100, got {steps[-1]:g}")
        return steps

    @model_validator(mode="after")
    def _bake_times_match(self) -> CanaryConfig:
        if isinstance(self.bake_time_s, list) and len(self.bake_time_s) != len(self.steps):
            raise ValueError(f"bake_time_s has {len(self.bake_time_s)} values for {len(self.steps)} steps")
        if self.window_s < self.health_interval_s:
            raise ValueError(
                f"window_s ({self.window_s:g} s) must be at least health_interval_s ({self.health_interval_s:g} s): "
                "each check judges at least the interval since the previous one"
            )
        return self

    def bake_time_of(self, step_index: int) -> float:
        """Bake time of step ``step_index`` (s)."""
        return float(self.bake_time_s[step_index] if isinstance(self.bake_time_s, list) else self.bake_time_s)


class ShadowConfig(_Section):
    """Shadow reads: sampled queries run on both sides while the source still serves."""

    enabled: bool = True
    queries: Annotated[int, Field(ge=1)] = 200
    """Sampled queries the orchestrator runs on both sides in the shadow phase."""
    sample_rate: Fraction = 0.05
    """Fraction of live reads a serving path also runs on the target while in shadow (LaunchDarkly's
    checkRatio); for the query service, the orchestrator itself does not read it."""
    k: Annotated[int, Field(ge=1)] = 10
    overlap_min: Fraction = 0.9
    """Mean overlap@k of target with source below this blocks every traffic shift."""


class WarmUpConfig(_Section):
    """Cache warm-up on the target before the first canary step."""

    enabled: bool = True
    queries: Annotated[int, Field(ge=1)] = 500
    """Queries replayed per round."""
    max_rounds: Annotated[int, Field(ge=1)] = 5
    settle_tolerance: Fraction = 0.2
    """p99 has settled when it moved less than this fraction from the previous round ..."""
    settle_floor_ms: Annotated[float, Field(ge=0.0)] = 5.0
    """... or by less than this many ms (sub-millisecond jitter is not a cold cache)."""


class BackfillConfig(_Section):
    """Retries of the copy (exponential backoff with jitter on transient store errors)."""

    max_attempts: Annotated[int, Field(ge=1)] = 8
    backoff_base_s: PositiveSeconds = 0.2
    backoff_max_s: PositiveSeconds = 3.2
    max_restarts: Annotated[int, Field(ge=0)] = 3
    """After retries run out, the orchestrator resumes from the checkpoint this many times."""


class VerificationConfig(_Section):
    """The certification checks that gate every traffic shift."""

    queries: Annotated[int, Field(ge=1)] = 200
    k: Annotated[int, Field(ge=1)] = 10
    thresholds: str | None = None
    """A thresholds TOML file for the checks (``ragmig certify --thresholds``)."""
    recheck_rounds: Annotated[int, Field(ge=1)] = 4
    """Looks at the records parity listed before a finding counts (writes in flight during the scan settle)."""
    recheck_settle_s: Annotated[float, Field(ge=0.0)] = 2.0
    """First wait between those looks (s), doubling after each (2 + 4 + 8 s by default): a source that
    shows its own writes late (Pinecone's read-after-write lag) catches up."""


class ParityGateConfig(_Section):
    """Acknowledged writes read back before every irreversible step (``live``, ``completed``) and sampled
    during the canary (read-your-writes probes), plus a parity of the whole collection at each gate."""

    enabled: bool = True
    """Run the gate before ``live`` and before ``completed``: every write acknowledged through dual-write
    since the migration began is read back from the target and compared with the source."""
    probes_per_check: Annotated[int, Field(ge=0)] = 20
    """Acknowledged writes read back from both stores at every health check of the canary and of live
    (the newest first, then older ones at random); 0 turns the probes off. A probe that finds a silent
    drop runs the whole gate at once."""
    sample: Annotated[int, Field(ge=1)] = 1000
    """The collection-wide parity at each gate compares every record of a source holding at most this
    many, else a random sample of this many source records (and the exact counts); see
    ``harness.assembly.build_collection_parity``."""
    replay_rounds: Annotated[int, Field(ge=1)] = 3
    """Dropped writes are replayed from the source and read back at most this many times."""


class AlertSinkConfig(_Section):
    """One alert sink: ``{type = "log"}``, or one that POSTs to ``url``: ``"webhook"`` (generic JSON),
    ``"alertmanager"`` (Alertmanager's base URL; API v2), ``"slack"`` (an incoming webhook), or
    ``"pagerduty"`` (Events API v2; ``url`` optional, the routing key from ``$routing_key_env``)."""

    type: Literal["log", "webhook", "alertmanager", "slack", "pagerduty"]
    url: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra Alertmanager labels (e.g. ``team = "search"``) for routing."""
    routing_key_env: str = "PAGERDUTY_ROUTING_KEY"
    """The environment variable holding the PagerDuty routing key (never the key itself)."""

    @model_validator(mode="after")
    def _url_for_webhook(self) -> AlertSinkConfig:
        if self.type in ("webhook", "alertmanager", "slack") and not self.url:
            raise ValueError(f"a {self.type} sink needs url")
        if self.url and not self.url.startswith(("http://", "https://")):
            # Never echo the URL: a webhook's path is often its secret (Slack, generic webhooks).
            raise ValueError(f"{self.type} url must start with http:// or https://, got {_scheme_of(self.url)}")
        return self


def _scheme_of(url: str) -> str:
    """What a URL starts with, without anything after the scheme (which may be a secret)."""
    scheme, sep, _ = url.partition("://")
    if sep and scheme.isascii() and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return f"a {scheme[:20]!r} URL"
    return "a URL without a scheme"


class FlagsConfig(_Section):
    """Where the migration's flags live: ``"in-memory"`` (this process; tests and the demo) or
    ``"flagd-file"``: a flagd flag-definition file at ``path`` that the applications read through any
    OpenFeature flagd provider (the read percentage as a ``fractional`` split on the user id)."""

    provider: Literal["in-memory", "flagd-file"] = "in-memory"
    path: str | None = None

    @model_validator(mode="after")
    def _path_for_file(self) -> FlagsConfig:
        if self.provider == "flagd-file" and not self.path:
            raise ValueError("the flagd-file provider needs path (the flag file the applications read)")
        return self


_METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


class MetricsConfig(_Section):
    """Where the canary's health figures come from: ``"in-process"`` (the query service in this process)
    or ``"prometheus"`` at ``url``. Names and labels default to what ``harness.service`` exports."""

    provider: Literal["in-process", "prometheus"] = "in-process"
    url: str | None = None
    """Prometheus' base URL, e.g. ``http://127.0.0.1:9090`` (a bearer token from RAGMIG_PROMETHEUS_TOKEN)."""
    requests_metric: Annotated[str, Field(pattern=_METRIC_NAME)] = "ragmig_requests_total"
    cache_hits_metric: Annotated[str, Field(pattern=_METRIC_NAME)] = "ragmig_cache_hits_total"
    latency_histogram: Annotated[str, Field(pattern=_METRIC_NAME)] = "ragmig_query_latency_seconds"
    """A Prometheus histogram in seconds (its ``_bucket`` series are read)."""
    backend_calls_metric: Annotated[str, Field(pattern=_METRIC_NAME)] = "ragmig_backend_calls_total"
    """Store calls behind the cache, by cohort and outcome (absent: the store-call checks have no data)."""
    backend_latency_histogram: Annotated[str, Field(pattern=_METRIC_NAME)] = "ragmig_backend_latency_seconds"
    """Store-call latency behind the cache, a Prometheus histogram in seconds."""
    cohort_label: Annotated[str, Field(pattern=_LABEL_NAME)] = "backend"
    source_cohort: str = "source"
    """The cohort label's value on requests the source served (the baseline)."""
    target_cohort: str = "target"
    """The cohort label's value on requests the target served (the canary)."""
    outcome_label: Annotated[str, Field(pattern=_LABEL_NAME)] = "outcome"
    error_outcome: str = "error"
    selector: str = ""
    """Extra label matchers added to every query, e.g. ``job="rag-api"``."""
    scrape_interval_s: PositiveSeconds = 15.0
    """Prometheus' scrape interval for the application (s): a window needs two scrapes."""
    step_s: PositiveSeconds | None = None
    """Resolution of the per-interval latency series (s); default: the health interval, at least two scrapes."""
    series_quantile: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    """The per-interval latency quantile compared canary vs baseline (Mann-Whitney U)."""
    timeout_s: PositiveSeconds = 5.0

    @model_validator(mode="after")
    def _url_for_prometheus(self) -> MetricsConfig:
        if self.provider == "prometheus" and not self.url:
            raise ValueError("the prometheus provider needs url (Prometheus' base URL)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {_scheme_of(self.url)}")
        if "{" in self.selector or "}" in self.selector:
            raise ValueError(f'selector holds label matchers without braces, e.g. job="rag-api"; got {self.selector!r}')
        return self


class RunbookConfig(_Section):
    """What ``ragmig plan`` prints around the phases: where to look and whom to call."""

    dashboards: dict[str, str] = Field(
        default_factory=lambda: {
            "migration": "<dashboard URL: migration overview>",
            "canary": "<dashboard URL: canary vs baseline>",
        }
    )
    metrics: dict[str, str] = Field(default_factory=dict)
    """Extra queries to watch, by name (the runbook always lists the ones the health checks run)."""
    escalation: str = "<on-call rotation / pager>"


TARGET_TABLE_KEYS = ("uri", "payload_indexes")


class MigrationConfig(_Section):
    """The whole migration: stores, copy, gates, canary, alerts (see ``examples/*.toml``).

    The target is ``target = "URI"``, or a table when it needs payload indexes::

        [target]
        uri = "qdrant-edge:///data/target"
        payload_indexes = { year = "integer", source = "keyword" }

    (the same FIELD = TYPE pairs as ``ragmig migrate --payload-index FIELD=TYPE``); they are created with
    the target, and the verification gate's ``schema.payload_indexes`` checks they exist.
    """

    source: str
    target: str
    target_payload_indexes: dict[str, PayloadIndexType] = Field(default_factory=dict)
    """``[target] payload_indexes``: payload indexes (field → type) the target is created with and must hold."""
    name: str | None = None
    """The migration's name in alerts (labels, dedup keys); default: the journal file's stem."""
    journal: str = "ragmig-journal.sqlite"
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    flag_propagation_s: Annotated[float, Field(ge=0.0)] = 5.0
    """Wait after a write-mode change so every writer has picked up the flag (s)."""
    thresholds: Thresholds = Field(default_factory=Thresholds)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    parity_gate: ParityGateConfig = Field(default_factory=ParityGateConfig)
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)
    warm_up: WarmUpConfig = Field(default_factory=WarmUpConfig)
    backfill: BackfillConfig = Field(default_factory=BackfillConfig)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    alerts: list[AlertSinkConfig] = Field(default_factory=lambda: [AlertSinkConfig(type="log")])
    flags: FlagsConfig = Field(default_factory=FlagsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    runbook: RunbookConfig = Field(default_factory=RunbookConfig)

    @model_validator(mode="before")
    @classmethod
    def _target_table(cls, data: Any) -> Any:
        """``[target]`` (uri, payload_indexes) → ``target`` and ``target_payload_indexes``."""
        if not isinstance(data, dict):
            return data
        if "target_payload_indexes" in data:
            raise ValueError("unknown key 'target_payload_indexes'; write payload_indexes inside [target]")
        table = data.get("target")
        if not isinstance(table, dict):
            return data
        unknown = sorted(set(table) - set(TARGET_TABLE_KEYS))
        if unknown:
            raise ValueError(f"[target] has unknown key(s) {unknown}; it takes {', '.join(TARGET_TABLE_KEYS)}")
        if "uri" not in table:
            raise ValueError('[target] needs uri (the target store URI, e.g. uri = "qdrant-edge:///data/target")')
        rest = {k: v for k, v in data.items() if k != "target"}
        return {**rest, "target": table["uri"], "target_payload_indexes": table.get("payload_indexes", {})}

    @field_validator("source", "target")
    @classmethod
    def _uri_valid(cls, uri: str) -> str:
        try:
            parse_store_uri(uri)
        except InvalidURIError as exc:
            raise ValueError(str(exc)) from None
        return uri

    @model_validator(mode="after")
    def _interval_holds_two_scrapes(self) -> MigrationConfig:
        # Each check judges the interval since the previous one: from Prometheus that takes two scrapes.
        scrapes = 2 * self.metrics.scrape_interval_s
        if self.metrics.provider == "prometheus" and self.canary.health_interval_s < scrapes:
            raise ValueError(
                f"canary.health_interval_s ({self.canary.health_interval_s:g} s) must hold two Prometheus scrapes "
                f"(metrics.scrape_interval_s {self.metrics.scrape_interval_s:g} s): at least {scrapes:g} s"
            )
        return self

    @field_validator("target")
    @classmethod
    def _not_the_source(cls, target: str, info: ValidationInfo) -> str:
        # A migration onto its own source would rewrite the store it reads (and rebuild its index).
        source = info.data.get("source")  # absent when the source itself did not validate
        if source is not None and same_store(source, target):
            raise ValueError(f"names the same store as source ({source}); migrate into a different store")
        return target

    @property
    def migration_name(self) -> str:
        """``name``, or the journal file's stem."""
        return self.name or Path(self.journal).stem

    @property
    def record_mapping(self) -> RecordMapping:
        """How source records are written to the target (``records.mapping_for`` on the two URIs'
        backends, the source URI's namespace as the default one)."""
        source = parse_store_uri(self.source)
        target = parse_store_uri(self.target)
        return mapping_for(source.scheme, target.scheme, default_namespace=source.options.get("namespace", ""))

    @property
    def source_is_pinecone(self) -> bool:
        """True when the Pinecone → Qdrant mapping applies (the runbook adds the mapping specifics)."""
        return self.record_mapping.pinecone_to_qdrant


def _key_of(loc: Sequence[Any]) -> str:
    key = ".".join(str(part) for part in loc if not isinstance(part, int)) or "<top level>"
    return key.replace("target_payload_indexes", "target.payload_indexes", 1)


def config_error(path: Path | str, exc: ValidationError) -> ConfigError:
    """The first validation error as one line: ``FILE: KEY: what is wrong``."""
    err = exc.errors()[0]
    key = _key_of(err["loc"])
    if err["type"] == "extra_forbidden":
        return ConfigError(f"{path}: unknown key {key!r}; check its spelling against examples/*.toml")
    if err["type"] == "missing":
        return ConfigError(f"{path}: missing required key {key!r}")
    message = str(err["msg"]).removeprefix("Value error, ")
    return ConfigError(f"{path}: {message}" if not err["loc"] else f"{path}: {key}: {message}")


def parse_config(data: dict[str, Any], origin: Path | str = "<config>") -> MigrationConfig:
    """Validate an already-parsed TOML document; ``ConfigError`` naming ``origin`` and the key."""
    try:
        return MigrationConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(origin, exc) from None


def load_config(path: Path | str) -> MigrationConfig:
    """Load and validate ``path``. Malformed TOML, an unknown key or a wrong type → one-line ``ConfigError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    return parse_config(data, path)
