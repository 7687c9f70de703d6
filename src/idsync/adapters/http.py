"""The one place that builds an IdP's HTTP clients: one governed client per lane, all over one
connection pool and one governor, so every call of a connector is paced, retried and put in its
lane by the same stack (adapters/governed.py). Connectors take what this builds.

The network under the governor is aiohttp's (`AiohttpTransport`), not httpcore's: an import spends
most of its CPU per call in the HTTP stack, and httpcore's pool scans every connection and polls
each idle socket on every request, through anyio; aiohttp's pool and parser are event-driven and
in C. The connectors still speak httpx: this transport turns aiohttp's errors into the httpx ones
the governed transport sorts into "never sent" and "outcome unknown"."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import aiohttp
import httpx
import yarl

from idsync.adapters.governed import CircuitLog, Classifier, GovernedTransport
from idsync.domain.models import Lane
from idsync.engine.governor import Governor

__all__ = ["AiohttpTransport", "LaneClients", "close_clients", "governed_clients"]

LaneClients = dict[Lane, httpx.AsyncClient]
MAX_HEAD_LINE = 65536  # a status or header line: aiohttp's default 8190 is below what h11 took


def httpx_error(exc: Exception, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx error for an aiohttp one, or None for an error that is not the network's. Which
    side of the send it happened on decides the class: a refused or timed-out connect never sent
    the request (ConnectError, ConnectTimeout: retried, any method); anything after it did, or may
    have (ReadTimeout, RemoteProtocolError, ReadError: a create's outcome is unknown)."""
    message = str(exc) or type(exc).__name__
    error: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # connect or a free pool slot timed out
        error = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        error = httpx.ConnectError
    elif isinstance(exc, TimeoutError):  # sock_read: aiohttp's SocketTimeoutError
        error = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        error = httpx.RemoteProtocolError  # closed before (the whole of) the answer
    elif isinstance(exc, aiohttp.ClientResponseError):  # an answer that is not HTTP
        error = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        error = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientError | OSError):  # reset, broken pipe, the rest
        error = httpx.ReadError
    else:
        return None
    return error(message, request=request)


def _timeout(phases: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's timeouts per phase in aiohttp's terms. aiohttp has no write timeout: the whole
    call is bounded by the sum of the phases instead, so a peer that stops reading cannot hold
    it forever (an IdP's answer is read in a few reads: a call that keeps to each phase's bound
    stays well within the sum)."""
    pool, connect, read, write = (phases.get(k) for k in ("pool", "connect", "read", "write"))
    parts = (pool, connect, read, write)
    return aiohttp.ClientTimeout(
        total=None if any(p is None for p in parts) else sum(p for p in parts if p is not None),
        connect=pool,  # aiohttp's connect includes the wait for a free connection of the pool
        sock_connect=connect,
        sock_read=read,
    )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over one aiohttp session (opened on the first request, inside
    the running loop). Plain HTTP/1.1 with keep-alive; httpx keeps cookies, redirects and content
    decoding; aiohttp never sends a request again by itself (an Okta DELETE is not idempotent:
    the second one deletes what the first deactivated)."""

    def __init__(self, *, max_connections: int, keepalive_s: float = 5.0) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._ssl = httpx.create_ssl_context()  # the CA bundle and checks httpx's own transport uses
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, keepalive_timeout=self._keepalive_s, ssl=self._ssl
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            max_line_size=MAX_HEAD_LINE,
            max_field_size=MAX_HEAD_LINE,
        )
        session._retry_connection = False  # what aiohttp's own test client sets: no silent resend
        self._session = session
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # as httpx encoded it: no requoting
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=_timeout(timeout),
            ) as answer:
                content = await answer.read()
        except Exception as exc:
            mapped = httpx_error(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode("ascii", "replace")
        return httpx.Response(
            answer.status, headers=answer.raw_headers, content=content, request=request, extensions=extensions
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def governed_clients(
    base_url: str,
    governor: Governor,
    classify: Classifier,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None = None,
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    auth: httpx.Auth | None = None,
) -> LaneClients:
    """A client per lane. `transport` replaces the network (tests); `wrap` puts a layer between
    the governor and the network (the OAuth stamp, which must sign each attempt)."""
    inner: httpx.AsyncBaseTransport = transport or AiohttpTransport(
        max_connections=governor.settings.max_concurrency + 4
    )
    if wrap is not None:
        inner = wrap(inner)
    circuit_log = CircuitLog()  # one IdP, one breaker: its lanes log it as one
    return {
        lane: httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=GovernedTransport(
                inner, governor, classify, lane, owns_inner=lane is Lane.BULK, circuit_log=circuit_log
            ),
            headers=dict(headers),
            timeout=timeout_s,
            auth=auth,
        )
        for lane in Lane
    }


async def close_clients(clients: LaneClients) -> None:
    """Interactive first: the bulk client's transport owns the shared pool."""
    for lane in sorted(clients):  # Lane.INTERACTIVE (0) before Lane.BULK (1)
        await clients[lane].aclose()
