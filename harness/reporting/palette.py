"""The report colours: Okabe & Ito's qualitative palette, distinguishable with every common form of
colour-blindness (Okabe, M. & Ito, K., "Color Universal Design", 2008). No matplotlib import: the
timeline's data helpers use these names without loading a plotting library.
"""

from __future__ import annotations

__all__ = ["COHORT", "DECISION", "FAULT_SIDE", "OKABE_ITO", "OUTCOME", "PHASE"]

OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
_C = OKABE_ITO

COHORT = {"source": _C["blue"], "target": _C["orange"]}
"""Which store served a request: source (baseline) and target (canary)."""

PHASE: dict[str, tuple[str, float]] = {
    "dual_write": (_C["grey"], 0.22),
    "backfill": (_C["sky_blue"], 0.35),
    "verify": (_C["yellow"], 0.35),
    "shadow": (_C["reddish_purple"], 0.28),
    "warm_up": (_C["orange"], 0.30),
    "canary": (_C["bluish_green"], 0.20),
    "live": (_C["bluish_green"], 0.45),
    "completed": (_C["blue"], 0.25),
    "blocked": (_C["vermillion"], 0.30),
    "rolled_back": (_C["vermillion"], 0.30),
}
"""Orchestrator phase -> (hue, alpha) of its band: a different hue for each phase that can follow
another (canary and live share green; live is the deeper tint), vermillion for the two failure ends."""

OUTCOME = {
    "pass": _C["bluish_green"],
    "fail": _C["vermillion"],
    "no_data": _C["grey"],
    "undecided": _C["sky_blue"],
    "warming": _C["orange"],
    "settled": _C["bluish_green"],
}
"""Health check (or warm-up round) outcome -> colour of its dot."""

DECISION: dict[str, tuple[str, str]] = {
    "shift": (_C["bluish_green"], ":"),
    "promote": (_C["bluish_green"], "-"),
    "rollback": (_C["vermillion"], "-"),
    "blocked": (_C["vermillion"], "-"),
    "completed": (_C["black"], "-"),
    "verified": (_C["blue"], ":"),
}
"""Orchestrator decision -> (colour, line style) of its vertical line."""

FAULT_SIDE = {
    "source": _C["blue"],
    "target": _C["orange"],
    "scenario": _C["reddish_purple"],
    "journal": _C["grey"],
}
"""Where a fault was injected -> colour of its bar."""
