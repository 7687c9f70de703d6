"""The governor: every call to one IdP asks it for a permit first.

It paces each rate-limit counter from the IdP's headers (see `pacer.py`: a window's share goes at
once, less a reserve for interactive calls), caps the calls in flight, serves the interactive lane
before the bulk lane, and runs the circuit breaker. Time enters only through the injected clock,
so the scheduling is tested by moving a fake clock.

Which counter a call is charged to is learned, not trusted (`CounterMap`): a call names its
endpoint and the counter the documents suggest (a `Route`); each answer's
`X-Rate-Limit-Limit/-Remaining/-Reset` says which counter it really went to, and an endpoint
whose answers belong to another counter moves there (okta/FACTS.md §4: the grouping changed
between orgs and years).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from idsync.clock import Clock
from idsync.config import GovernorSettings
from idsync.domain.models import Lane
from idsync.engine.counters import CounterMap
from idsync.engine.pacer import DEFAULT_WINDOW_S, BucketPacer, RateHeaders
from idsync.engine.retry import CircuitBreaker, backoff_delay

CRUISE_CONCURRENCY = 8  # calls in flight where the limit, not round trips, sets the pace
SEND_WITHIN = 0.03  # a window's budget should go out within this part of the window (see _cap)


class Route(NamedTuple):
    """A call's endpoint (method + path template) and the counter the documents suggest for it."""

    endpoint: str
    counter: str


@dataclass
class Permit:
    bucket: str
    lane: Lane
    seq: int
    sent_at: float
    endpoint: str = ""
    probe: bool = False  # the one call of an endpoint whose counter is not known yet
    # A probe may land on any known counter, so it takes a call from each (bucket, seq): the one
    # its answer names keeps it, the others get theirs back (`unsend`) when it is answered.
    shadows: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class BucketUsage:
    """What a budget coordinator needs to know of one bucket (see idsync.domain.budget)."""

    limit: int | None  # learned from the IdP's headers; None before the first answer
    full_budget: int  # calls per window at the configured share (0 while the limit is unknown)
    sent_in_window: int  # our calls in the current window
    waiting: int  # calls waiting for a permit: demand
    allowance: int | None


@dataclass
class BucketStats:
    calls: Counter[int] = field(default_factory=Counter)  # by HTTP status (0 = no answer)
    rate_limited: int = 0


class _Bucket:
    def __init__(self, name: str, pacer: BucketPacer) -> None:
        self.name = name
        self.pacer = pacer
        self.waiters: list[tuple[int, int, asyncio.Future[int]]] = []
        self.wakeup = asyncio.Event()
        self.dispatcher: asyncio.Task[None] | None = None
        self.stats = BucketStats()
        self.bulk_in_flight = 0  # granted bulk permits not answered yet
        self.probes: set[asyncio.Future[int]] = set()  # waiters whose endpoint's counter is unknown

    def bulk_waiting(self) -> int:
        return sum(1 for lane, _, fut in self.waiters if lane == Lane.BULK and not fut.done())

    def settled(self, lane: Lane) -> None:
        """A permit of `lane` was answered or given back."""
        if lane is Lane.BULK:
            self.bulk_in_flight = max(self.bulk_in_flight - 1, 0)


class Governor:
    def __init__(
        self,
        idp: str,
        settings: GovernorSettings,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        share_scale: float = 1.0,
    ) -> None:
        self.idp = idp
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        # Several instances share one IdP budget: each takes its part of the share (see docs).
        self.share_scale = share_scale
        # With a coordinator, a bucket seen for the first time may send nothing (beyond the one
        # probe that learns its limit) until the coordinator grants it an allowance.
        self.default_allowance: int | None = None
        self.breaker = CircuitBreaker(settings.circuit_failures, settings.circuit_cooldown_s)
        self._buckets: dict[str, _Bucket] = {}
        self._seq = itertools.count()
        self._in_flight = 0
        self._slot_free = asyncio.Event()
        # Bulk changes waiting in the queue (set by the worker): lets a small job go at once.
        self.backlog = 0
        self.counters = CounterMap()
        self._probing: dict[str, int] = {}
        self._probe_answered: dict[str, asyncio.Event] = {}
        self._shadows: dict[asyncio.Future[int], tuple[tuple[str, int], ...]] = {}

    # ---- permits -----------------------------------------------------------------------------

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            pacer = BucketPacer(
                share=self.settings.budget_share * self.share_scale,
                reserve_share=self.settings.interactive_reserve,
            )
            pacer.allowance = self.default_allowance
            bucket = self._buckets[name] = _Bucket(name, pacer)
        return bucket

    def usage(self) -> dict[str, BucketUsage]:
        """Per bucket: limit, budget, calls sent in the current window, demand, allowance."""
        now = self.clock.time()
        out: dict[str, BucketUsage] = {}
        for name, b in self._buckets.items():
            p = b.pacer
            p.calls_left(now)  # rolls the window when its reset has passed
            out[name] = BucketUsage(
                limit=p.limit,
                full_budget=p.full_budget,
                sent_in_window=p.sent_in_window,
                waiting=sum(1 for w in b.waiters if not w[2].done()),
                allowance=p.allowance,
            )
        return out

    def set_allowance(self, bucket_name: str, calls: int | None) -> None:
        """Cap the calls per window of one bucket (None: the configured share alone)."""
        bucket = self._bucket(bucket_name)
        bucket.pacer.allowance = calls
        bucket.wakeup.set()

    def set_share_scale(self, scale: float) -> None:
        self.share_scale = scale
        for b in self._buckets.values():
            b.pacer.share = self.settings.budget_share * scale
            b.wakeup.set()

    async def acquire(self, route: Route | str, lane: Lane) -> Permit:
        """Wait for this call's turn: its counter's pacing, the concurrency cap, lane priority.
        `route` names the call's endpoint and the documented counter (a bare name: both)."""
        endpoint, guess = (route, route) if isinstance(route, str) else route
        probe = not isinstance(route, str) and not self.counters.confirmed(endpoint)
        while probe and self._probing.get(endpoint, 0) > 0:  # one call until its counter is known
            event = self._probe_answered.setdefault(endpoint, asyncio.Event())
            event.clear()
            await event.wait()
            probe = not self.counters.confirmed(endpoint)
        if probe:
            self._probing[endpoint] = self._probing.get(endpoint, 0) + 1
        bucket_name = self.counters.counter_of(endpoint, guess)
        bucket = self._bucket(bucket_name)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if probe:
            bucket.probes.add(fut)
        entry = (int(lane), next(self._seq), fut)
        heapq.heappush(bucket.waiters, entry)
        if bucket.dispatcher is None or bucket.dispatcher.done():
            bucket.dispatcher = asyncio.create_task(self._dispatch(bucket), name=f"governor:{bucket_name}")
        bucket.wakeup.set()
        try:
            seq = await fut
        except asyncio.CancelledError:
            bucket.probes.discard(fut)
            if entry in bucket.waiters:
                bucket.waiters.remove(entry)
                heapq.heapify(bucket.waiters)
            elif fut.done() and not fut.cancelled():
                bucket.pacer.forget(fut.result())  # granted, never sent
                bucket.settled(lane)
                self._release_slot()
            if probe:
                self._probe_over(
                    Permit(bucket_name, lane, 0, 0.0, endpoint, probe, self._shadows.pop(fut, ()))
                )
            bucket.wakeup.set()
            raise
        shadows = self._shadows.pop(fut, ())
        return Permit(bucket_name, lane, seq, self.clock.time(), endpoint, probe, shadows)

    async def _dispatch(self, bucket: _Bucket) -> None:
        """Grant permits to the waiters of one bucket, best lane first, at the paced times."""
        while bucket.waiters:
            lane, _, fut = bucket.waiters[0]
            if fut.done():
                heapq.heappop(bucket.waiters)
                continue
            now = self.clock.time()
            at = bucket.pacer.next_send_at(now, Lane(lane), demand=self._bulk_demand(bucket))
            if fut in bucket.probes:  # it may land on any counter: go when every known one has room
                at = max([at, *(b.pacer.next_send_at(now, Lane(lane)) for b in self._buckets.values())])
            if at <= now and self._in_flight < self._cap(bucket, now):
                heapq.heappop(bucket.waiters)
                self._in_flight += 1
                if lane == Lane.BULK:
                    bucket.bulk_in_flight += 1
                if fut in bucket.probes:
                    bucket.probes.discard(fut)
                    self._shadows[fut] = tuple(
                        (b.name, b.pacer.on_send(now))
                        for b in self._buckets.values()
                        if b is not bucket and b.pacer.limit is not None
                    )
                fut.set_result(bucket.pacer.on_send(now))
                continue
            bucket.wakeup.clear()
            self._slot_free.clear()
            delay = at - now if at > now else None
            await self._wait(bucket, delay)
        bucket.dispatcher = None

    def _cap(self, bucket: _Bucket, now: float) -> int:
        """Calls in flight allowed now: `CRUISE_CONCURRENCY`, or more (up to `max_concurrency`)
        when round trips, not the limit, would set the pace: the calls left in the window would
        not all go out before its reset; or the job's last calls fit in a window, whose end
        then waits on them: they go within `SEND_WITHIN` of a window. In the middle of a job the
        next window waits for its reset anyway, so going faster would only crowd the IdP."""
        ceiling = self.settings.max_concurrency
        base = min(CRUISE_CONCURRENCY, ceiling)
        p = bucket.pacer
        if p.limit is None or p.rtt_s is None or p.reset_at is None:
            return base
        window = p.window_s or DEFAULT_WINDOW_S
        left = max(p.calls_left(now), 0)
        demand = self._bulk_demand(bucket)
        # The tail of a job: what is left of it fits in a window's budget (the worker's backlog
        # lags its answered calls a little, so not the calls left now). At the window's pace,
        # never slower as it drains.
        if demand <= p.budget:
            wanted = math.ceil(p.budget * p.rtt_s / (SEND_WITHIN * window))
        else:
            wanted = math.ceil(left * p.rtt_s / max(p.reset_at - now, SEND_WITHIN * window))
        return max(base, min(ceiling, wanted))

    def _bulk_demand(self, bucket: _Bucket) -> int:
        """Bulk calls still to make: the worker's backlog (queued users and those it works on,
        which include the waiters) less the calls in flight, and at least the waiters."""
        return max(self.backlog - bucket.bulk_in_flight, bucket.bulk_waiting())

    async def _wait(self, bucket: _Bucket, delay: float | None) -> None:
        waits: list[asyncio.Task[object]] = [
            asyncio.create_task(bucket.wakeup.wait()),
            asyncio.create_task(self._slot_free.wait()),
        ]
        if delay is not None:
            waits.append(asyncio.create_task(self.clock.sleep(delay)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in waits:
                t.cancel()

    def _release_slot(self) -> None:
        self._in_flight = max(self._in_flight - 1, 0)
        self._slot_free.set()

    def _probe_over(self, permit: Permit, charged: str | None = None) -> None:
        for name, seq in permit.shadows:  # the calls it held on other counters, but the one it used
            if name != charged:
                self._bucket(name).pacer.unsend(seq)
                self._bucket(name).wakeup.set()
        if permit.probe:
            self._probing[permit.endpoint] = max(self._probing.get(permit.endpoint, 1) - 1, 0)
            event = self._probe_answered.get(permit.endpoint)
            if event is not None:
                event.set()

    def give_back(self, permit: Permit) -> None:
        """A permit not used after all (the circuit opened while it waited): nothing was sent."""
        self._probe_over(permit)
        bucket = self._bucket(permit.bucket)
        bucket.pacer.forget(permit.seq)
        bucket.settled(permit.lane)
        self._release_slot()
        bucket.wakeup.set()

    def on_response(self, permit: Permit, status: int, headers: RateHeaders | None) -> None:
        """Feed the answer back: learn limits and which counter the call went to, count it, move
        the breaker."""
        bucket = self._bucket(permit.bucket)
        now = self.clock.time()
        charged = permit.bucket
        if headers is not None and permit.endpoint:
            pacers = {name: b.pacer for name, b in self._buckets.items()}
            charged, believed = self.counters.observe(
                permit.endpoint, permit.bucket, headers, pacers, now, permit.seq
            )
            if not believed:
                headers = None  # a window no known counter is in: not this counter's news
        counted = bucket
        if charged == permit.bucket:
            bucket.pacer.on_response(now, permit.seq, status, headers)
        else:  # the call went to another counter: settle it here, learn there
            bucket.pacer.on_response(now, permit.seq, status, None)
            counted = self._bucket(charged)
            assert headers is not None
            held = dict(permit.shadows).get(charged)
            if held is not None:  # a probe held a call there: that call was this one
                counted.pacer.on_response(now, held, status, headers)
            else:
                counted.pacer.observe(now, status, headers)
            counted.wakeup.set()
        bucket.settled(permit.lane)
        self._probe_over(permit, charged)
        counted.stats.calls[status] += 1
        if status == 429:
            counted.stats.rate_limited += 1
        if status == 0 or status >= 500:
            self.breaker.on_failure(now)
        elif status < 500 and status != 429:
            self.breaker.on_success()
        self._release_slot()
        bucket.wakeup.set()

    def set_backlog(self, pending: int) -> None:
        """How many bulk changes wait in the queue (roughly one call each)."""
        self.backlog = max(pending, 0)
        for b in self._buckets.values():
            b.wakeup.set()

    def hold(self, bucket_name: str, until: float) -> None:
        """Send nothing more to this bucket before `until` (a 429 with Retry-After, no rate headers)."""
        bucket = self._bucket(bucket_name)
        bucket.pacer.blocked_until = max(bucket.pacer.blocked_until, until)
        bucket.wakeup.set()

    # ---- retries -----------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        return backoff_delay(
            attempt, base_s=self.settings.backoff_base_s, max_s=self.settings.backoff_max_s, rng=self.rng
        )

    def retry_at(self) -> float:
        """When calls may go out again after the circuit opened (ports.Pacing)."""
        return self.breaker.retry_at()

    def circuit_allows(self) -> bool:
        return self.breaker.allow(self.clock.time())

    # ---- reporting ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per counter: learned limit, budget, calls left, reset, calls by status, 429s, and the
        endpoints learned to share it."""
        now = self.clock.time()
        out: dict[str, dict[str, object]] = {}
        members = self.counters.members()
        for name, b in self._buckets.items():
            p = b.pacer
            out[name] = {
                "endpoints": members.get(name, []),
                "limit": p.limit,
                "budget": p.budget if p.limit is not None else None,
                "calls_left": p.calls_left(now) if p.limit is not None else None,
                "reset_in_s": (p.reset_at - now) if p.reset_at is not None else None,
                "window_s": p.window_s,
                "calls": dict(b.stats.calls),
                "rate_limited": b.stats.rate_limited,
                "waiting": sum(1 for w in b.waiters if not w[2].done()),
            }
        return out

    @property
    def total_calls(self) -> int:
        return sum(sum(b.stats.calls.values()) for b in self._buckets.values())

    @property
    def in_flight(self) -> int:
        return self._in_flight
