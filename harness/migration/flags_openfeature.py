"""``FlagStore`` implementations: OpenFeature with its in-memory provider (the default), and a plain one.

The read percentage and the write mode are feature flags, evaluated through an OpenFeature client, so
the orchestrator reads them the way an application would. OpenFeature has no write path: a change
registers a fresh ``InMemoryProvider`` holding the new values for this instance's domain (public API
only, ``api.set_provider_and_wait``), which also emits OpenFeature's provider events. With a journal,
every value set is mirrored into it, and a new instance on the same journal starts from the values
last set. For applications in other processes (any language), use ``FlagdFileFlags``.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from openfeature import api
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from harness.migration.flags import WriteMode

if TYPE_CHECKING:
    from harness.migration.journal import Journal

__all__ = ["READ_PERCENT_FLAG", "WRITE_MODE_FLAG", "InMemoryFlags", "OpenFeatureFlags", "check_percent"]

READ_PERCENT_FLAG = "ragmig.read-percent"
WRITE_MODE_FLAG = "ragmig.write-mode"


def check_percent(percent: float) -> float:
    """``percent`` as a float within 0–100; ``ValueError`` otherwise (NaN included)."""
    value = float(percent)
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"read percentage must be within 0..100, got {percent}")
    return value


class OpenFeatureFlags:
    """Migration flags through an OpenFeature client bound to its own domain (one provider per instance)."""

    def __init__(
        self,
        journal: Journal | None = None,
        *,
        read_percent: float = 0.0,
        write_mode: WriteMode = WriteMode.SOURCE_ONLY,
    ) -> None:
        self._journal = journal
        if journal is not None:
            read_percent = float(journal.get(f"flag.{READ_PERCENT_FLAG}", read_percent))
            write_mode = WriteMode(journal.get(f"flag.{WRITE_MODE_FLAG}", str(write_mode)))
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {
            READ_PERCENT_FLAG: check_percent(read_percent),
            WRITE_MODE_FLAG: str(WriteMode(write_mode)),
        }
        # A domain of its own: two migrations in one process (tests, game days) never share flags.
        self.domain = f"ragmig-{uuid.uuid4().hex}"
        self._publish()
        self._client = api.get_client(domain=self.domain)

    def _publish(self) -> None:
        """Serve the current values: a new in-memory provider for this domain (the SDK's public API)."""
        flags = {key: InMemoryFlag("current", {"current": value}) for key, value in self._values.items()}
        api.set_provider_and_wait(InMemoryProvider(flags), domain=self.domain)

    def _set(self, key: str, value: Any) -> None:
        with self._lock:
            self._values[key] = value
            self._publish()
        if self._journal is not None:
            self._journal.set(**{f"flag.{key}": value})

    def read_percent(self) -> float:
        """Percentage (0–100) of user buckets whose reads the target serves."""
        return float(self._client.get_float_value(READ_PERCENT_FLAG, 0.0))

    def set_read_percent(self, percent: float) -> None:
        """Change the read percentage (mirrored into the journal when there is one)."""
        self._set(READ_PERCENT_FLAG, check_percent(percent))

    def write_mode(self) -> WriteMode:
        """Where writes go now; an unreadable flag falls back to source-only (the safe side)."""
        value = self._client.get_string_value(WRITE_MODE_FLAG, str(WriteMode.SOURCE_ONLY))
        try:
            return WriteMode(value)
        except ValueError:
            return WriteMode.SOURCE_ONLY

    def set_write_mode(self, mode: WriteMode) -> None:
        """Change the write mode (mirrored into the journal when there is one)."""
        self._set(WRITE_MODE_FLAG, str(WriteMode(mode)))


class InMemoryFlags:
    """A thread-safe ``FlagStore`` without any SDK (for unit tests of the flag's consumers)."""

    def __init__(self, read_percent: float = 0.0, write_mode: WriteMode = WriteMode.SOURCE_ONLY) -> None:
        self._lock = threading.Lock()
        self._read_percent = check_percent(read_percent)
        self._write_mode = WriteMode(write_mode)

    def read_percent(self) -> float:
        """Percentage (0–100) of user buckets whose reads the target serves."""
        with self._lock:
            return self._read_percent

    def set_read_percent(self, percent: float) -> None:
        """Change the read percentage."""
        with self._lock:
            self._read_percent = check_percent(percent)

    def write_mode(self) -> WriteMode:
        """Where writes go now."""
        with self._lock:
            return self._write_mode

    def set_write_mode(self, mode: WriteMode) -> None:
        """Change the write mode."""
        with self._lock:
            self._write_mode = WriteMode(mode)
