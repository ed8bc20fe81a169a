"""How much the ``ragmig`` commands say: one verbosity for the whole process, set by ``-q``/``-v``.

=========  ========================================================  ==============================
level      the commands print                                        ``harness`` log records shown
=========  ========================================================  ==============================
``-q``     errors and the final verdict line only                    ERROR
(none)     progress and summaries as well                            WARNING and above
``-v``     progress in more detail (e.g. the child pytest run's      INFO and above
           per-test lines)
``-vv``    the same                                                  DEBUG and above
=========  ========================================================  ==============================

The CLI calls ``set_verbosity`` once, before a command runs; commands print through ``say`` (progress,
summaries), ``detail`` (only with ``-v``) and ``verdict_line`` (always), and start child processes with
``child_env()``, which carries the level as ``RAGMIG_VERBOSITY`` (a child reads it back at import).
Without ``-q``/``-v`` logging is left as Python sets it up (warnings and errors on stderr); with them,
the ``harness`` loggers get that level and a stderr handler.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = [
    "DEBUG",
    "ENV_VAR",
    "NORMAL",
    "QUIET",
    "VERBOSE",
    "child_env",
    "detail",
    "say",
    "set_verbosity",
    "verbosity",
    "verdict_line",
]

QUIET, NORMAL, VERBOSE, DEBUG = -1, 0, 1, 2
ENV_VAR = "RAGMIG_VERBOSITY"
_LOG_LEVELS = {QUIET: logging.ERROR, NORMAL: logging.WARNING, VERBOSE: logging.INFO, DEBUG: logging.DEBUG}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("ragmig: %(levelname)s: %(name)s: %(message)s"))

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


_handler = _StderrHandler()


def _from_env() -> int:
    try:
        return max(QUIET, min(DEBUG, int(os.environ.get(ENV_VAR, NORMAL))))
    except ValueError:
        return NORMAL


_level = _from_env()


def set_verbosity(level: int) -> None:
    """Set the process's verbosity (clamped to ``QUIET``..``DEBUG``) and the ``harness`` loggers' level."""
    global _level
    _level = max(QUIET, min(DEBUG, level))
    logger = logging.getLogger("harness")
    if _level == NORMAL:
        logger.setLevel(logging.NOTSET)
        logger.removeHandler(_handler)
        return
    logger.setLevel(_LOG_LEVELS[_level])
    if _handler not in logger.handlers:
        logger.addHandler(_handler)


def child_env() -> dict[str, str]:
    """``os.environ`` plus ``RAGMIG_VERBOSITY``: the environment for a child process a command starts."""
    return {**os.environ, ENV_VAR: str(_level)}


def verbosity() -> int:
    """The current level: ``QUIET`` (-1), ``NORMAL`` (0), ``VERBOSE`` (1) or ``DEBUG`` (2)."""
    return _level


def say(text: str = "") -> None:
    """Progress or a summary line on stdout; silent with ``-q``."""
    if _level > QUIET:
        print(text, flush=True)


def detail(text: str) -> None:
    """A detail line on stdout, shown only with ``-v``."""
    if _level >= VERBOSE:
        print(text, flush=True)


def verdict_line(text: str) -> None:
    """The command's final verdict line on stdout: printed at every level, ``-q`` included."""
    print(text, flush=True)
