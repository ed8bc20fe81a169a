"""Real processes on loopback for a ``ragmig run`` stack: Prometheus, Alertmanager, the query service.

Debian's ``prometheus`` and ``prometheus-alertmanager`` packages provide the binaries
(``apt-get install prometheus prometheus-alertmanager``); ``missing_binaries()`` says which are absent,
so tests can skip with the reason. ``harness.deploy.stack`` starts the whole demo stack a migration
config names (``python -m harness.deploy.stack --config examples/X.toml``); ``AlertReceiver`` is the
webhook end of Alertmanager's route.
"""

from harness.deploy.monitoring import (
    ALERTMANAGER_BIN,
    PROMETHEUS_BIN,
    missing_binaries,
    start_alertmanager,
    start_prometheus,
    write_prometheus_config,
)
from harness.deploy.processes import ManagedProcess, free_port, wait_http
from harness.deploy.receiver import AlertReceiver

__all__ = [
    "ALERTMANAGER_BIN",
    "PROMETHEUS_BIN",
    "AlertReceiver",
    "ManagedProcess",
    "free_port",
    "missing_binaries",
    "start_alertmanager",
    "start_prometheus",
    "wait_http",
    "write_prometheus_config",
]
