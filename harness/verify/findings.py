"""What parity found, as typed records: the re-check (``harness.verify.recheck``) reads these, never the
JSON details of a check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.records import Comparison, RecordId

__all__ = ["FINDINGS_LIMIT", "Finding", "ParityFindings"]

FINDINGS_LIMIT = 100_000
"""Findings kept per check; a check with more is left as found by the re-check (it cannot look at all)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One record a parity check found different.

    ``kind``: ``missing`` (a source record absent on the target), ``extra`` (a target record no source
    record maps to), ``vectors``, ``payloads``, ``non_finite`` (NaN/±Inf in its vector), or a
    ``parity.mapping`` kind (``unknown``: the point names no source record). ``source``/``target``: the
    record on each side, None where parity could not name it (an extra point's source record is named by
    its payload). ``listed``: the id as the check's details list it.
    """

    check: str
    kind: str
    source: RecordId | None
    target: RecordId | None
    listed: Any


@dataclass(frozen=True, slots=True)
class ParityFindings:
    """Every finding of one parity run, how records were compared, and what cannot be re-checked.

    ``unrecheckable`` maps a check id to the reason it cannot be re-checked (more findings than
    ``FINDINGS_LIMIT``, or findings no write in flight can explain, like a point whose id is not the
    uuid5 of the record it names).
    """

    comparison: Comparison
    findings: tuple[Finding, ...] = ()
    unrecheckable: dict[str, str] = field(default_factory=dict)
    counts: tuple[int, int] = (0, 0)

    def of(self, check_id: str) -> list[Finding]:
        """The findings of one check."""
        return [f for f in self.findings if f.check == check_id]
