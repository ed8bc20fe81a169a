"""``AlertReceiver``: the webhook end of Alertmanager's route in a demo or test stack.

It keeps every JSON body Alertmanager posts (``{"status": "firing", "alerts": [...]}``) and, with a
``log`` path, appends each one as a line of JSON there, so a person running the demo stack can watch
``tail -f alerts.jsonl``. Loopback only, a background thread.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["AlertReceiver"]


class AlertReceiver:
    """An HTTP receiver on a free loopback port; ``url`` is what Alertmanager's ``webhook_configs`` names."""

    def __init__(self, log: Path | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.log = log
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with lock:
                    receiver.bodies.append(body)
                    if receiver.log is not None:
                        with receiver.log.open("a", encoding="utf-8") as fh:
                            fh.write(json.dumps(body) + "\n")
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # the bodies are the record; no access log on stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, name="alert-receiver", daemon=True)
        self._thread.start()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification received so far, oldest first."""
        return [alert for body in list(self.bodies) for alert in body.get("alerts", [])]

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
