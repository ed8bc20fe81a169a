"""Report fragments: everything escaped and redacted, plots as self-contained inline SVG."""

from __future__ import annotations

import re

import numpy as np
import pytest

from harness.model import Check, Status, Verdict
from harness.reporting.html import check_samples, family_html, summary_html
from harness.reporting.plots import latency_cdf_svg, recall_distribution_svg
from harness.verify import CHECK_IDS

EVIL = "<script>alert('x')</script>"


def verdict() -> Verdict:
    checks = [Check(cid, Status.PASS, 1, 1, "ok") for cid in CHECK_IDS]
    checks[CHECK_IDS.index("parity.payloads")] = Check(
        "parity.payloads",
        Status.FAIL,
        1,
        0,
        "1 payload differs",
        {
            "mismatch_count": 1,
            "sample": [{"id": EVIL, "field": "text", "change": "changed", "source": "a", "target": EVIL}],
        },
    )
    return Verdict(
        tuple(checks),
        source={"uri": "pinecone://idx?host=http://127.0.0.1:1&api_key=pcsk_abcdefgh12345", "count": 3, "schema": {}},
        target={"uri": "exact://t", "count": 3, "schema": {}},
    )


def test_summary_names_every_check_and_escapes_store_data() -> None:
    page = summary_html(verdict(), ["<svg></svg>"])
    for check_id in CHECK_IDS:
        assert f"<td>{check_id}</td>" in page
    assert "Certification verdict: FAIL" in page
    assert "pcsk_abcdefgh12345" not in page
    assert "<svg></svg>" in page


def test_samples_escape_payload_values() -> None:
    check = verdict().check("parity.payloads")
    html = family_html("Data parity", [check]) + check_samples(check)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    "svg",
    [
        recall_distribution_svg({"source": np.ones(20), "target": np.linspace(0, 1, 20)}, 10),
        latency_cdf_svg({"source": np.linspace(0.1, 2, 50), "target": np.linspace(0.2, 9, 50)}, 500.0),
    ],
)
def test_plots_are_inline_svg_with_text_and_no_external_references(svg: str) -> None:
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<text" in svg  # svg.fonttype = none: labels stay text
    assert not re.search(r"(href|src)=\"(?!#)", svg)
    assert "<metadata>" not in svg


def test_missing_ids_are_listed_with_their_namespace() -> None:
    details = {
        "missing_count": 2,
        "missing": ["doc-7", "doc-7"],
        "missing_namespaces": ["tenant-b", ""],
        "extra_count": 0,
    }
    shown = check_samples(Check("parity.ids", Status.FAIL, None, None, "2 missing", details))
    # The same id lost in two namespaces is two losses, each named by where it lived.
    assert "doc-7 (namespace tenant-b), doc-7</div>" in shown
    unscoped = check_samples(Check("parity.ids", Status.FAIL, None, None, "1", {"missing_count": 1, "missing": [5]}))
    assert ">5</div>" in unscoped and "namespace" not in unscoped
