"""API keys as Qdrant checks them (401 plain text, 403 for the read-only key on a write), and
``ragmig serve-qdrant``'s refusals: a public address without a key, a bad data dir, a busy port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.deploy import ManagedProcess, free_port
from harness.errors import UsageError
from harness.model import CollectionSchema, Distance
from harness.netloc import is_loopback
from harness.qdrant_server.testing import QdrantServer
from harness.stores import open_store

KEY = "rw-key-5b1f0e"
READ_ONLY = "ro-key-77c2aa"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantServer]:
    with QdrantServer(tmp_path_factory.mktemp("keyed"), api_key=KEY, read_only_api_key=READ_ONLY) as server:
        httpx.put(
            f"{server.url}/collections/guarded",
            json={"vectors": {"size": 4, "distance": "Cosine"}},
            headers={"api-key": KEY},
        ).raise_for_status()
        yield server


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        ({}, "Must provide an API key or an Authorization bearer token"),
        ({"api-key": "wrong"}, "Invalid API key or JWT"),
        ({"Authorization": "Bearer wrong"}, "Invalid API key or JWT"),
        ({"Authorization": KEY}, "Must provide an API key or an Authorization bearer token"),  # no "Bearer "
    ],
)
def test_requests_without_a_valid_key_are_401_in_plain_text(
    keyed: QdrantServer, headers: dict[str, str], text: str
) -> None:
    response = httpx.get(f"{keyed.url}/collections/guarded", headers=headers)

    assert response.status_code == 401
    assert response.text == text and response.headers["content-type"].startswith("text/plain")


def test_the_key_is_accepted_in_either_header_and_liveness_needs_none(keyed: QdrantServer) -> None:
    assert httpx.get(f"{keyed.url}/collections", headers={"api-key": KEY}).status_code == 200
    assert httpx.get(f"{keyed.url}/collections", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    for path in ("/", "/healthz", "/livez", "/readyz"):
        assert httpx.get(f"{keyed.url}{path}").status_code == 200


def test_the_read_only_key_reads_but_a_write_is_403_in_qdrants_shape(keyed: QdrantServer) -> None:
    headers = {"api-key": READ_ONLY}

    read = httpx.post(f"{keyed.url}/collections/guarded/points/count", json={}, headers=headers)
    write = httpx.put(
        f"{keyed.url}/collections/guarded/points", json={"points": [{"id": 1, "vector": [1, 0, 0, 0]}]}, headers=headers
    )
    create = httpx.put(
        f"{keyed.url}/collections/other", json={"vectors": {"size": 4, "distance": "Dot"}}, headers=headers
    )

    assert read.status_code == 200
    assert write.status_code == create.status_code == 403
    assert write.json()["status"] == {"error": "Forbidden: Global manage access is required"}
    assert (
        httpx.post(f"{keyed.url}/collections/guarded/points/count", json={}, headers=headers).json()["result"]["count"]
        == 0
    )


def test_the_qdrant_adapter_uses_qdrant_api_key_and_a_wrong_one_is_a_usage_error(
    keyed: QdrantServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QDRANT_API_KEY", KEY)
    store = open_store(f"{keyed.uri}/adapter-keyed?https=0")  # a key over plain http is asked for explicitly
    try:
        store.create(CollectionSchema(dimension=4, distance=Distance.COSINE))
        assert store.count() == 0
    finally:
        store.drop()  # type: ignore[attr-defined]
        store.close()
    monkeypatch.setenv("QDRANT_API_KEY", "wrong")
    store = open_store(f"{keyed.uri}/guarded?https=0")
    try:
        with pytest.raises(UsageError, match="HTTP 401; set QDRANT_API_KEY"):
            store.count()
    finally:
        store.close()


def test_the_key_never_reaches_the_servers_log(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    process = ManagedProcess(
        "serve-qdrant",
        [sys.executable, "-m", "harness.cli", "serve-qdrant", "--port", str(port), "--data-dir", str(tmp_path / "d")],
        log,
        env={"RAGMIG_QDRANT_SERVER_KEY": KEY},
    ).wait_ready(f"http://127.0.0.1:{port}/readyz")
    try:
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/collections").status_code == 401
        assert httpx.get(f"{url}/collections", headers={"api-key": KEY}).status_code == 200
        assert httpx.put(f"{url}/collections/x", content=b"{", headers={"api-key": KEY}).status_code == 400
    finally:
        assert process.stop() == 0
    text = log.read_text()
    assert "api key required" in text and KEY not in text


def _serve_qdrant(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "serve-qdrant", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("RAGMIG_QDRANT_SERVER")},
        check=False,
    )


def test_a_public_address_without_a_key_is_refused(tmp_path: Path) -> None:
    result = _serve_qdrant("--host", "0.0.0.0", "--data-dir", str(tmp_path))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ragmig: error: refusing to serve on 0.0.0.0 without an API key: anyone who can reach it could write; "
        "pass --api-key (or RAGMIG_QDRANT_SERVER_KEY) or bind 127.0.0.1"
    ]


def test_a_file_as_data_dir_and_a_busy_port_are_one_line_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        results = [
            _serve_qdrant("--data-dir", str(a_file), "--port", str(free_port())),
            _serve_qdrant("--data-dir", str(tmp_path / "d"), "--port", str(port)),
        ]
    for result in results:
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "--data-dir" in results[0].stderr and f"127.0.0.1:{port}" in results[1].stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
