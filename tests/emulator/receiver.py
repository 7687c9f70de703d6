"""A real local HTTP server playing an event-hook endpoint, recording what it receives."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HookReceiver:
    def __init__(self, secret: str = "Bearer s3cret") -> None:
        self.secret = secret
        self.requests: list[dict[str, Any]] = []
        self.post_statuses: list[int] = []
        """Statuses to answer POSTs with, in order (then 200)."""
        self.wrong_verification = False
        self.post_delay_s = 0.0
        self.finished = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self, body: bytes) -> None:
                receiver.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": body,
                    }
                )

            def do_GET(self) -> None:
                self._record(b"")
                challenge = self.headers.get("x-okta-verification-challenge", "")
                answer = json.dumps(
                    {"verification": "nope" if receiver.wrong_verification else challenge}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._record(body)
                time.sleep(receiver.post_delay_s)
                status = receiver.post_statuses.pop(0) if receiver.post_statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.finished.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/okta-events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    def events(self) -> list[dict[str, Any]]:
        return [e for r in self.posts() for e in json.loads(r["body"])["data"]["events"]]

    def __enter__(self) -> HookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
