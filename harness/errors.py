"""The harness's exception types.

``UsageError`` and its subclasses are mistakes a user can make (bad URI, missing collection, wrong
dimension, malformed TOML, unreachable host): the CLI prints their message on one line and exits 2.
``TransientStoreError`` marks failures worth retrying (timeouts, 429, 5xx, outages).
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """A mistake in what the user asked for; the message says what is wrong and what to do."""


class ConfigError(UsageError):
    """A configuration or thresholds file that does not validate."""


class InvalidURIError(UsageError, ValueError):
    """A store URI that cannot be parsed."""


class CollectionNotFoundError(UsageError):
    """The collection / index / shard named by a URI does not exist."""


class StoreUnreachableError(UsageError):
    """The store's host cannot be reached."""


class InvalidInputError(UsageError, ValueError):
    """Records a store rejects: wrong dimension, NaN/inf values, an id the backend cannot hold."""


class DimensionMismatchError(InvalidInputError):
    """Vectors whose dimension differs from the collection's."""


class StoreError(HarnessError):
    """A store failed in a way that is not the user's input."""


class TransientStoreError(StoreError):
    """A store failure worth retrying: timeout, rate limit (429), 5xx, outage window.

    ``retry_after_s`` is the server's hint (seconds) when it gave one.
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
