"""``FlagdFileFlags``: the migration flags as a flagd flag-definition file that applications read.

OpenFeature has no write path, so the orchestrator writes the flags where every OpenFeature flagd
provider (Go, Java, JS, .NET, Python, ... or a flagd server) reads them: a JSON file in flagd's
flag-definition format, replaced atomically (temp sibling + fsync + rename), so a reader sees the old
file or the new one, never half of one. The file is the contract with the team's application:

- ``ragmig.read-target`` (string): ``"target"`` or ``"source"`` per user, a ``fractional`` split on the
  evaluation context's targeting key (the user id). The target is listed first with weight
  ``percent × 100`` out of a fixed total of 10,000, so a user's bucket (murmur3 of flag key + user id,
  scaled to the total) never changes and raising the percentage only adds users to the target. Its
  ``metadata.readPercent`` carries the percentage itself.
- ``ragmig.write-mode`` (string): one of ``WriteMode``'s values as the default variant.

The file is also where this class reads the flags back: what the orchestrator reports is what the
applications are served.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.migration.flags import WriteMode
from harness.migration.flags_openfeature import WRITE_MODE_FLAG, check_percent
from harness.outputs import write_text_atomic

__all__ = ["READ_TARGET_FLAG", "SCHEMA_URL", "WEIGHT_TOTAL", "FlagdFileFlags", "flag_definitions", "read_flag_file"]

READ_TARGET_FLAG = "ragmig.read-target"
SCHEMA_URL = "https://flagd.dev/schema/v0/flags.json"
WEIGHT_TOTAL = 10_000
"""Fractional weights are integers: basis points of the read percentage (0.01 % resolution). The total
never changes, so each user's bucket never changes."""


def flag_definitions(read_percent: float, write_mode: WriteMode) -> dict[str, Any]:
    """The flagd flag-definition document for ``read_percent`` (0–100) and ``write_mode``."""
    target_weight = round(check_percent(read_percent) * WEIGHT_TOTAL / 100.0)
    return {
        "$schema": SCHEMA_URL,
        "flags": {
            READ_TARGET_FLAG: {
                "state": "ENABLED",
                "variants": {"target": "target", "source": "source"},
                "defaultVariant": "source",
                "targeting": {"fractional": [["target", target_weight], ["source", WEIGHT_TOTAL - target_weight]]},
                "metadata": {"readPercent": target_weight * 100.0 / WEIGHT_TOTAL},
            },
            WRITE_MODE_FLAG: {
                "state": "ENABLED",
                "variants": {str(mode): str(mode) for mode in WriteMode},
                "defaultVariant": str(WriteMode(write_mode)),
            },
        },
    }


def read_flag_file(path: Path | str) -> tuple[float, WriteMode]:
    """(read percentage, write mode) held by the flag file at ``path``; ``ConfigError`` naming the file
    when it is missing or not in the shape ``flag_definitions`` writes."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        flags = document["flags"]
        weights = dict(flags[READ_TARGET_FLAG]["targeting"]["fractional"])
        target, source = int(weights["target"]), int(weights["source"])
        mode = WriteMode(flags[WRITE_MODE_FLAG]["defaultVariant"])
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such flag file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a ragmig flagd flag file ({type(exc).__name__}: {exc})") from None
    if target < 0 or source < 0 or target + source <= 0:
        raise ConfigError(f"{path}: fractional weights must be >= 0 with a positive total, got {target}/{source}")
    return target * 100.0 / (target + source), mode


class FlagdFileFlags:
    """A ``FlagStore`` writing the flagd flag file at ``path`` (see the module docstring).

    A file already there is kept (a restarted controller serves what it served); a missing one is
    written with ``read_percent`` and ``write_mode``. The orchestrator then sets both from its journal.
    """

    def __init__(
        self, path: Path | str, *, read_percent: float = 0.0, write_mode: WriteMode = WriteMode.SOURCE_ONLY
    ) -> None:
        self.path = Path(path)
        if self.path.exists():
            self._read_percent, self._write_mode = read_flag_file(self.path)
        else:
            self._read_percent, self._write_mode = check_percent(read_percent), WriteMode(write_mode)
            self._write()

    def _write(self) -> None:
        text = json.dumps(flag_definitions(self._read_percent, self._write_mode), indent=2) + "\n"
        write_text_atomic(self.path, text)
        os.chmod(self.path, 0o644)  # applications may run as another user; the file holds no secret

    def read_percent(self) -> float:
        """The percentage the file holds now (0–100, to 0.01)."""
        return read_flag_file(self.path)[0]

    def set_read_percent(self, percent: float) -> None:
        """Rewrite the file with ``percent`` (the write mode unchanged)."""
        self._read_percent = check_percent(percent)
        self._write()

    def write_mode(self) -> WriteMode:
        """The write mode the file holds now."""
        return read_flag_file(self.path)[1]

    def set_write_mode(self, mode: WriteMode) -> None:
        """Rewrite the file with ``mode`` (the read percentage unchanged)."""
        self._write_mode = WriteMode(mode)
        self._write()
