"""``ragmig plan``: the migration runbook, rendered from the same ``MigrationConfig`` the orchestrator runs.

The chapter this project implements asks for runbooks with "exact commands, monitoring dashboard URLs,
and escalation procedures". Generating it from the config means the runbook cannot drift from the
migration: every traffic step, bake time and rollback number below is the one that will run.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from harness.migration.config import MigrationConfig, load_config
from harness.migration.flags_flagd import READ_TARGET_FLAG
from harness.migration.flags_openfeature import READ_PERCENT_FLAG, WRITE_MODE_FLAG
from harness.migration.health import percent, requests_to_pass
from harness.migration.metrics_prometheus import PromQL
from harness.migration.webhook import webhook_label
from harness.outputs import check_writable, write_text_atomic
from harness.redact import redact_uri

__all__ = ["HEALTHY_SHARE", "evidence_table", "health_queries", "plan_command", "render_runbook"]

HEALTHY_SHARE = 0.3
"""The runbook sizes each step for a target whose errors run at this share of the gate (a healthy one)."""
POWER = 0.9
"""... and for this chance of passing within the step's evidence."""


def _duration(seconds: float) -> str:
    """``90`` → "1 min 30 s", ``3600`` → "1 h", ``0.5`` → "0.5 s", ``2.5`` → "2.5 s" (ms kept)."""
    total = round(float(seconds), 3)
    hours, rest = divmod(int(total), 3600)
    minutes, whole = divmod(rest, 60)
    secs = round(whole + (total - int(total)), 3)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs:g} s" if secs else ""]
    return " ".join(p for p in parts if p) or "0 s"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _md(text: object) -> str:
    """Config text as plain Markdown: every character Markdown or a table would read escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _code(text: object) -> str:
    """Config text as an inline code span that no backtick or pipe in it can break out of."""
    value = str(text).replace("\n", " ").replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def health_queries(config: MigrationConfig) -> dict[str, str]:
    """The PromQL the health checks run per window (the canary cohort), by what it measures: the exact
    strings ``PrometheusMetrics`` sends for a full ``window_s`` window and its series step."""
    promql = PromQL.from_config(config.metrics)
    window = config.canary.window_s
    step = config.metrics.step_s or config.canary.health_interval_s
    step = max(step, 2 * config.metrics.scrape_interval_s)
    return {
        "requests": promql.requests("target", window),
        "errors": promql.errors("target", window),
        "cache hits": promql.cache_hits("target", window),
        "p99 latency (s)": promql.latency_quantile(0.99, "target", window),
        f"latency series compared with the baseline (p{config.metrics.series_quantile * 100:g} per {step:g} s)": (
            promql.latency_quantile(config.metrics.series_quantile, "target", step)
        ),
        "store calls behind the cache": promql.backend_calls("target", window),
        "failed store calls": promql.backend_errors("target", window),
        f"store-call latency series compared with its reference (p{config.metrics.series_quantile * 100:g} per {step:g} s)": (
            promql.latency_quantile(
                config.metrics.series_quantile, "target", step, histogram=promql.backend_latency_histogram
            )
        ),
    }


def evidence_table(config: MigrationConfig) -> list[dict[str, float | int | None]]:
    """Per canary step: reads on the target, the requests its evidence needs (with no error at all, and
    for a ``POWER`` chance when the target errs at ``HEALTHY_SHARE`` of the gate), and the total
    requests per second the service must see for the step to decide within its bake time (evidence
    spans at most ``window_s``)."""
    t, c = config.thresholds, config.canary
    floor = t.error_min_requests
    typical = requests_to_pass(t.error_rate_max, t.confidence, HEALTHY_SHARE * t.error_rate_max, POWER)
    typical = max(floor, typical) if typical is not None else None
    rows: list[dict[str, float | int | None]] = []
    for i, share in enumerate(c.steps):
        span = min(c.bake_time_of(i), c.window_s)
        need = typical if typical is not None else floor
        rows.append(
            {
                "step": i + 1,
                "percent": share,
                "floor": floor,
                "typical": typical,
                "span_s": span,
                "total_rps": need / (share / 100.0 * span),
            }
        )
    return rows


def _uri(uri: str) -> str:
    """``uri`` redacted, keeping the empty authority of ``scheme:///abs/path`` (urlunsplit drops it)."""
    redacted = redact_uri(uri)
    scheme = uri.split("://", 1)[0]
    if uri.startswith(f"{scheme}:///") and not redacted.startswith(f"{scheme}:///"):
        redacted = f"{scheme}://" + redacted[len(scheme) + 1 :]
    return redacted


def _cmd(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


def _phase_header(number: int, phase: str, title: str) -> str:
    return f"\n## Phase {number} — `{phase}`: {title}\n"


def render_runbook(config: MigrationConfig, config_path: str = "migration.toml") -> str:
    """The runbook as Markdown: phases with exact commands, what to watch, traffic steps with bake times,
    rollback triggers with their numbers, validation steps, and Pinecone → Qdrant specifics."""
    t = config.thresholds
    c = config.canary
    source, target = _uri(config.source), _uri(config.target)
    journal = config.journal
    dashboards = config.runbook.dashboards
    run = _cmd("ragmig", "run", "--config", config_path)
    status = _cmd("ragmig", "status", "--journal", journal)
    rollback = _cmd("ragmig", "rollback", "--journal", journal, "--reason", "<why>")
    pause = _cmd("ragmig", "pause", "--journal", journal)
    resume = _cmd("ragmig", "resume", "--journal", journal)
    file_flags = config.flags.provider == "flagd-file"
    read_flag = READ_TARGET_FLAG if file_flags else READ_PERCENT_FLAG
    certify_words = [
        "ragmig",
        "certify",
        "--source",
        source,
        "--target",
        target,
        "--queries",
        str(config.verification.queries),
        "--k",
        str(config.verification.k),
    ]
    if config.verification.thresholds:
        certify_words += ["--thresholds", config.verification.thresholds]
    certify = _cmd(*certify_words, "--html", "reports/certify.html", "--json", "reports/certify.json")
    checks_per_step = [max(1, int(c.bake_time_of(i) // c.health_interval_s)) for i in range(len(c.steps))]
    total_canary = sum(c.bake_time_of(i) for i in range(len(c.steps)))
    sinks = (
        ", ".join(
            s.type if s.type == "log" or not s.url else f"{s.type} {_md(webhook_label(s.url))}" for s in config.alerts
        )
        or "none configured"
    )
    escalation = _md(config.runbook.escalation)
    out: list[str] = []
    add = out.append

    add(f"# Migration runbook: {_code(source)} → {_code(target)}\n")
    add(
        f"Generated by {_code(_cmd('ragmig', 'plan', '--config', config_path))}. The controller "
        f"({_code(run)}) runs from the same file, so every step, bake time and threshold below is the one that "
        "will run. Credentials never appear here: they come from `PINECONE_API_KEY` / `QDRANT_API_KEY` in the "
        "environment.\n"
    )
    add("## At a glance\n")
    add("| | |\n|---|---|")
    add(f"| source | {_code(source)} |")
    add(f"| target | {_code(target)} |")
    add(f"| journal (checkpoints, outbox, events, commands) | {_code(journal)} |")
    add(
        f"| flags | flagd file {_code(config.flags.path)}: {_code(READ_TARGET_FLAG)}, {_code(WRITE_MODE_FLAG)} |"
        if file_flags
        else f"| flags | in memory ({_code(READ_PERCENT_FLAG)}, {_code(WRITE_MODE_FLAG)}): only an application in the controller's process sees them |"
    )
    add(
        f"| metrics | Prometheus {_md(redact_uri(config.metrics.url or ''))} (scraped every {_duration(config.metrics.scrape_interval_s)}) |"
        if config.metrics.provider == "prometheus"
        else "| metrics | in process (the query service in the controller's process) |"
    )
    add(f"| batch size | {config.batch_size} records |")
    add(f"| traffic steps | {' → '.join(f'{s:g} %' for s in c.steps)} |")
    add(f"| canary duration (bake times) | {_duration(total_canary)} + live {_duration(c.live_bake_s)} |")
    add(
        f"| health checks | every {_duration(c.health_interval_s)}: the interval since the previous check and the "
        f"step's evidence (at most the last {_duration(c.window_s)}) |"
    )
    add(
        f"| decisions | exact binomial tests at {percent(t.confidence)} confidence; error gate "
        f"{percent(t.error_rate_max)} (a step needs ≥ {t.error_min_requests:,} canary requests) |"
    )
    add(
        f"| rollback | {t.failure_limit} failed checks within a step (consecutive or not), or a severe breach "
        f"(≥ {percent(t.severe_error_rate)} errors) at once |"
    )
    add(
        "| parity gate | acknowledged writes read back before `live` and before `completed`"
        + (
            f"; {config.parity_gate.probes_per_check} read-your-writes probes per check |"
            if config.parity_gate.enabled and config.parity_gate.probes_per_check
            else " |"
        )
        if config.parity_gate.enabled
        else "| parity gate | off (`[parity_gate] enabled = false`): nothing is read back before `live` or `completed` |"
    )
    add(f"| alert sinks | {sinks} |")
    add(f"| escalation | {escalation} |")

    add("\n## Pre-flight\n")
    add("- [ ] Credentials exported in the shell that runs the migration (never in URIs or files).")
    links = ", ".join(f"[{_md(name)}](<{str(url).replace('>', '%3E')}>)" for name, url in dashboards.items())
    add(f"- [ ] Dashboards open: {links}.")
    add(f"- [ ] Alert delivery tested ({sinks}); escalation: {escalation}.")
    add(f"- [ ] The journal {_code(journal)} is on durable storage and backed up with the runbook.")
    add(f"- [ ] Validate this config: {_code(_cmd('ragmig', 'plan', '--config', config_path))} exits 0.")
    if file_flags:
        add(
            f"- [ ] Every application instance reads {_code(config.flags.path)} through an OpenFeature flagd provider "
            "(see the README's application contract) and exports the metrics below."
        )

    add("\n## Running and steering it\n")
    add(f"Start the controller (it runs every phase below, each transition journaled):\n\n```sh\n{run}\n```")
    add(
        "Exit 0 completed, 1 rolled back or blocked, 2 error. After a crash, a kill or exit 2, continue where "
        f"the journal stopped (never from 0 %, never a step ahead):\n\n```sh\n{run} --resume\n```"
    )
    add("From another shell, at any time (each takes effect at the controller's next health check):\n")
    add(f"```sh\n{status}\n{pause}\n{resume}\n{rollback}\n```")

    add(_phase_header(1, "dual_write", "every write reaches both stores before anything is copied"))
    add(
        f"1. Set flag `{WRITE_MODE_FLAG}` = `dual_source_first` (the controller does it, journaled first). "
        "The source stays authoritative; a failed target write goes to the journal's outbox and is replayed "
        "until acknowledged."
    )
    add(f"2. Wait {_duration(config.flag_propagation_s)} (`flag_propagation_s`) so every writer has picked it up.")
    add("\nWatch: mirror-write faults and the outbox size in the journal events (`fault`, `outbox replay`).")

    add(_phase_header(2, "backfill", "resumable copy with a durable checkpoint"))
    add(
        f"- Pages by the store's own cursor, {config.batch_size} records a batch, read-ahead pipelined; "
        f"transient errors retried up to {config.backfill.max_attempts} times with exponential backoff "
        f"{config.backfill.backoff_base_s:g} s → {config.backfill.backoff_max_s:g} s and jitter."
    )
    add("- The checkpoint is written after the target acknowledged each batch. After a crash or a kill, resume:")
    add(f"```sh\n{run} --resume\n```")
    add("- Watch: the progress bar (vectors/s, ETA); the `backfill finished` event in the journal.")

    add(_phase_header(3, "verify", "validation — failure blocks every traffic shift"))
    add("The controller runs these checks itself; to re-run them by hand (reports for the incident):\n")
    add(f"```sh\n{certify}\n```")
    add("Validation steps (each a check id in the JSON verdict; any `fail` blocks the migration at 0 % reads):\n")
    add("1. Schema: `schema.dimension`, `schema.distance`, `schema.datatype` must match; `schema.hnsw`,")
    add("   `schema.quantization` drift warns and makes the quality checks decisive.")
    add("2. Parity: `parity.count`, `parity.ids` (missing/extra ids listed), `parity.vectors`, `parity.payloads`.")
    add(
        f"3. Search quality on {config.verification.queries} queries, k={config.verification.k}: "
        "`quality.recall_source`, `quality.recall_target`, `quality.overlap`, `quality.noise_floor`."
    )
    add("4. Latency: `latency.p50`, `latency.p99`.")
    add("\nExit 0 = pass; exit 1 = findings (the orchestrator blocks and alerts); exit 2 = usage or connection error.")

    add(_phase_header(4, "shadow", "sampled reads on both sides; users still read the source"))
    add(
        f"{config.shadow.queries} sampled queries run on source and target; mean overlap@{config.shadow.k} "
        f"must be ≥ {config.shadow.overlap_min:g}, else the migration is **blocked** (alert, reads stay at 0 %)."
        if config.shadow.enabled
        else "Disabled in this config (`[shadow] enabled = false`)."
    )

    add(_phase_header(5, "warm_up", "warm the target's caches before any user reads it"))
    w = config.warm_up
    add(
        f"Replay {w.queries} recent/top queries per round on the target, up to {w.max_rounds} rounds, until p99 "
        f"moves less than {w.settle_tolerance:.0%} (or {w.settle_floor_ms:g} ms) between rounds, p99 ≤ "
        f"{t.p99_ms_max:g} ms and cache hit rate ≥ {t.cache_hit_rate_min:g}. Not settled → warning alert; "
        "the canary's checks decide."
        if w.enabled
        else "Disabled in this config (`[warm_up] enabled = false`): expect a cold-cache p99 spike at the first step."
    )

    add(_phase_header(6, "canary", "stepped read traffic on sticky user buckets"))
    add(
        (
            f"Each step rewrites {_code(config.flags.path)}: flag `{READ_TARGET_FLAG}` is a `fractional` split on "
            "the user id (the targeting key), the target listed first with weight percent × 100 of 10,000, so a "
            "user's bucket never changes and raising the percentage never moves a user back to the source.\n"
        )
        if file_flags
        else (
            f"Each step sets flag `{READ_PERCENT_FLAG}`; a user's bucket is a stable hash of the user id (10,000 "
            "buckets), so raising the percentage never moves a user back to the source.\n"
        )
    )
    add(
        "| step | reads on target | flag value | bake time | health checks | evidence needed | traffic to decide "
        "within the bake |\n|---|---|---|---|---|---|---|"
    )
    evidence = evidence_table(config)
    for i, share in enumerate(c.steps):
        value = (
            f'["target", {round(share * 100)}], ["source", {10_000 - round(share * 100)}]'
            if file_flags
            else f"{share:g}"
        )
        row = evidence[i]
        typical = f"{row['typical']:,}" if row["typical"] is not None else "more than the test can reach"
        add(
            f"| {i + 1} | {share:g} % | {_code(f'{read_flag}={value}')} | {_duration(c.bake_time_of(i))} "
            f"| ≥ {checks_per_step[i]} (every {_duration(c.health_interval_s)}) "
            f"| ≥ {row['floor']:,} canary requests; ≈ {typical} at {percent(HEALTHY_SHARE * t.error_rate_max)} errors "
            f"| ≥ {float(row['total_rps'] or 0):,.1f} requests/s in total |"
        )
    add(
        f"\nEvidence: a step passes the error gate only when its canary requests show an error rate below "
        f"{percent(t.error_rate_max)} with {percent(t.confidence)} confidence (an exact one-sided binomial test). With "
        f"no error at all that takes {t.error_min_requests:,} requests; a healthy target erring at "
        f"{percent(HEALTHY_SHARE * t.error_rate_max)} needs about the figure in the table for a "
        f"{percent(POWER)} chance. The last column is that figure spread over the step's share of the traffic and "
        f"its bake time (evidence spans at most {_duration(c.window_s)}): with less traffic the bake extends, at most "
        f"{_duration(t.max_hold_s)} (`max_hold_s`), then the migration rolls back for lack of evidence."
    )
    add(
        "\nA step is promoted when its bake time has passed, it has fewer than "
        f"{t.failure_limit} failed checks, and its evidence passes every gate. Each check judges the interval "
        "since the previous check and the step's evidence — every canary request since the step began or "
        f"since its last failed check (a failed check consumes its evidence, so no interval counts twice), at "
        f"most the last {_duration(c.window_s)} — against the source cohort as baseline."
    )
    add(
        "\nWhat each health check asks Prometheus for the canary (`"
        + config.metrics.target_cohort.replace("`", "")
        + "` cohort; the baseline is the same with `"
        + config.metrics.source_cohort.replace("`", "")
        + "`), for a full window"
        + (
            ""
            if config.metrics.provider == "prometheus"
            else " (this config reads metrics in process; dashboards can use these)"
        )
        + ":\n"
    )
    for name, query in health_queries(config).items():
        add(f"- {_md(name)}: {_code(query)}")
    for name, query in config.runbook.metrics.items():
        add(f"- {_md(name)}: {_code(query)}")

    add("\n## Rollback triggers\n")
    conf = percent(t.confidence)
    add("| trigger | a check fails when | number |\n|---|---|---|")
    add(
        f"| error rate | the interval's or the evidence's error rate is above the gate with {conf} confidence | "
        f"{percent(t.error_rate_max)} |"
    )
    add(
        f"| severe breach (rolls back at once) | the error rate is at least this with {conf} confidence | "
        f"{percent(t.severe_error_rate)} |"
    )
    add(
        f"| p99 latency | more than 1 % of the evidence's requests are slower than this, with {conf} confidence | "
        f"{t.p99_ms_max:g} ms |"
    )
    add(
        f"| cache hit rate | below this with {conf} confidence (a step passes only above it) | "
        + (f"{t.cache_hit_rate_min:g} |" if t.cache_hit_rate_min > 0 else "off |")
    )
    add(
        "| latency regression (Mann-Whitney U, one-sided) | canary slower than baseline with p below AND "
        f"median ratio above AND median difference above (each side ≥ {t.min_samples} requests) | "
        f"α = {t.mann_whitney_alpha:g} ({1 - t.mann_whitney_alpha:.0%} confidence), ratio > "
        f"{1 + t.latency_tolerance:.2f}, difference > {t.latency_min_effect_ms:g} ms |"
    )
    add(
        "| latency against its reference | the canary's store calls slower than its own first "
        f"{t.min_samples} store calls in the canary, by the same rule (a slower baseline cannot hide it) | "
        + ("on |" if t.latency_reference else "off |")
    )
    add(
        f"| store calls behind the cache | their error rate is above the gate with {conf} confidence | "
        + {
            "warn": "warn: an alert, not a failure |",
            "gate": "gate: fails the check; a step needs them below the gate too |",
            "off": "off |",
        }[t.backend_errors]
    )
    add(
        "| no data | no canary request in an interval | policy "
        f"`{t.no_data_policy}`"
        + (f", rolls back after {_duration(t.max_hold_s)} |" if t.no_data_policy == "hold" else " |")
    )
    add(
        f"| not enough evidence | the step's bake has passed and the evidence still does not pass | rolls back "
        f"{_duration(t.max_hold_s)} after the bake |"
    )
    add(f"| failure_limit | failed checks within one step (consecutive or not) reach | {t.failure_limit} |")
    add(
        "\nNot a rollback: the baseline (source) getting worse on its own — its error rate above the gate, or its "
        "store calls slower than its own reference — raises a `baseline degraded` warning and never fails the canary."
    )
    add(
        f"\nRollback: `{read_flag}` → 0 % at once (every user back on the source), `{WRITE_MODE_FLAG}` → "
        "`dual_source_first` (dual-write kept, so a retry needs no new backfill), an alert to every sink, and the "
        f"reason with its figures in the journal. Manual rollback from any shell: {_code(rollback)} (taken at the "
        f"controller's next health check, within {_duration(c.health_interval_s)}). If the controller is not running, "
        f"start it with {_code(run + ' --resume')}: it takes the pending rollback first. Investigate, then "
        "re-verify before retrying."
    )

    g = config.parity_gate
    add("\n## Parity gate before every irreversible step\n")
    add(
        (
            "Before `live` and again before `completed`, every write acknowledged through dual-write since the "
            "migration began is read back from the target and compared with the source (the same record "
            "comparison as verification), and the whole collection is compared with the source by the collection "
            "parity (in this release every record; a sampled one reads `[parity_gate] sample`). During the canary and live, {g.probes_per_check} acknowledged writes are read "
            "back at every health check (read-your-writes probes; a probe that finds a drop runs the whole gate). A "
            "write the target silently dropped **blocks** the migration: reads back to 0 %, writes source-first, the "
            f"ids listed in the journal and the alert, each replayed from the source (at most {g.replay_rounds} rounds). "
            "Find why the target lost them before `retry()`."
        )
        if g.enabled
        else "Off in this config (`[parity_gate] enabled = false`): nothing is read back before `live` or `completed`."
    )

    add(_phase_header(7, "live", "all reads on the target, writes target-first and mirrored to the source"))
    add(
        f"`{read_flag}` at 100 %, `{WRITE_MODE_FLAG}=dual_target_first`, health-checked for "
        f"{_duration(c.live_bake_s)} with the same triggers. The source still gets every write, so a rollback "
        "stays cheap."
    )

    add(_phase_header(8, "completed", "source writes off by flag; orphaned-write watch on"))
    add(
        f"`{WRITE_MODE_FLAG}=target_only`. After {_duration(config.flag_propagation_s)} the orchestrator "
        "takes a digest of every source record; any record added, changed or deleted on the source afterwards "
        "is an orphaned write (a writer bypassing the flag): counted, listed by id, alerted. Decommission the "
        "source only after the watch stays clean for a full business cycle."
    )

    if config.source_is_pinecone:
        add("\n## Pinecone → Qdrant specifics\n")
        add(
            "- **Ids**: Qdrant takes only unsigned ints and UUIDs. Each record becomes the deterministic "
            "`uuid5` of (namespace, id); the original id is kept in payload `__id__` and the namespace in "
            "`__namespace__`. Look records up by `__id__`, not by the Pinecone id."
        )
        add(
            "- **Namespaces are kept apart**: the same id in two namespaces stays two points (the official "
            "migration tool silently overwrites one). Scope queries as Pinecone did with a filter on "
            "`__namespace__` (index it as a keyword)."
        )
        add(
            "- **Numbers**: Pinecone stores every number as float64; integral floats go back to ints "
            "(2020.0 → 2020), or a Qdrant `MatchValue(2020)` filter would silently miss them."
        )
        add(
            "- **Scores**: cosine and dot keep their scale. Pinecone `euclidean` returns the *squared* "
            "distance, Qdrant `Euclid` the plain distance: convert score thresholds with "
            "qdrant = sqrt(pinecone), pinecone = qdrant². Lower is better in both."
        )
        add(
            "- **Filters**: `$nin` becomes `must_not` + `MatchAny` (never `MatchExcept`, which matches a list "
            "holding any other value); `$eq` on numbers becomes a range; `$exists: true` becomes "
            "`must_not is_empty`."
        )
        add(
            "- **Consistency**: Pinecone is eventually consistent; writes become visible after a lag, so "
            "verification waits for counts to settle before it compares."
        )

    add("\n## Escalation\n")
    add(
        f"- Alerts: {sinks}. On-call: {escalation}.\n"
        f"- Where it stands: {_code(status)} (`--json` for the incident). Every transition, health check (with "
        "figures), decision, command and alert is in the journal's event log; attach it to the incident."
    )
    return "\n".join(out) + "\n"


def plan_command(config: Path, out: Path | None) -> int:
    """Render the runbook of ``config`` to ``out`` (stdout when None). A bad config raises ``ConfigError``
    (one line naming the file and key; the CLI exits 2)."""
    if out is not None:
        check_writable(out, "--out")
    migration = load_config(config)
    if out is not None:
        check_writable(out, "runbook")
    text = render_runbook(migration, str(config))
    if out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(out, text)
        print(f"wrote {out}")
    return 0
