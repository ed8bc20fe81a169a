"""Plots for the certification report, rendered by matplotlib as inline SVG strings.

Figures are built with ``matplotlib.figure.Figure``, never pyplot, so no GUI backend is loaded and the
global backend (Agg or whatever the user chose) is left alone.

Only where looking beats reading: the per-query recall distribution of source vs target, and the
latency CDF of each store. Text stays text in the SVG (``svg.fonttype = "none"``), element ids are
salted per plot so several SVGs can live in one page, and nothing refers to an external resource.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from harness.reporting.palette import COHORT, OKABE_ITO

_COLOURS = COHORT


def figure_svg(fig: Figure, salt: str) -> str:
    """The figure as an ``<svg>`` element (no XML prologue), deterministic for the same data."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    # The RDF metadata block names vocabularies by URL; nothing needs it inline.
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.DOTALL)


def recall_distribution_svg(recall: Mapping[str, npt.NDArray[np.float64]], k: int) -> str:
    """Share of queries at each recall@k level, one bar per store (recall is a multiple of 1/k)."""
    levels = np.round(np.linspace(0.0, 1.0, k + 1), 6)
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.subplots()
    width = 0.8 / (k * max(1, len(recall)))
    for i, (side, values) in enumerate(recall.items()):
        snapped = np.round(np.clip(values, 0.0, 1.0) * k) / k
        share = np.array([(np.round(snapped, 6) == level).mean() * 100 for level in levels])
        ax.bar(
            levels + (i - (len(recall) - 1) / 2) * width,
            share,
            width=width,
            label=f"{side} (mean {values.mean():.3f})",
            color=_COLOURS.get(side),
        )
    ax.set_xlabel(f"recall@{k} per query")
    ax.set_ylabel("% of queries")
    ax.set_xlim(-0.06, 1.06)
    ax.set_title("Recall distribution: source vs target")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False)  # never over a bar
    ax.grid(axis="y", alpha=0.3)
    return figure_svg(fig, "recall")


def latency_cdf_svg(latencies_ms: Mapping[str, npt.NDArray[np.float64]], gate_ms: float) -> str:
    """Empirical CDF of per-request latency (ms, log scale) per store, with p99 marked and the gate."""
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.subplots()
    for side, values in latencies_ms.items():
        ordered = np.sort(np.maximum(values, 1e-3))
        if len(ordered) == 0:
            continue
        cdf = np.arange(1, len(ordered) + 1) / len(ordered)
        p99 = float(np.percentile(values, 99))
        ax.step(ordered, cdf, where="post", label=f"{side} (p99 {p99:.2f} ms)", color=_COLOURS.get(side))
        ax.axvline(max(p99, 1e-3), color=_COLOURS.get(side), linestyle=":", linewidth=1)
    ax.axvline(gate_ms, color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1, label=f"p99 gate {gate_ms:g} ms")
    ax.set_xscale("log")
    # Plain numbers at decades (and at 2 and 5 when the data spans under ~2 decades): the default labels
    # every 2-9 multiple of a narrow range in mathtext and crams them.
    low, high = ax.get_xlim()
    narrow = np.log10(max(high, 1e-9) / max(low, 1e-9)) < 2.5
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,), numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("latency per query (ms, log scale)")
    ax.set_ylabel("fraction of queries")
    ax.set_ylim(0, 1.02)
    ax.set_title("Query latency CDF")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False)  # never over a curve
    ax.grid(alpha=0.3)
    return figure_svg(fig, "latency")


def quality_plots(plot_data: Mapping[str, Any], k: int) -> list[str]:
    """The quality family's plots from ``VerificationRun.plot_data()`` (none when quality was skipped)."""
    recall = plot_data.get("recall")
    return [recall_distribution_svg(recall, k)] if recall else []


def latency_plots(plot_data: Mapping[str, Any], gate_ms: float) -> list[str]:
    """The latency family's plots from ``VerificationRun.plot_data()`` (none when latency was not measured)."""
    latency = plot_data.get("latency_ms")
    return [latency_cdf_svg(latency, gate_ms)] if latency else []
