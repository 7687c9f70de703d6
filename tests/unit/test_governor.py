"""The governor's scheduling on a fake clock: lanes, the concurrency cap, pacing, the breaker."""

from __future__ import annotations

import asyncio
import random

from idsync.clock import FakeClock
from idsync.config import GovernorSettings
from idsync.domain.models import Lane
from idsync.engine.governor import Governor, Permit, Route
from idsync.engine.pacer import RateHeaders
from idsync.engine.retry import CircuitBreaker, backoff_delay
from tests.unit.okta_bucket import Okta


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def learn(gov: Governor, clock: FakeClock, limit: int, remaining: int, reset_in: float) -> None:
    """Feed one answer so the bucket knows its limits."""
    permit = Permit("users", Lane.BULK, gov._bucket("users").pacer.on_send(clock.time()), clock.time())
    gov._in_flight += 1
    gov.on_response(permit, 200, RateHeaders(limit, remaining, clock.time() + reset_in, clock.time()))


async def test_interactive_goes_before_waiting_bulk() -> None:
    clock = FakeClock()
    gov = Governor(
        "okta", GovernorSettings(budget_share=1.0, interactive_reserve=0.0, max_concurrency=1), clock
    )
    learn(gov, clock, limit=60, remaining=59, reset_in=60)
    first = await gov.acquire("users", Lane.INTERACTIVE)  # takes the only slot
    order: list[str] = []

    async def take(name: str, lane: Lane) -> None:
        permit = await gov.acquire("users", lane)
        order.append(name)
        gov.on_response(permit, 200, None)

    tasks = [asyncio.create_task(take(f"bulk{i}", Lane.BULK)) for i in range(3)]
    await settle()
    tasks.append(asyncio.create_task(take("interactive", Lane.INTERACTIVE)))
    await settle()
    gov.on_response(first, 200, None)
    for _ in range(10):
        await settle()
        clock.advance(1.0)
    await settle()
    assert all(t.done() for t in tasks)
    assert order[0] == "interactive"
    assert sorted(order[1:]) == ["bulk0", "bulk1", "bulk2"]


async def test_concurrency_cap_holds_the_third_call() -> None:
    clock = FakeClock()
    gov = Governor("okta", GovernorSettings(max_concurrency=2), clock)
    learn(gov, clock, limit=600, remaining=599, reset_in=60)
    a = await gov.acquire("users", Lane.INTERACTIVE)
    b = await gov.acquire("users", Lane.INTERACTIVE)
    third = asyncio.create_task(gov.acquire("users", Lane.INTERACTIVE))
    await settle()
    assert not third.done() and gov.in_flight == 2
    gov.on_response(a, 200, None)
    await settle()
    assert third.done() and gov.in_flight == 2
    gov.on_response(b, 200, None)
    gov.on_response(third.result(), 200, None)
    assert gov.in_flight == 0


async def test_bulk_calls_go_at_once_up_to_the_window_share() -> None:
    clock = FakeClock()
    gov = Governor(
        "okta", GovernorSettings(budget_share=0.5, interactive_reserve=0.0, max_concurrency=8), clock
    )
    learn(gov, clock, limit=20, remaining=19, reset_in=60)  # budget 10 a minute, 1 used
    gov.set_backlog(100)  # a big import waits in the queue: more than this window allows
    granted: list[float] = []

    async def one() -> None:
        permit = await gov.acquire("users", Lane.BULK)
        granted.append(clock.time())
        gov.on_response(permit, 200, None)

    tasks = [asyncio.create_task(one()) for _ in range(15)]
    for _ in range(70):
        await settle()
        clock.advance(1.0)
    await settle()
    assert all(t.done() for t in tasks)
    start = granted[0]
    assert granted[:9] == [start] * 9  # the window's 9 calls left, at once: nothing to spread
    assert granted[9:] == [start + 60] * 6  # the rest when the window resets


async def test_bulk_leaves_the_reserve_to_an_interactive_call() -> None:
    clock = FakeClock()
    gov = Governor(
        "okta", GovernorSettings(budget_share=1.0, interactive_reserve=0.1, max_concurrency=8), clock
    )
    learn(gov, clock, limit=20, remaining=19, reset_in=60)  # 20 a minute, 2 kept back
    gov.set_backlog(100)
    bulk: list[float] = []

    async def one(lane: Lane, into: list[float]) -> None:
        permit = await gov.acquire("users", lane)
        into.append(clock.time())
        gov.on_response(permit, 200, None)

    tasks = [asyncio.create_task(one(Lane.BULK, bulk)) for _ in range(30)]
    for _ in range(5):
        await settle()
        clock.advance(1.0)
    assert len(bulk) == 17  # 20 - 1 used - 2 kept back
    interactive: list[float] = []
    await one(Lane.INTERACTIVE, interactive)
    assert interactive == [clock.time()]  # at once, mid-window
    for _ in range(70):
        await settle()
        clock.advance(1.0)
    await settle()
    assert all(t.done() for t in tasks)
    assert 55 <= bulk[17] - bulk[0] < 60  # the reserve left (1) was lent just before the reset


async def test_a_small_job_that_fits_in_the_window_goes_at_once() -> None:
    clock = FakeClock()
    gov = Governor(
        "okta", GovernorSettings(budget_share=0.8, interactive_reserve=0.02, max_concurrency=8), clock
    )
    learn(gov, clock, limit=300, remaining=299, reset_in=60)
    gov.set_backlog(0)
    granted: list[float] = []

    async def one() -> None:
        permit = await gov.acquire("users", Lane.BULK)
        granted.append(clock.time())
        gov.on_response(permit, 200, None)

    tasks = [asyncio.create_task(one()) for _ in range(50)]
    for _ in range(20):
        await settle()
    assert all(t.done() for t in tasks)
    assert granted == [clock.time()] * 50  # no time passed: fifty admins do not wait for a minute


async def test_the_tail_of_a_job_uses_the_reserve() -> None:
    """What waits fits in the window, reserve included: it goes now, not after the reset."""
    clock = FakeClock()
    gov = Governor(
        "okta", GovernorSettings(budget_share=1.0, interactive_reserve=0.1, max_concurrency=8), clock
    )
    learn(gov, clock, limit=20, remaining=19, reset_in=60)
    gov.set_backlog(19)
    granted: list[float] = []

    async def one() -> None:
        permit = await gov.acquire("users", Lane.BULK)
        granted.append(clock.time())
        gov.on_response(permit, 200, None)

    tasks = [asyncio.create_task(one()) for _ in range(19)]
    for _ in range(20):
        await settle()
    assert len(granted) == 17  # the backlog said 19: more than the 17 left beside the reserve
    gov.set_backlog(19 - len(granted))  # the worker's next report: 2 left, they fit
    for _ in range(20):
        await settle()
    assert all(t.done() for t in tasks)
    assert granted == [clock.time()] * 19


async def import_through(gov: Governor, clock: FakeClock, okta: Okta, users: int) -> list[float]:
    """`users` bulk creates through the governor against `okta`, answers after 0.1 s, a 429
    retried as the transport does; the worker's backlog reported every half second. Returns
    when each create succeeded."""
    left = users
    done: list[float] = []

    async def create() -> None:
        nonlocal left
        while True:
            permit = await gov.acquire("users", Lane.BULK)
            status, remaining, reset = okta.arrive(clock.time())
            await clock.sleep(0.1)
            gov.on_response(
                permit, status, RateHeaders(okta.token_limit, remaining, reset, okta.date(clock.time()))
            )
            if status == 200:
                left -= 1
                done.append(clock.time())
                return

    tasks = [asyncio.create_task(create()) for _ in range(users)]
    while not all(t.done() for t in tasks):
        gov.set_backlog(left)
        for _ in range(10):
            await settle()
            clock.advance(0.05)
    return done


async def test_whole_token_limit_on_the_fake_clock_without_a_429() -> None:
    clock = FakeClock()
    gov = Governor("okta", GovernorSettings(budget_share=1.0, max_concurrency=8), clock)
    okta = Okta(token_limit=300, org_limit=600, skew=2.5)
    start = clock.time()
    done = await import_through(gov, clock, okta, 900)
    assert okta.rejected == 0
    assert okta.per_window == [300, 300, 300]
    assert max(done) - start < 2 * 60 + 10  # two windows pass, the third's calls take seconds


async def test_other_applications_in_the_org_bucket_on_the_fake_clock() -> None:
    """Others take 5 calls a second of the org's 600: Remaining falls faster than our calls, and
    the governor leaves them the rest of the window instead of lending its reserve into it."""
    clock = FakeClock()
    gov = Governor("okta", GovernorSettings(budget_share=0.8, max_concurrency=8), clock)
    okta = Okta(token_limit=600, org_limit=600, others_per_s=5.0)
    await import_through(gov, clock, okta, 1500)
    assert okta.rejected == 0
    assert okta.per_window == [470, 470, 470, 90]


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    clock = FakeClock()
    gov = Governor("okta", GovernorSettings(max_concurrency=1), clock)
    learn(gov, clock, limit=600, remaining=599, reset_in=60)
    held = await gov.acquire("users", Lane.INTERACTIVE)
    waiting = asyncio.create_task(gov.acquire("users", Lane.INTERACTIVE))
    await settle()
    waiting.cancel()
    await settle()
    gov.on_response(held, 200, None)
    again = await asyncio.wait_for(gov.acquire("users", Lane.INTERACTIVE), 1)
    gov.on_response(again, 200, None)
    assert gov.in_flight == 0


def test_breaker_opens_after_repeated_failures_and_probes_after_cooldown() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown_s=30)
    for i in range(3):
        assert breaker.allow(100 + i)
        breaker.on_failure(100 + i)
    assert not breaker.allow(110)
    assert breaker.allow(133)  # half-open: one probe
    assert not breaker.allow(133.5)
    breaker.on_failure(134)  # the probe failed: open again
    assert not breaker.allow(140) and breaker.times_opened == 2
    assert breaker.allow(165)
    breaker.on_success()
    assert breaker.allow(166) and not breaker.is_open


def test_backoff_grows_and_is_capped_with_jitter() -> None:
    import random

    rng = random.Random(7)
    delays = [backoff_delay(a, base_s=0.5, max_s=8, rng=rng) for a in range(8)]
    assert all(0.25 <= d <= 8 for d in delays)
    assert delays[0] <= 0.5 and delays[-1] >= 4


async def test_answers_out_of_order_keep_the_endpoint_on_its_counter() -> None:
    """With jittered latency a slow answer reports more calls left than the newest ones, by the
    calls sent after it: not a sign of another counter. Splitting the endpoint off would pace
    one counter twice, each copy with its own reserve, and cost a whole window (bench S4)."""
    clock = FakeClock()
    gov = Governor("okta", GovernorSettings(budget_share=1.0, max_concurrency=8), clock)
    okta = Okta(token_limit=300, org_limit=600)
    rng = random.Random(7)
    route = Route("POST /api/v1/users", "users")
    left = 600

    async def create() -> None:
        nonlocal left
        while True:
            permit = await gov.acquire(route, Lane.BULK)
            await clock.sleep(rng.uniform(0.0, 0.3))  # on the way to the server
            status, remaining, reset = okta.arrive(clock.time())
            await clock.sleep(rng.uniform(0.0, 0.3))  # on the way back
            headers = RateHeaders(okta.token_limit, remaining, reset, okta.date(clock.time()))
            gov.on_response(permit, status, headers)
            if status == 200:
                left -= 1
                return

    tasks = [asyncio.create_task(create()) for _ in range(600)]
    while not all(t.done() for t in tasks):
        gov.set_backlog(left)
        for _ in range(10):
            await settle()
            clock.advance(0.01)
    assert gov.counters.moves == []
    assert okta.rejected == 0
    assert okta.per_window == [300, 300]


async def test_a_long_round_trip_raises_the_calls_in_flight_up_to_the_burst_cap() -> None:
    """At 300 ms a round trip, 8 in flight would need 11 s for a window's 300 calls: the tail of a
    job would wait on round trips, not on the limit. The cap rises so the budget goes out within
    a few hundredths of the window, never above `max_concurrency`; in the middle of the job
    (the next window waits for its reset anyway) it stays at the cruising 8."""
    clock = FakeClock()
    settings = GovernorSettings(budget_share=1.0, max_concurrency=40)
    gov = Governor("okta", settings, clock)
    okta = Okta(token_limit=300, org_limit=600)
    peaks = [0, 0]  # by window
    done: list[float] = []

    async def create() -> None:
        while True:
            permit = await gov.acquire("users", Lane.BULK)
            w = len(done) // 300
            peaks[w] = max(peaks[w], gov.in_flight)
            status, remaining, reset = okta.arrive(clock.time())
            await clock.sleep(0.3)
            gov.on_response(permit, status, RateHeaders(300, remaining, reset, okta.date(clock.time())))
            if status == 200:
                done.append(clock.time())
                return

    tasks = [asyncio.create_task(create()) for _ in range(600)]
    while not all(t.done() for t in tasks):
        gov.set_backlog(600 - len(done))
        for _ in range(10):
            await settle()
            clock.advance(0.02)
    assert okta.rejected == 0
    assert okta.per_window == [300, 300]
    assert peaks == [8, 40]
    second_opened = okta.windows[1][0]
    assert max(done) - second_opened < 3.5  # 300 calls at 40 in flight: 8 round trips
