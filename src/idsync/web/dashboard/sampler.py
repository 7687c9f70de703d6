"""A short history for the dashboard's charts, sampled in the background every few seconds.

The governor keeps running totals (calls and 429s per bucket), not a time series; "calls per
minute against the limit" needs one. So a task started with the app samples the totals every
`interval_s` into a ring buffer per bucket (an hour by default), along with the queue depth per
lane and the done-count of running imports (whose rate the page shows when the job that runs
them does not record one, e.g. imports uploaded to `idsync serve`).

The sampler is the only thing that counts the queue: a page polled by several people every two
seconds reads the last sample instead of counting a million-row queue each time.

`History.observe` is pure (time and totals come in as arguments), so it is tested without
sleeping; `run_sampler` is the thin loop that feeds it from the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from idsync.domain.models import ImportState, Lane
from idsync.engine.jobs import RateMeter

__all__ = ["BucketKey", "DashboardState", "History", "Point", "QueuePoint", "run_sampler"]

log = logging.getLogger("idsync.web.dashboard")

BucketKey = tuple[str, str]  # (idp, bucket)


@dataclass(frozen=True)
class Point:
    t: float  # wall-clock time of the sample (epoch seconds)
    calls_per_min: float  # calls sent since the previous sample, per minute
    rate_limited: int  # 429 answers since the previous sample


@dataclass(frozen=True)
class QueuePoint:
    t: float
    interactive: int
    bulk: int


@dataclass
class _Last:
    t: float
    calls: int
    rate_limited: int


class History:
    """Ring buffers of per-bucket call rates and queue depth, plus observed import rates."""

    def __init__(self, *, interval_s: float, horizon_s: float = 3600.0) -> None:
        self.size = max(int(horizon_s / interval_s), 2)
        self.buckets: dict[BucketKey, deque[Point]] = {}
        self.queue: deque[QueuePoint] = deque(maxlen=self.size)
        self._last: dict[BucketKey, _Last] = {}
        self._meters: dict[str, RateMeter] = {}
        self.import_rates: dict[str, float] = {}

    def observe(
        self,
        now: float,
        totals: Mapping[BucketKey, tuple[int, int]],
        queue: tuple[int, int] | None = None,
        running: Mapping[str, int] | None = None,
    ) -> None:
        """One sample: running totals (calls, 429s) per bucket, queue depth (interactive, bulk),
        and the done-count of each running import."""
        for key, (calls, limited) in totals.items():
            last = self._last.get(key)
            self._last[key] = _Last(now, calls, limited)
            if last is None or now <= last.t or calls < last.calls:
                continue  # first sight (no rate yet), clock step back, or the governor restarted
            dt = now - last.t
            point = Point(now, (calls - last.calls) * 60.0 / dt, max(limited - last.rate_limited, 0))
            self.buckets.setdefault(key, deque(maxlen=self.size)).append(point)
        if queue is not None:
            self.queue.append(QueuePoint(now, *queue))
        if running is not None:
            for import_id in set(self._meters) - set(running):
                del self._meters[import_id]
                self.import_rates.pop(import_id, None)
            for import_id, done in running.items():
                meter = self._meters.setdefault(import_id, RateMeter())
                rate = meter.add(now, done)
                if len(meter.samples) >= 2:  # one sample has no rate yet
                    self.import_rates[import_id] = rate

    def series(self, key: BucketKey, since: float = 0.0) -> list[Point]:
        return [p for p in self.buckets.get(key, ()) if p.t > since]

    def rate_limited_total(self, key: BucketKey) -> int:
        last = self._last.get(key)
        return last.rate_limited if last else 0


@dataclass
class DashboardState:
    """Kept at `app.state.dashboard`; tests may shorten `interval_s` before the app starts."""

    interval_s: float = 5.0
    horizon_s: float = 3600.0
    history: History = field(init=False)
    samples: int = 0

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.history = History(interval_s=self.interval_s, horizon_s=self.horizon_s)


def bucket_totals(governors: Mapping[str, Any]) -> dict[BucketKey, tuple[int, int]]:
    """(calls sent, 429 answers) per (idp, bucket), from each governor's snapshot."""
    out: dict[BucketKey, tuple[int, int]] = {}
    for idp, governor in governors.items():
        for bucket, snap in governor.snapshot().items():
            calls = snap.get("calls") or {}
            out[(idp, bucket)] = (sum(int(n) for n in calls.values()), int(snap.get("rate_limited") or 0))
    return out


def running_done(records: Iterable[Any]) -> dict[str, int]:
    return {r.id: r.progress().done for r in records if r.state is ImportState.RUNNING}


async def sample_once(app: FastAPI) -> None:
    state: DashboardState = app.state.dashboard
    rt = app.state.runtime
    depth = await rt.stores.queue.queue_depth()
    records = await rt.stores.imports.recent(limit=200)
    queue = (depth.get(Lane.INTERACTIVE, 0), depth.get(Lane.BULK, 0))
    state.history.observe(time.time(), bucket_totals(rt.governors), queue, running_done(records))
    state.samples += 1


async def run_sampler(app: FastAPI) -> None:
    """Sample until the app stops; a failed sample (store busy, restarting) is logged and skipped."""
    state: DashboardState = app.state.dashboard
    state.reset()  # the interval may have been changed since the app was made
    stop: asyncio.Event = app.state.stop
    while not stop.is_set():
        try:
            await sample_once(app)
        except Exception:
            log.warning("dashboard sample failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), state.interval_s)
