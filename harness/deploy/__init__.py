"""Real processes on loopback for a ``ragmig run`` stack: Prometheus, Alertmanager, the query service.

Debian's ``prometheus`` and ``prometheus-alertmanager`` packages provide the binaries
(``apt-get install prometheus prometheus-alertmanager``); ``missing_binaries()`` says which are absent,
so tests can skip with the reason.
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

__all__ = [
    "ALERTMANAGER_BIN",
    "PROMETHEUS_BIN",
    "ManagedProcess",
    "free_port",
    "missing_binaries",
    "start_alertmanager",
    "start_prometheus",
    "wait_http",
    "write_prometheus_config",
]
