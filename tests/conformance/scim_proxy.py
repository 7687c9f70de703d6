"""A tiny HTTP proxy in front of scim2-server: a fault injector at the network boundary.

scim2-server never answers 429 or 5xx and never loses an answer, but real SCIM servers do. The
proxy forwards every request to the real server unchanged, remembers what it saw (so tests can
count /Bulk requests and their operations), and on demand answers in the server's place (429 with
Retry-After, 503, a SCIM error) or forwards the request and then drops the connection without an
answer (the write happened; the client cannot know).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}

Match = Callable[[str, str], bool]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    body: Any
    answered: int  # the status the client got (0: dropped)


@dataclass
class Fault:
    status: int  # 0: forward, then drop the connection unanswered (or answer after `delay_s`)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    times: int | None = None  # None: until `until` or cleared
    until: float | None = None  # time.monotonic() deadline
    match: Match | None = None
    delay_s: float = 0.0  # with status 0: forward after this pause and pass the answer on

    def applies(self, method: str, path: str) -> bool:
        if self.until is not None and time.monotonic() >= self.until:
            return False
        if self.times is not None and self.times <= 0:
            return False
        return self.match is None or self.match(method, path)


def scim_error_body(status: int, detail: str, scim_type: str | None = None) -> bytes:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        body["scimType"] = scim_type
    return json.dumps(body).encode()


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.seen: list[Seen] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="scim-proxy", daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---- steering ----------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int | None = None,
        for_s: float | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        match: Match | None = None,
    ) -> None:
        """Answer `status` in the server's place (the request does not reach it)."""
        if body is None and status != 429:
            body = scim_error_body(status, "injected by the test proxy")
        with self._lock:
            self.faults.append(
                Fault(
                    status,
                    dict(headers or {}),
                    body or b"",
                    times,
                    time.monotonic() + for_s if for_s is not None else None,
                    match,
                )
            )

    def drop(self, *, times: int | None = None, match: Match | None = None) -> None:
        """Forward the request, then close the connection without passing the answer on."""
        with self._lock:
            self.faults.append(Fault(0, times=times, match=match))

    def slow(self, delay_s: float, *, times: int | None = None, match: Match | None = None) -> None:
        """Hold the request `delay_s` before forwarding it; the answer is passed on."""
        with self._lock:
            self.faults.append(Fault(0, times=times, match=match, delay_s=delay_s))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.applies(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    # ---- what the server was sent ------------------------------------------------------------

    def requests(
        self, prefix: str = "", method: str | None = None, endpoint: str | None = None
    ) -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.seen
                if s.path.startswith(prefix)
                and (method is None or s.method == method)
                and (endpoint is None or s.path.rstrip("/").endswith(endpoint))
            ]

    def bulk_sizes(self, prefix: str = "") -> list[int]:
        """Operations per /Bulk request the server answered, in order."""
        return [
            len(s.body.get("Operations", []))
            for s in self.requests(prefix, "POST", "/Bulk")
            if isinstance(s.body, dict) and s.answered == 200
        ]

    def answered(self, status: int, prefix: str = "") -> int:
        return sum(1 for s in self.requests(prefix) if s.answered == status)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _proxy(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fault = proxy._take_fault(self.command, path)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
            fault = None
        if fault is not None and fault.status:
            proxy._record(Seen(self.command, path, body, fault.status))
            self._answer(
                fault.status,
                list(fault.headers.items()),
                fault.body,
                "application/scim+json" if fault.body else None,
            )
            return
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            conn.request(self.command, self.path, body=raw or None, headers=headers)
            upstream = conn.getresponse()
            data = upstream.read()
            answer = [(k, v) for k, v in upstream.getheaders() if k.lower() not in _HOP]
            status = upstream.status
        finally:
            conn.close()
        if fault is not None:  # a dropped answer: the write happened, the client never hears of it
            proxy._record(Seen(self.command, path, body, 0))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        proxy._record(Seen(self.command, path, body, status))
        self._answer(status, answer, data, None)

    def _answer(
        self, status: int, headers: list[tuple[str, str]], data: bytes, content_type: str | None
    ) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy
