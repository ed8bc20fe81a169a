"""Sticky user buckets: which backend serves a user's reads at a given read percentage.

A user's bucket is a stable hash of the user id (10,000 buckets). A user is on the target when
``bucket < percent × 100``, so raising the percentage only ever adds users to the target (sticky and
monotonic), and only a rollback to 0 % sends them back.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

BUCKETS = 10_000


class Backend(StrEnum):
    """Which side serves a request."""

    SOURCE = "source"
    TARGET = "target"


def bucket_of(user_id: str, salt: str = "ragmig") -> int:
    """The user's bucket in [0, BUCKETS): blake2b of ``salt:user_id``, stable across processes."""
    digest = hashlib.blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def threshold_for(percent: float) -> int:
    """Number of buckets on the target at ``percent`` (0–100)."""
    if not 0.0 <= percent <= 100.0:
        raise ValueError(f"read percentage must be within 0..100, got {percent}")
    return round(percent * BUCKETS / 100.0)


class Router:
    """Routes a user id to source or target for the current read percentage."""

    def __init__(self, salt: str = "ragmig") -> None:
        self.salt = salt

    def route(self, user_id: str, read_percent: float) -> Backend:
        """TARGET when the user's bucket is below the percentage's threshold, else SOURCE."""
        return Backend.TARGET if bucket_of(user_id, self.salt) < threshold_for(read_percent) else Backend.SOURCE
