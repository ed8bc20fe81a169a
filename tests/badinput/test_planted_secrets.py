"""Planted credentials appear in no output of any command.

Planted: API keys in the environment (``PINECONE_API_KEY`` — also the server's own key —,
``QDRANT_API_KEY``, ``RAGMIG_WEBHOOK_TOKEN``), userinfo in a ``host=`` URL, and a webhook URL whose path
is its secret. Each command runs as the real console command (a subprocess), and every byte it produced
is searched: stdout, stderr, the JSON verdicts, HTML and JUnit reports, the runbook, the journal and the
server's log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "PINECONE_API_KEY": "pcsk_PLANTEDpineconeKey_4f1c9e",
    "QDRANT_API_KEY": "qdrant-PLANTED-key-77ab",
    "RAGMIG_WEBHOOK_TOKEN": "webhook-PLANTED-token-31d",
}
USERINFO_PASSWORD = "PLANTEDuserinfoPass"
WEBHOOK_PATH = "T0PLANTED/B1PLANTED/PLANTEDhookPath"
NEEDLES = (*SECRETS.values(), USERINFO_PASSWORD, WEBHOOK_PATH, "PLANTED")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PINECONE_CONTROLLER_HOST"}
    return {**env, **SECRETS, "RAGMIG_PINECONE_SERVER_KEY": SECRETS["PINECONE_API_KEY"], "PYTHONWARNINGS": "ignore"}


def _ragmig(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_planted_secrets_appear_in_no_output_of_any_command(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outputs: dict[str, str | bytes] = {}
    server_log = out / "server.log"
    with server_log.open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "serve-pinecone",
                "--port",
                "0",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            cwd=tmp_path,
            env=_env(),
            stdout=log,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stderr is not None
            banner = server.stderr.readline()
            port = re.search(r"127\.0\.0\.1:(\d+)", banner)
            assert port, banner
            url = f"http://127.0.0.1:{port.group(1)}"
            pc = Pinecone(api_key=SECRETS["PINECONE_API_KEY"], host=url)
            pc.create_index(
                name="docs", dimension=8, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1")
            )
            index = pc.index(name="docs")
            vectors = np.random.default_rng(3).normal(size=(300, 8)).astype(np.float32)
            index.upsert(vectors=[(f"d{i}", vectors[i].tolist(), {"n": i}) for i in range(300)], batch_size=100)
            index.close()
            pc.close()
            wrong = Pinecone(api_key="a-wrong-key-1234", host=url)  # a refused request in the server's log
            with pytest.raises(Exception, match="401"):
                wrong.list_indexes()
            wrong.close()

            source = f"pinecone://docs?host={url}/data/docs"
            target = f"qdrant-edge://{tmp_path / 'target'}"
            runs = {
                "migrate": _ragmig(
                    "migrate",
                    "--source",
                    source,
                    "--target",
                    target,
                    "--journal",
                    str(out / "journal.sqlite"),
                    "--json",
                    str(out / "migrate.json"),
                    "--html",
                    str(out / "migrate.html"),
                    "--junit",
                    str(out / "migrate.xml"),
                    cwd=tmp_path,
                ),
                "migrate with userinfo": _ragmig(
                    "migrate",
                    "--source",
                    f"pinecone://docs?host=http://agent:{USERINFO_PASSWORD}@127.0.0.1:{port.group(1)}",
                    "--target",
                    f"qdrant-edge://{tmp_path / 'other'}",
                    "--journal",
                    str(out / "j2.sqlite"),
                    cwd=tmp_path,
                ),
                "certify": _ragmig(
                    "certify",
                    "--source",
                    source,
                    "--target",
                    target,
                    "--queries",
                    "20",
                    "--json",
                    str(out / "certify.json"),
                    "--html",
                    str(out / "certify.html"),
                    "--junit",
                    str(out / "certify.xml"),
                    cwd=tmp_path,
                ),
                "certify with userinfo": _ragmig(
                    "certify",
                    "--source",
                    f"pinecone://docs?host=http://agent:{USERINFO_PASSWORD}@127.0.0.1:1",
                    "--target",
                    target,
                    cwd=tmp_path,
                ),
            }
        finally:
            server.send_signal(signal.SIGINT)
            _, rest = server.communicate(timeout=60)
            outputs["serve-pinecone stderr"] = banner + rest
    config = tmp_path / "migration.toml"
    config.write_text(
        f'source = "{source}"\ntarget = "{target}"\njournal = "{out / "journal.sqlite"}"\n'
        f'[[alerts]]\ntype = "webhook"\nurl = "https://hooks.example.com/services/{WEBHOOK_PATH}"\n'
    )
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text(
        config.read_text().replace(f"{url}/data", f"http://agent:{USERINFO_PASSWORD}@127.0.0.1:1/data")
    )
    runs["plan"] = _ragmig("plan", "--config", str(config), "--out", str(out / "runbook.md"), cwd=tmp_path)
    runs["plan to stdout"] = _ragmig("plan", "--config", str(config), cwd=tmp_path)
    runs["plan with userinfo"] = _ragmig("plan", "--config", str(bad_config), cwd=tmp_path)
    runs["gameday"] = _ragmig(
        "gameday",
        "--scenario",
        "schema_drift",
        "--json",
        str(out / "gameday.json"),
        "--html",
        str(out / "gameday.html"),
        cwd=tmp_path,
    )

    expected = {"migrate": 0, "migrate with userinfo": 2, "certify with userinfo": 2, "plan": 0, "plan to stdout": 0}
    expected |= {"plan with userinfo": 2, "gameday": 0}
    for name, run in runs.items():
        if name in expected:
            assert run.returncode == expected[name], (name, run.stdout[-2000:], run.stderr[-2000:])
        outputs[f"{name} stdout"] = run.stdout
        outputs[f"{name} stderr"] = run.stderr
    assert runs["certify"].returncode in (0, 1), runs["certify"].stderr[-2000:]
    for path in sorted(out.rglob("*")):
        if path.is_file():
            outputs[str(path.relative_to(tmp_path))] = path.read_bytes()
    written = set(outputs)
    for name in ("migrate.json", "migrate.html", "migrate.xml", "journal.sqlite", "certify.json", "certify.html"):
        assert f"out/{name}" in written, sorted(written)
    for name in ("certify.xml", "runbook.md", "gameday.json", "gameday.html", "server.log"):
        assert f"out/{name}" in written, sorted(written)
    leaks = [
        (name, needle)
        for name, data in outputs.items()
        for needle in NEEDLES
        if needle.encode() in (data if isinstance(data, bytes) else data.encode())
    ]
    assert not leaks, leaks
    assert "hooks.example.com" in str(outputs["out/runbook.md"])  # the webhook is named, its secret path is not
