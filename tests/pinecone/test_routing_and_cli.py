"""The 2026-04 legacy control plane, prefix-less data-plane routing, and ``ragmig serve-pinecone``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import ApiError
from typer.testing import CliRunner

from harness.cli import app as cli_app
from harness.pinecone_local.testing import PineconeServer
from tests.pinecone.conftest import API_KEY, unique_name

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
LEGACY = {"Api-Key": API_KEY, "X-Pinecone-Api-Version": "2026-04"}


def test_legacy_2026_04_create_and_describe(pinecone_server: PineconeServer, pc: Pinecone) -> None:
    name = unique_name("legacy")
    body = {
        "name": name,
        "dimension": 3,
        "metric": "dotproduct",
        "vector_type": "dense",
        "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
    }
    with httpx.Client(base_url=pinecone_server.url, headers=LEGACY, timeout=10) as client:
        created = client.post("/indexes", json=body)
        assert created.status_code == 201
        described = client.get(f"/indexes/{name}").json()
        assert described["status"]["ready"] is True
        assert (described["dimension"], described["metric"], described["vector_type"]) == (3, "dotproduct", "dense")
        assert described["host"] == pinecone_server.index_host(name)
        assert described["spec"] == {"serverless": {"cloud": "aws", "region": "us-east-1"}}
        # The same index through the SDK at 2026-07: a classic dense schema, usable at its host.
        model = pc.describe_index(name)
        assert set(model.schema.fields) <= {"_values", "_sparse_values"}
        index = pc.index(host=described["host"])
        index.upsert(vectors=[("a", [1.0, 2.0, 3.0])])
        assert index.describe_index_stats().total_vector_count == 1
        index.close()
        assert client.delete(f"/indexes/{name}").status_code == 202
        assert client.get(f"/indexes/{name}").status_code == 404


def test_prefixless_data_plane_goes_to_the_only_index() -> None:
    with PineconeServer() as server:
        pc = Pinecone(api_key=API_KEY, host=server.url)
        pc.create_index(name="solo", dimension=2, spec=SPEC)
        solo = pc.index(host=server.url)  # like Pinecone Local's one port per index
        solo.upsert(vectors=[("a", [1.0, 0.0])])
        with pc.index(name="solo") as named:
            assert named.describe_index_stats().total_vector_count == 1
        pc.create_index(name="second", dimension=2, spec=SPEC)
        with pytest.raises(ApiError, match="/data/INDEX") as info:
            solo.describe_index_stats()
        assert info.value.status_code == 400
        solo.close()
        pc.close()


def test_namespace_names_with_slashes_round_trip(pc: Pinecone) -> None:
    name = unique_name("slash")
    pc.create_index(name=name, dimension=2, spec=SPEC)
    index = pc.index(name=name)
    index.upsert(vectors=[("a", [1.0, 0.0])], namespace="tenant/eu")
    assert index.describe_namespace(name="tenant/eu").record_count == 1
    index.delete_namespace(name="tenant/eu")
    assert "tenant/eu" not in index.describe_index_stats().namespaces
    index.close()
    pc.delete_index(name)


# ---- ragmig serve-pinecone -------------------------------------------------------------------------
@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_serve_on_a_busy_port_is_one_line_exit_2(busy_port: int) -> None:
    result = CliRunner().invoke(cli_app, ["serve-pinecone", "--port", str(busy_port)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{busy_port}" in result.stderr
    assert "Traceback" not in result.output


def test_serve_with_a_file_as_data_dir_is_one_line_exit_2(tmp_path: Path) -> None:
    afile = tmp_path / "not-a-dir"
    afile.write_text("x")
    result = CliRunner().invoke(cli_app, ["serve-pinecone", "--port", "0", "--data-dir", str(afile)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "is a file, not a directory" in result.stderr


def test_serve_pinecone_end_to_end(tmp_path: Path) -> None:
    """The real command in a subprocess: serve, take writes through the SDK, save on SIGINT."""
    env = {**os.environ, "RAGMIG_PINECONE_SERVER_KEY": "cli-key"}
    cmd = [sys.executable, "-c", "from harness.cli import main; main()"]
    args = ["serve-pinecone", "--port", "0", "--data-dir", str(tmp_path)]
    with subprocess.Popen(cmd + args, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stderr is not None
            banner = proc.stderr.readline()  # printed once the port is bound
            match = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
            assert match, banner
            pc = Pinecone(api_key="cli-key", host=f"http://127.0.0.1:{match.group(1)}")
            pc.create_index(name="cli", dimension=2, spec=SPEC)
            index = pc.index(name="cli")
            index.upsert(vectors=[("a", [1.0, 2.0]), ("b", [2.0, 1.0])])
            assert index.describe_index_stats().total_vector_count == 2
            index.close()
            pc.close()
        finally:
            proc.send_signal(signal.SIGINT)
            _, rest = proc.communicate(timeout=20)
    assert proc.returncode == 0, rest
    assert "Traceback" not in rest
    assert (tmp_path / "cli.npz").exists()  # saved on the clean shutdown
