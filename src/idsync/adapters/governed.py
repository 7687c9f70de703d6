"""An httpx transport that puts every IdP request under the governor and applies the retry rules.

- 429: wait until the reset the IdP named, then send again (the request was not processed).
- Connection refused / connect timeout: the request never left; retry with backoff, any method.
- 5xx, read timeout, dropped connection: retry idempotent requests with backoff and jitter; a
  non-idempotent one (a create) raises `UnknownOutcome`, so the caller looks the result up first
  instead of sending it blindly again.
- Too many failures in a row open the circuit: calls fail fast with `CircuitOpen`.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

from idsync.domain.models import Lane
from idsync.engine.governor import Governor
from idsync.engine.pacer import RateHeaders
from idsync.errors import CircuitOpen, RateLimited, Unavailable, UnknownOutcome

IDEMPOTENT = "idsync.idempotent"  # request extension: override the method-based default
_SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_UNKNOWN = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.CloseError,
)

Classifier = Callable[[httpx.Request], str]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date; RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


class GovernedTransport(httpx.AsyncBaseTransport):
    """One per lane over one shared inner transport: the lane a request is paced in is the
    transport's (adapters/http.py builds the pair), never a value read from the context."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        governor: Governor,
        classify: Classifier,
        lane: Lane = Lane.BULK,
        *,
        owns_inner: bool = True,
    ) -> None:
        self._inner = inner
        self._governor = governor
        self._classify = classify
        self._lane = lane
        self._owns_inner = owns_inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gov = self._governor
        bucket = self._classify(request)
        idempotent = bool(request.extensions.get(IDEMPOTENT, request.method in _SAFE_METHODS))
        where = f"{gov.idp} {request.method} {request.url.path}"
        attempt = 0
        waits = 0
        while True:
            was_open = gov.breaker.is_open
            if not gov.circuit_allows():
                raise CircuitOpen(
                    f"{gov.idp}: circuit open after {gov.breaker.failures} failures in a row; "
                    f"calls paused until the cool-down ends",
                    provider=gov.idp,
                )
            is_probe = was_open  # allowed through an open circuit: the one half-open probe
            permit = await gov.acquire(bucket, self._lane)
            if gov.breaker.is_open and not is_probe:
                gov.give_back(permit)  # the circuit opened while this call waited: do not send it
                continue
            try:
                response = await self._inner.handle_async_request(request)
                await response.aread()
            except _NOT_SENT as exc:
                gov.on_response(permit, 0, None)
                attempt += 1
                if attempt > gov.settings.max_retries:
                    raise Unavailable(
                        f"{where}: cannot connect ({type(exc).__name__}) after {attempt} attempts",
                        provider=gov.idp,
                    ) from exc
                await gov.clock.sleep(gov.backoff(attempt - 1))
                continue
            except _UNKNOWN as exc:
                gov.on_response(permit, 0, None)
                if not idempotent:
                    raise UnknownOutcome(
                        f"{where}: no answer ({type(exc).__name__}); the write may have happened",
                        provider=gov.idp,
                    ) from exc
                attempt += 1
                if attempt > gov.settings.max_retries:
                    raise Unavailable(
                        f"{where}: no answer ({type(exc).__name__}) after {attempt} attempts",
                        provider=gov.idp,
                    ) from exc
                await gov.clock.sleep(gov.backoff(attempt - 1))
                continue
            status = response.status_code
            rate_headers = RateHeaders.parse(response.headers)
            gov.on_response(permit, status, rate_headers)
            if status == 429:
                if rate_headers is None:
                    retry_after = parse_retry_after(response.headers.get("retry-after"), gov.clock.time())
                    gov.hold(
                        bucket,
                        gov.clock.time() + (retry_after if retry_after is not None else gov.backoff(waits)),
                    )
                waits += 1
                if waits > gov.settings.max_rate_limit_waits:
                    raise RateLimited(
                        f"{where}: still rate limited after {waits} waits", provider=gov.idp, status_code=429
                    )
                continue  # the pacer now holds this bucket until the reset
            if status >= 500:
                if not idempotent:
                    raise UnknownOutcome(
                        f"{where}: answered {status}; the write may have happened",
                        provider=gov.idp,
                        status_code=status,
                    )
                attempt += 1
                if attempt > gov.settings.max_retries:
                    raise Unavailable(
                        f"{where}: answered {status} {attempt} times", provider=gov.idp, status_code=status
                    )
                await gov.clock.sleep(gov.backoff(attempt - 1))
                continue
            return response

    async def aclose(self) -> None:
        if self._owns_inner:
            await self._inner.aclose()
