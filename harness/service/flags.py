"""The application's side of the flag file: the flags read through OpenFeature's flagd provider.

This is what a team's application does in any language (here with ``openfeature-provider-flagd``'s
in-process FILE resolver, no flagd server needed): evaluate ``ragmig.read-target`` with the user id as
the targeting key to route the user's reads, and ``ragmig.write-mode`` to decide where writes go. The
provider polls the file and picks up every atomic rewrite by the controller (``ragmig run``).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext

from harness.errors import UsageError
from harness.migration.flags import WriteMode
from harness.migration.flags_flagd import READ_TARGET_FLAG
from harness.migration.flags_openfeature import WRITE_MODE_FLAG
from harness.migration.router import Backend

__all__ = ["FlagdFileReader", "flagd_file_provider"]


def flagd_file_provider(path: Path | str, poll_ms: int = 200) -> FlagdProvider:
    """OpenFeature's flagd provider evaluating the flag file at ``path`` in process, re-reading it when it
    changes (checked every ``poll_ms``)."""
    return FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path), deadline_ms=poll_ms)


class FlagdFileReader:
    """The migration flags as an application reads them (a read-only ``FlagStore`` plus per-user routing).

    ``backend_for(user_id)`` is the user's side for reads; ``write_mode()`` where writes go; a flag that
    cannot be evaluated falls back to the source (the safe side). ``read_percent()`` reports the
    percentage the file's metadata names, for logs. Setting a flag is the controller's job: ``set_*``
    raise ``UsageError``. ``close()`` (or ``with``) stops the provider's file watcher.
    """

    def __init__(self, path: Path | str, *, poll_ms: int = 200) -> None:
        self.path = Path(path)
        self.domain = f"ragmig-app-{uuid.uuid4().hex}"
        self._provider = flagd_file_provider(self.path, poll_ms)
        api.set_provider_and_wait(self._provider, domain=self.domain)
        self._client = api.get_client(domain=self.domain)

    def close(self) -> None:
        """Stop the provider's file watcher (it would otherwise poll a file that may be gone)."""
        self._provider.shutdown()

    def __enter__(self) -> FlagdFileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def backend_for(self, user_id: str) -> Backend:
        """The side that serves ``user_id``'s reads now."""
        value = self._client.get_string_value(READ_TARGET_FLAG, "source", EvaluationContext(targeting_key=user_id))
        return Backend.TARGET if value == "target" else Backend.SOURCE

    def read_percent(self) -> float:
        """The read percentage the flag's metadata names (0 when it cannot be read)."""
        details = self._client.get_string_details(READ_TARGET_FLAG, "source", EvaluationContext(targeting_key="-"))
        value = details.flag_metadata.get("readPercent", 0.0)
        return float(value) if isinstance(value, int | float) else 0.0

    def write_mode(self) -> WriteMode:
        """Where writes go now; an unreadable flag means source-only."""
        value = self._client.get_string_value(WRITE_MODE_FLAG, str(WriteMode.SOURCE_ONLY))
        try:
            return WriteMode(value)
        except ValueError:
            return WriteMode.SOURCE_ONLY

    def set_read_percent(self, percent: float) -> None:
        """Refused: the controller writes the flag file."""
        raise UsageError("the application reads the flag file; `ragmig run` writes it")

    def set_write_mode(self, mode: WriteMode) -> None:
        """Refused: the controller writes the flag file."""
        raise UsageError("the application reads the flag file; `ragmig run` writes it")
