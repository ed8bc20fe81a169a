"""The ``FlagStore`` seam: read percentage and write mode come from flags, never from routing alone."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable


class WriteMode(StrEnum):
    """Where writes go. The first-named side is authoritative (written first, its failure fails the write)."""

    SOURCE_ONLY = "source_only"
    DUAL_SOURCE_FIRST = "dual_source_first"
    DUAL_TARGET_FIRST = "dual_target_first"
    TARGET_ONLY = "target_only"


@runtime_checkable
class FlagStore(Protocol):
    """Current migration flags."""

    def read_percent(self) -> float:
        """Percentage (0–100) of user buckets whose reads the target serves."""
        ...

    def set_read_percent(self, percent: float) -> None:
        """Change the read percentage."""
        ...

    def write_mode(self) -> WriteMode:
        """Where writes go now."""
        ...

    def set_write_mode(self, mode: WriteMode) -> None:
        """Change the write mode."""
        ...
