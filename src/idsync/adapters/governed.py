"""An httpx transport that puts every IdP request under the governor and applies the retry rules.

- 429: wait until the reset the IdP named, then send again (the request was not processed).
- Connection refused / connect timeout: the request never left; retry with backoff, any method.
- 5xx, read timeout, dropped connection: retry idempotent requests with backoff and jitter; a
  non-idempotent one (a create) raises `UnknownOutcome`, so the caller looks the result up first
  instead of sending it blindly again.
- Too many failures in a row open the circuit: calls fail fast with `CircuitOpen`. The log says
  so once when it opens and once when it closes, with counts: never a line per user.

Every request sent is counted for the work in progress (engine/metering.py: an import's calls).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

from idsync.domain.models import Lane
from idsync.engine.governor import Governor, Permit, Route
from idsync.engine.metering import count_call
from idsync.engine.pacer import RateHeaders
from idsync.errors import CircuitOpen, RateLimited, Unavailable, UnknownOutcome

log = logging.getLogger("idsync.idp")

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

# A request's endpoint and documented counter (a bare name: both; the governor learns the rest).
Classifier = Callable[[httpx.Request], Route | str]


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


class CircuitLog:
    """What the log says of one IdP's circuit breaker: a WARNING when it opens and one when it
    closes, with how long it was open and how many calls it held back (shared by the lanes'
    transports of one IdP: adapters/http.py)."""

    def __init__(self) -> None:
        self.opened_at: float | None = None
        self.refused = 0
        self.failed_probes = 0

    def answered(self, gov: Governor, was_open: bool, probe: bool, status: int, where: str) -> None:
        """After the governor took an answer (status 0: none): log the breaker's transition."""
        now_open = gov.breaker.is_open
        if now_open and not was_open:
            self.opened_at, self.refused, self.failed_probes = gov.clock.time(), 0, 0
            log.warning(
                "%s: circuit open after %d failed calls in a row (the last: %s, %s); calls pause for "
                "%.3g s, then one call probes the IdP; the users wait in the queue",
                gov.idp,
                gov.breaker.failures,
                where,
                f"answered {status}" if status else "no answer",
                gov.breaker.cooldown_s,
            )
        elif was_open and not now_open:
            open_s = gov.clock.time() - self.opened_at if self.opened_at is not None else 0.0
            log.warning(
                "%s: circuit closed, the IdP answers again after %.0f s; %d calls were held back "
                "meanwhile, %d failed probes; the waiting users are sent now",
                gov.idp,
                open_s,
                self.refused,
                self.failed_probes,
            )
            self.opened_at = None
        elif probe and now_open:
            self.failed_probes += 1
            log.info("%s: probe failed (%s); the circuit stays open", gov.idp, where)


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
        circuit_log: CircuitLog | None = None,
    ) -> None:
        self._inner = inner
        self._governor = governor
        self._classify = classify
        self._lane = lane
        self._owns_inner = owns_inner
        self._circuit_log = circuit_log or CircuitLog()

    def _answered(
        self, permit: Permit, status: int, headers: RateHeaders | None, probe: bool, where: str
    ) -> None:
        gov = self._governor
        was_open = gov.breaker.is_open
        gov.on_response(permit, status, headers)
        self._circuit_log.answered(gov, was_open, probe, status, where)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gov = self._governor
        route = self._classify(request)
        idempotent = bool(request.extensions.get(IDEMPOTENT, request.method in _SAFE_METHODS))
        where = f"{gov.idp} {request.method} {request.url.path}"
        attempt = 0
        waits = 0
        while True:
            was_open = gov.breaker.is_open
            if not gov.circuit_allows():
                self._circuit_log.refused += 1
                raise CircuitOpen(
                    f"{gov.idp}: circuit open after {gov.breaker.failures} failures in a row; "
                    f"calls paused until the cool-down ends",
                    provider=gov.idp,
                )
            is_probe = was_open  # allowed through an open circuit: the one half-open probe
            permit = await gov.acquire(route, self._lane)
            if gov.breaker.is_open and not is_probe:
                gov.give_back(permit)  # the circuit opened while this call waited: do not send it
                continue
            count_call()
            try:
                response = await self._inner.handle_async_request(request)
                await response.aread()
            except _NOT_SENT as exc:
                self._answered(permit, 0, None, is_probe, where)
                attempt += 1
                if attempt > gov.settings.max_retries:
                    raise Unavailable(
                        f"{where}: cannot connect ({type(exc).__name__}) after {attempt} attempts",
                        provider=gov.idp,
                    ) from exc
                await gov.clock.sleep(gov.backoff(attempt - 1))
                continue
            except _UNKNOWN as exc:
                self._answered(permit, 0, None, is_probe, where)
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
            self._answered(permit, status, rate_headers, is_probe, where)
            if status == 429:
                if rate_headers is None:
                    retry_after = parse_retry_after(response.headers.get("retry-after"), gov.clock.time())
                    gov.hold(
                        permit.bucket,
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
