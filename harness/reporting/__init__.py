"""Rendering what verification, migrations and game days produced, one module per output (imported by
name; this package re-exports nothing): ``html`` and ``plots`` (the certification report), ``junit``
(one testcase per check id), ``timeline`` and ``gameday`` (migration and game-day reports), ``runbook``,
``migrate`` and ``certify`` (the commands' report writers), ``session`` (certify's child pytest run).
"""

__all__: list[str] = []
