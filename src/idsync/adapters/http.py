"""The one place that builds an IdP's HTTP clients: one governed client per lane, all over one
connection pool and one governor, so every call of a connector is paced, retried and put in its
lane by the same stack (adapters/governed.py). Connectors take what this builds."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from idsync.adapters.governed import CircuitLog, Classifier, GovernedTransport
from idsync.domain.models import Lane
from idsync.engine.governor import Governor

__all__ = ["LaneClients", "close_clients", "governed_clients"]

LaneClients = dict[Lane, httpx.AsyncClient]


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
    inner: httpx.AsyncBaseTransport = transport or httpx.AsyncHTTPTransport(
        retries=0,
        limits=httpx.Limits(
            max_connections=max(governor.settings.max_concurrency, governor.settings.burst_concurrency) + 4
        ),
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
