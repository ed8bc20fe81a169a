"""HTML fragments of the certification report: the verdict banner, the checks table, the samples.

Rendering only: the data comes as ``Check``/``Verdict`` values and SVG strings. Every piece of text
that came from a store or a user (ids, payload values, messages, URIs) is redacted (``redact_text``)
and escaped (``html.escape``) here, so a payload holding ``<script>`` shows as text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.model import Check, Status, Verdict
from harness.redact import redact_text

CELL_CLIP = 300  # characters of a value shown in one table cell
LIST_CLIP = 100  # ids shown in one sample list

STYLE = """<style>
.ragmig{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;margin:6px 0}
.ragmig table{border-collapse:collapse;margin:6px 0 10px 0}
.ragmig th,.ragmig td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
.ragmig th{background:#f4f4f4}
.ragmig .status{font-weight:600;text-transform:uppercase}
.ragmig .s-pass{color:#1a7f37}.ragmig .s-fail{color:#cf222e}.ragmig .s-warn{color:#9a6700}.ragmig .s-skip{color:#666}
.ragmig .s-error{color:#fff;background:#6e2b00;padding:0 4px;border-radius:3px}
.ragmig .banner{padding:10px 14px;border-radius:6px;font-size:18px;font-weight:600;margin:4px 0 8px 0}
.ragmig .banner.pass{background:#dafbe1;color:#1a7f37;border:1px solid #1a7f37}
.ragmig .banner.fail{background:#ffebe9;color:#cf222e;border:1px solid #cf222e}
.ragmig .banner.error{background:repeating-linear-gradient(45deg,#3d1a00,#3d1a00 14px,#5c2700 14px,#5c2700 28px);
color:#fff;border:3px solid #ff8c00}
.ragmig .banner .why{display:block;font-size:14px;font-weight:400;margin-top:4px}
.ragmig .ids{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.ragmig .plots svg{max-width:100%;height:auto;margin-right:12px}
.ragmig h3{margin:10px 0 4px 0;font-size:14px}
</style>"""


def text(value: Any) -> str:
    """``value`` as escaped, redacted, clipped text for a cell (JSON for lists and dicts)."""
    if value is None:
        shown = "—"
    elif isinstance(value, str):
        shown = value
    elif isinstance(value, float):
        shown = f"{value:.4g}"
    elif isinstance(value, bool | int):
        shown = str(value)
    else:
        shown = json.dumps(value, ensure_ascii=False, default=str)
    if len(shown) > CELL_CLIP:
        shown = shown[:CELL_CLIP] + "…"
    return html.escape(redact_text(shown))


class _Markup(str):
    """HTML this module built itself (not escaped again)."""


def _status(status: Status | str) -> _Markup:
    value = html.escape(str(status))
    return _Markup(f'<span class="status s-{value}">{value}</span>')


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = [cell if isinstance(cell, _Markup) else text(cell) for cell in row]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def checks_table(checks: Sequence[Check]) -> str:
    """One row per check: id, status, observed, expected, message."""
    rows = [(c.id, _status(c.status), c.observed, c.expected, c.message) for c in checks]
    return _table(["check", "status", "observed", "expected", "message"], rows)


def _id_list(title: str, ids: Sequence[Any], total: int) -> str:
    shown = ", ".join(text(i) for i in ids[:LIST_CLIP])
    more = f" … and {total - min(len(ids), LIST_CLIP)} more" if total > min(len(ids), LIST_CLIP) else ""
    return f'<h3>{html.escape(title)} ({total})</h3><div class="ids">{shown}{html.escape(more)}</div>'


def check_samples(check: Check) -> str:
    """The evidence behind one check (missing ids, field diffs, worst queries, …); "" when none."""
    d: Mapping[str, Any] = check.details
    if check.id == "parity.ids":
        parts = []
        if d.get("missing_count"):
            missing: list[Any] = list(d.get("missing", []))
            spaces = d.get("missing_namespaces")
            if spaces:  # the same id can be missing in two namespaces: name each one's
                missing = [f"{pid} (namespace {ns})" if ns else pid for pid, ns in zip(missing, spaces, strict=False)]
            parts.append(_id_list("Missing on target", missing, int(d["missing_count"])))
        if d.get("extra_count"):
            parts.append(_id_list("Extra on target", d.get("extra", []), int(d["extra_count"])))
        return "".join(parts)
    if check.id == "parity.vectors" and d.get("sample"):
        rows: list[tuple[Any, ...]] = [(s.get("id"), s.get("max_abs_diff")) for s in d["sample"]]
        return f"<h3>Vectors that differ ({d.get('mismatch_count')})</h3>" + _table(["id", "max abs diff"], rows)
    if check.id == "parity.payloads" and d.get("sample"):
        rows = [(s.get("id"), s.get("field"), s.get("change"), s.get("source"), s.get("target")) for s in d["sample"]]
        return f"<h3>Payload fields that differ ({d.get('mismatch_count')} records)</h3>" + _table(
            ["id", "field", "change", "source", "target"], rows
        )
    if check.id == "quality.recall_target" and d.get("worst_queries"):
        rows = [
            (w["query"], w["recall_target"], w["recall_source"], w["overlap"], w["expected"], w["target"])
            for w in d["worst_queries"]
        ]
        return "<h3>Worst queries</h3>" + _table(
            ["query", "recall target", "recall source", "overlap", "expected (exact top-k)", "target returned"], rows
        )
    if check.id == "quality.namespaces" and d.get("namespaces"):
        rows = [
            (
                n.get("namespace"),
                n.get("queries"),
                n.get("recall_source"),
                n.get("recall_target"),
                n.get("overlap"),
                n.get("noise_floor"),
                _status(n.get("status", "")),
            )
            for n in d["namespaces"]
        ]
        return '<h3 class="ragmig-namespaces">Per namespace</h3>' + _table(
            ["namespace", "queries", "recall source", "recall target", "overlap", "noise floor", "status"], rows
        )
    if check.id == "quality.filtered" and d.get("filters"):
        rows = [
            (
                f.get("filter"),
                f.get("label"),
                f.get("namespace"),
                f.get("queries"),
                f.get("source_count"),
                f.get("target_count"),
                f.get("overlap"),
                f.get("known_difference"),
                _status(f.get("status", "")),
                f.get("note"),
            )
            for f in d["filters"]
        ]
        return '<h3 class="ragmig-filters">Per filter</h3>' + _table(
            [
                "filter",
                "from",
                "namespace",
                "queries",
                "source matches",
                "target matches",
                "top-k overlap",
                "known difference",
                "status",
                "note",
            ],
            rows,
        )
    if check.id == "schema.hnsw" and d.get("drift"):
        rows = [(field, change["source"], change["target"]) for field, change in d["drift"].items()]
        return "<h3>HNSW drift</h3>" + _table(["parameter", "source", "target"], rows)
    if check.id == "latency.p99" and "source" in d:
        rows = [
            (side, d[side].get("p50_ms"), d[side].get("p95_ms"), d[side].get("p99_ms"), d[side].get("max_ms"))
            for side in ("source", "target")
        ]
        return "<h3>Latency per store (ms)</h3>" + _table(["store", "p50", "p95", "p99", "max"], rows)
    return ""


def family_html(title: str, checks: Sequence[Check], plots: Sequence[str] = ()) -> str:
    """A check family's section: its table, its samples and its plots (SVG strings made by ``plots``)."""
    samples = "".join(check_samples(c) for c in checks)
    figures = f'<div class="plots">{"".join(plots)}</div>' if plots else ""
    return f'{STYLE}<div class="ragmig"><h3>{html.escape(title)}</h3>{checks_table(checks)}{samples}{figures}</div>'


BANNER_WORDS = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.ERROR: "INCOMPLETE"}


def banner_html(verdict: Verdict, heading: str = "Certification verdict") -> str:
    """The verdict banner: green PASS, red FAIL, or a striped INCOMPLETE (``error``) saying what did not run.
    ``heading`` names what was judged (``ragmig migrate`` says "Migration verification")."""
    outcome = verdict.verdict
    counts = {s: sum(1 for c in verdict.checks if c.status is s) for s in Status}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no checks ran"
    why = ""
    if outcome is Status.ERROR:
        reason = verdict.incomplete or "a check could not run"
        why = (
            f'<span class="why">The run did not complete, so this is not a pass: {text(reason)}. '
            "Fix the cause and certify again.</span>"
        )
    return (
        f'<div class="banner {outcome}" role="status">{html.escape(heading)}: {BANNER_WORDS[outcome]}'
        f' <span style="font-weight:400;font-size:14px">({html.escape(tally)})</span>{why}</div>'
    )


def summary_html(verdict: Verdict, plots: Sequence[str] = (), heading: str = "Certification verdict") -> str:
    """The top of the report: verdict banner (under ``heading``), both stores, every check, the plots."""
    stores = _table(
        ["store", "uri", "records", "dimension", "distance", "backend"],
        [
            (
                side,
                info.get("uri"),
                info.get("count"),
                (info.get("schema") or {}).get("dimension"),
                (info.get("schema") or {}).get("distance"),
                (info.get("schema") or {}).get("backend"),
            )
            for side, info in (("source", verdict.source), ("target", verdict.target))
        ],
    )
    figures = f'<div class="plots">{"".join(plots)}</div>' if plots else ""
    return f'{STYLE}<div class="ragmig">{banner_html(verdict, heading)}{stores}{checks_table(list(verdict.checks))}{figures}</div>'


def report_page(verdict: Verdict, title: str = "ragmig certify") -> str:
    """A whole HTML page holding only the summary: what ``ragmig certify`` writes when its suite wrote none."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body>{summary_html(verdict)}</body></html>\n"
    )
