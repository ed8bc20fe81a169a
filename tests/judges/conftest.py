"""The judges' fixtures (see ``pairs``)."""

from tests.judges.pairs import exact_pair

__all__ = ["exact_pair"]
