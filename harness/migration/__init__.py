"""The migration orchestrator and its parts, one module each (imported by name; this package re-exports
nothing, so importing one part does not load the others):

- ``orchestrator``: the phases (dual-write, backfill, verification gate, shadow reads, warm-up, canary,
  live, completed; rollback and block) and their decisions, journalled;
- ``backfill``, ``dualwrite``, ``journal``: the resumable copy, writes to both sides, the SQLite journal;
- ``router``, ``flags``, ``flags_flagd``, ``flags_openfeature``: sticky user buckets and the read flag;
- ``health``, ``metrics``, ``metrics_prometheus``: canary evidence and its judgement;
- ``alerts``, ``webhook``: alert sinks; ``config``: the TOML config; ``preflight``: checks before a copy;
  ``run``: ``ragmig migrate``'s copy-then-verify.
"""

__all__: list[str] = []
