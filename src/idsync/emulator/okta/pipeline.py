"""The ASGI app serving /api/v1: the order in which Okta's rules meet a request.

concurrency cap → token check (API token or OAuth access token: api_auth) → 429 storm → rate limit
→ route → injected fault → handler,
then the headers every answer carries (`X-Okta-Request-Id`, `Date`, `X-Rate-Limit-*`,
`Content-Type: application/json;charset=UTF-8` when there is a body). Each step decides with
values from the emulator's parts; only this module does ASGI I/O.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from idsync.emulator.okta.api_auth import oauth_principal
from idsync.emulator.okta.clock import http_date
from idsync.emulator.okta.emulator import Emulator
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.http import ApiRequest, ApiResponse
from idsync.emulator.okta.org import RequestInfo
from idsync.emulator.okta.ratelimit import classify, format_reset
from idsync.emulator.okta.routing import Route
from idsync.emulator.okta.stats import Exchange

__all__ = ["DROP_EXTENSION", "ConnectionDropped", "OktaPipeline"]

log = logging.getLogger("idsync.emulator.okta")

DROP_EXTENSION = "idsync.drop_connection"
"""ASGI scope extension: a callable closing the client's TCP connection (see server.py)."""


class ConnectionDropped(Exception):
    """Raised where the server offers no way to close the connection (e.g. in-process transports)."""


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    rate: tuple[int, int, float] | None = None
    """(limit, remaining, reset_at) for the X-Rate-Limit-* headers."""


def _auth_token(header: str | None, accepted: frozenset[str]) -> str:
    """The API token of an `SSWS <t>` or `SSWS<t>` header (the SDK sends no space), else Okta's error."""
    if header is None:
        raise OktaError.invalid_session()  # observed for a missing Authorization header (FACTS §3)
    if header[:4].upper() == "SSWS":
        token = header[4:].strip()
        if token in accepted:
            return token
    raise OktaError.invalid_token()


class OktaPipeline:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.labels = {t: f"token#{i}" for i, t in enumerate(emu.settings.tokens)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emu = self.emu
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await _read_body(receive)
        qs = scope.get("query_string", b"").decode("latin-1")
        query: dict[str, str] = {}
        for key, value in parse_qsl(qs, keep_blank_values=True):
            query.setdefault(key, value)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        path = scope["path"]
        client = scope.get("client") or ("127.0.0.1", 0)
        host = headers.get("host") or f"{scope['server'][0]}:{scope['server'][1]}"
        org_url = emu.settings.org_url or f"{scope.get('scheme', 'http')}://{host}"
        info = RequestInfo(
            org_url=org_url.rstrip("/"),
            request_id=emu.ids.request_id(),
            request_uri=path + (f"?{qs}" if qs else ""),
            client_ip=str(client[0]),
            user_agent=headers.get("user-agent", ""),
        )
        req = ApiRequest(scope["method"], path, {}, query, headers, body, info)
        emu.in_flight += 1
        emu.stats.max_in_flight = max(emu.stats.max_in_flight, emu.in_flight)
        try:
            answer = await self._process(scope, req, raw_path)
        except ConnectionDropped:
            emu.stats.count(f"{req.method} {req.template}", 0)
            raise
        finally:
            emu.in_flight -= 1
        if answer is None:  # the connection was dropped on purpose
            emu.stats.count(f"{req.method} {req.template}", 0)
            return
        await self._send(scope, send, req, req.template, answer)

    async def _process(self, scope: Scope, req: ApiRequest, raw_path: str) -> _Answer | None:
        emu = self.emu
        emu.settle()  # asynchronous lifecycle transitions that are due land first
        now = emu.clock.now()
        bucket = classify(req.method, raw_path, emu.settings.rate_limit_layout)
        route: Route | None = None
        routing_error: OktaError | None = None
        try:  # matched first so that stats name the endpoint even of refused requests
            route, req.params = emu.router.match(req.method, raw_path)
            req.template = route.template
        except OktaError as err:
            routing_error = err
        if emu.in_flight > emu.settings.concurrency_limit:
            emu.stats.served_429["concurrency"] += 1
            emu.limiter.charge_rejected(bucket, None, now)
            estimate = now + max(1.0 * emu.settings.time_scale, 0.01)
            return self._error(OktaError.rate_limited(), (0, 0, estimate))
        try:
            # An OAuth app's access token (api_auth: scopes, DPoP), else the API token.
            req.token = oauth_principal(emu, req, raw_path) or _auth_token(
                req.headers.get("authorization"), emu.tokens
            )
        except OktaError as err:
            peek = emu.limiter.peek(bucket, now)
            return self._error(err, (peek.limit, peek.remaining, peek.reset_at))
        storm_end = emu.faults.storm_until(now)
        if storm_end is not None:
            emu.faults.injected["storm_429"] += 1
            emu.stats.served_429["storm"] += 1
            emu.limiter.charge_rejected(bucket, self.labels.get(req.token, req.token), now)
            return self._error(OktaError.rate_limited(), (emu.limiter.token_limit(bucket), 0, storm_end))
        decision = emu.limiter.check(bucket, self.labels.get(req.token, req.token), now)
        rate = (decision.limit, decision.remaining, decision.reset_at)
        if not decision.allowed:
            emu.stats.served_429["rate_limit"] += 1
            return self._error(OktaError.rate_limited(), rate)
        if route is None:
            assert routing_error is not None
            return self._error(routing_error, rate)
        fault = emu.faults.decide()
        if fault.latency_s:
            await asyncio.sleep(fault.latency_s)
        if fault.kind == "error":
            return self._error(OktaError.unavailable(fault.status), rate)
        if fault.kind == "drop":
            if fault.apply_write:
                await self._run(route, req, rate)
            await _drop(scope)
            return None
        if fault.kind == "timeout":
            answer = await self._run(route, req, rate) if fault.apply_write else None
            await asyncio.sleep(fault.delay_s)
            # Okta: "An HTTP 500 status code usually indicates that you have exceeded the request timeout."
            return answer or self._error(OktaError.internal(), rate)
        return await self._run(route, req, rate)

    async def _run(self, route: Route, req: ApiRequest, rate: tuple[int, int, float]) -> _Answer:
        try:
            with self.emu.state.journal.batch():
                response: ApiResponse = await route.handler(self.emu, req)
            if response.then is not None:
                await asyncio.sleep(response.wait_s)
                with self.emu.state.journal.batch():
                    response.then()
        except OktaError as err:
            return self._error(err, rate)
        except Exception:
            log.exception("emulator handler failed: %s %s", req.method, req.path)
            return self._error(OktaError.internal(), rate)
        return _Answer(response.status, response.body, response.headers, rate)

    def _error(self, err: OktaError, rate: tuple[int, int, float]) -> _Answer:
        return _Answer(err.status, err.body(self.emu.ids.error_id()), list(err.headers), rate)

    async def _send(self, scope: Scope, send: Send, req: ApiRequest, template: str, answer: _Answer) -> None:
        emu = self.emu
        body = b""
        out: list[tuple[str, str]] = [
            ("x-okta-request-id", req.info.request_id),
            ("date", http_date(emu.clock.now())),
        ]
        if answer.rate is not None:
            limit, remaining, reset_at = answer.rate
            out += [
                ("x-rate-limit-limit", str(limit)),
                ("x-rate-limit-remaining", str(remaining)),
                ("x-rate-limit-reset", format_reset(reset_at, emu.settings.time_scale)),
            ]
        out.append(("cache-control", "no-cache, no-store"))
        if answer.body is not None:
            body = json.dumps(answer.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            out.append(("content-type", "application/json;charset=UTF-8"))
        out.append(("content-length", str(len(body))))
        out += answer.headers
        # Counted and logged before the answer leaves: a client that reads the stats or the log
        # right after its response must find its exchange there.
        emu.stats.count(f"{req.method} {template}", answer.status)
        if emu.exchange_log is not None:
            emu.exchange_log.record(req.method, req.path, template, answer.status, body)
        if emu.recorder.enabled:
            emu.recorder.record(
                Exchange(
                    req.method,
                    req.path,
                    template,
                    scope.get("query_string", b"").decode("latin-1"),
                    {k: v for k, v in req.headers.items() if k not in ("authorization", "dpop")},
                    req.body,
                    answer.status,
                    out,
                    body,
                )
            )

        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _drop(scope: Scope) -> None:
    drop: Callable[[], None] | None = scope.get("extensions", {}).get(DROP_EXTENSION)
    if drop is None:
        raise ConnectionDropped("connection dropped by fault injection")
    drop()
    await asyncio.sleep(0)  # let the server see the closed connection before the app returns
