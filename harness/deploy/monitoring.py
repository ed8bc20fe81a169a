"""Prometheus and Alertmanager (Debian's binaries) as loopback processes with generated configs.

- Prometheus scrapes each ``job → host:port`` target every ``scrape_interval_s`` and keeps its TSDB in
  the directory given; ``--web.enable-lifecycle`` lets ``reload`` pick up a rewritten config.
- Alertmanager routes every alert to one ``webhook_configs`` receiver (``send_resolved``), groups by
  ``alertname`` and ``migration``, and runs without clustering (``--cluster.listen-address=`` empty:
  by default it opens a gossip port on every interface).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import httpx

from harness.deploy.processes import ManagedProcess, free_port
from harness.outputs import write_text_atomic

__all__ = [
    "ALERTMANAGER_BIN",
    "PROMETHEUS_BIN",
    "missing_binaries",
    "reload_prometheus",
    "start_alertmanager",
    "start_prometheus",
    "write_prometheus_config",
]

PROMETHEUS_BIN = "prometheus"
ALERTMANAGER_BIN = "prometheus-alertmanager"


def missing_binaries() -> list[str]:
    """The binaries not on PATH (install Debian's ``prometheus`` and ``prometheus-alertmanager``)."""
    return [name for name in (PROMETHEUS_BIN, ALERTMANAGER_BIN) if shutil.which(name) is None]


def write_prometheus_config(path: Path, targets: Mapping[str, str], scrape_interval_s: float = 1.0) -> None:
    """A Prometheus config scraping each ``job → host:port`` of ``targets`` every ``scrape_interval_s``."""
    interval = f"{max(1, round(scrape_interval_s * 1000))}ms"
    lines = ["global:", f"  scrape_interval: {interval}", f"  evaluation_interval: {interval}"]
    lines.append("scrape_configs:" if targets else "scrape_configs: []")
    for job, address in targets.items():
        lines += [f"  - job_name: {job!r}", f"    scrape_interval: {interval}", "    static_configs:"]
        lines += [f"      - targets: [{address!r}]"]
    write_text_atomic(path, "\n".join(lines) + "\n")


def start_prometheus(
    directory: Path, targets: Mapping[str, str], scrape_interval_s: float = 1.0, *, port: int | None = None
) -> tuple[ManagedProcess, str]:
    """Prometheus on loopback ``port`` (a free one by default), ready; returns the process and its base URL."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    write_prometheus_config(config, targets, scrape_interval_s)
    port = port or free_port()
    process = ManagedProcess(
        "prometheus",
        [
            PROMETHEUS_BIN,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        directory / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(f"{url}/-/ready")
    return process, url


def reload_prometheus(url: str, directory: Path, targets: Mapping[str, str], scrape_interval_s: float = 1.0) -> None:
    """Rewrite the config with ``targets`` and make Prometheus load it."""
    write_prometheus_config(directory / "prometheus.yml", targets, scrape_interval_s)
    httpx.post(f"{url}/-/reload", timeout=10.0).raise_for_status()


def start_alertmanager(directory: Path, webhook_url: str, *, port: int | None = None) -> tuple[ManagedProcess, str]:
    """Alertmanager on loopback ``port`` (a free one by default) routing every alert to ``webhook_url``,
    ready; returns the process and its base URL."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "alertmanager.yml"
    write_text_atomic(
        config,
        "route:\n"
        "  receiver: ragmig-webhook\n"
        "  group_by: [alertname, migration]\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: ragmig-webhook\n"
        "    webhook_configs:\n"
        f"      - url: {webhook_url!r}\n"
        "        send_resolved: true\n",
    )
    port = port or free_port()
    process = ManagedProcess(
        "alertmanager",
        [
            ALERTMANAGER_BIN,
            f"--config.file={config}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        directory / "alertmanager.log",
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(f"{url}/-/ready")
    return process, url
