"""The one source of time of the emulator.

Why: rate-limit windows, storms and timestamps are all decided from `Clock.now()`, so tests move
a `ManualClock` instead of sleeping, and the server uses `SystemClock`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock", "http_date", "iso_timestamp"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC), real time."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = when


def http_date(epoch: float) -> str:
    """RFC 7231 date of the whole second containing `epoch` (what the `Date` header shows)."""
    return formatdate(int(epoch), usegmt=True)


def iso_timestamp(epoch: float) -> str:
    """Okta's timestamp format, whole seconds: `2020-08-27T18:19:24.000Z`."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
