"""Counting the IdP calls a piece of work costs, where they are sent: an import's API calls.

The worker opens a meter around each step of a user (and an import around its account listing);
the governed transport adds every request it sends, retries and 429s included, as the governor
counts them (adapters/governed.py). Why a context variable, when the lane is an argument
(ports.IdentityProvider.for_lane): a count changes nothing that is sent or how it is paced, and
every call of the step (the connector's, the SCIM library's, a batch the step opened) must be
counted without each of them handing a counter along. A SCIM /Bulk request is counted for the
step whose operation opened the batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["CallMeter", "count_call", "metered"]


@dataclass
class CallMeter:
    calls: int = 0


_current: ContextVar[CallMeter | None] = ContextVar("idsync_call_meter", default=None)


@contextmanager
def metered() -> Iterator[CallMeter]:
    """Count the IdP calls sent inside the block (and by the tasks it starts)."""
    meter = CallMeter()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def count_call() -> None:
    """One request sent to an IdP: counted for the work in progress, if any is metered."""
    meter = _current.get()
    if meter is not None:
        meter.calls += 1
