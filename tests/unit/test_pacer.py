"""The pacer learns limits from headers and sends a window's share at once. Time is an argument,
so these tests move time instead of sleeping: `simulate` plays calls with a latency against a
bucket modelled on Okta's (and the emulator's) rules."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from email.utils import formatdate

import pytest

from idsync.domain.models import Lane
from idsync.engine.pacer import BucketPacer, ClockSkew, RateHeaders
from tests.unit.okta_bucket import T0, Okta


@dataclass
class Run:
    sent: list[tuple[float, Lane]]  # local send time and lane of every call
    waited: list[float]  # per interactive call: from its arrival until it was sent
    done_at: float


def simulate(
    pacer: BucketPacer,
    okta: Okta,
    *,
    bulk: int,
    latency: float = 0.1,
    jitter: float = 0.0,
    concurrency: int = 8,
    interactive: tuple[float, ...] = (),
    until: float = T0 + 3600,
) -> Run:
    """Send `bulk` calls (and interactive ones arriving at the given times) as the pacer allows,
    at most `concurrency` at once; a call rejected with 429 is made again later."""
    rng = random.Random(7)
    now, pending = T0, bulk
    arrivals, ready = sorted(interactive), list[float]()
    flying: list[tuple[float, int, int, Lane, RateHeaders, float]] = []
    run = Run([], [], T0)
    while now < until:
        while flying and flying[0][0] <= now:
            at, seq, status, lane, headers, arrived = heapq.heappop(flying)
            pacer.on_response(at, seq, status, headers)
            if status == 429 and lane is Lane.BULK:
                pending += 1
            elif status == 429:
                ready.insert(0, arrived)
            run.done_at = at
        while arrivals and arrivals[0] <= now:
            ready.append(arrivals.pop(0))
        if not (pending or ready or flying or arrivals):
            return run
        events = [flying[0][0]] if flying else []
        if arrivals:
            events.append(arrivals[0])
        if len(flying) < concurrency and (ready or pending):
            lane = Lane.INTERACTIVE if ready else Lane.BULK
            at = pacer.next_send_at(now, lane, demand=pending)
            if at <= now:
                seq = pacer.on_send(now)
                status, remaining, reset = okta.arrive(now)
                answer = now + max(latency + rng.uniform(-jitter, jitter), 0.001)
                headers = RateHeaders(okta.token_limit, remaining, reset, okta.date(answer))
                arrived = now
                if lane is Lane.INTERACTIVE:
                    arrived = ready.pop(0)
                    run.waited.append(now - arrived)
                else:
                    pending -= 1
                heapq.heappush(flying, (answer, seq, status, lane, headers, arrived))
                run.sent.append((now, lane))
                continue
            events.append(at)
        now = min(events)
    raise AssertionError("the simulation did not finish")


def test_rate_headers_parse_okta_form() -> None:
    h = RateHeaders.parse(
        {
            "x-rate-limit-limit": "600",
            "x-rate-limit-remaining": "598",
            "x-rate-limit-reset": "1609459200",
            "date": formatdate(1609459150, usegmt=True),
        }
    )
    assert h == RateHeaders(600, 598, 1609459200.0, 1609459150.0)
    assert RateHeaders.parse({"x-rate-limit-limit": "600"}) is None


def test_sends_the_window_share_at_once_at_the_window_start() -> None:
    pacer = BucketPacer(share=0.8, reserve_share=0.02)  # 240 of 300 a window, 5 kept back
    okta = Okta(token_limit=300, org_limit=600)
    run = simulate(pacer, okta, bulk=1000, latency=0.1)
    assert okta.rejected == 0
    assert okta.per_window == [240, 240, 240, 240, 40]  # the reserve nobody used is lent to bulk
    for start, end in okta.windows[1:-1]:
        in_window = [t for t, _ in run.sent if start <= t + okta.skew < end]
        burst = [t for t in in_window if t + okta.skew < start + 4.0]  # 235 calls x 0.1 s / 8
        assert len(burst) == 235
    # Four windows must pass before the fifth opens; that is all the time the job takes.
    assert run.done_at - T0 < 4 * 60 + 5


def test_bulk_keeps_the_reserve_for_interactive_calls() -> None:
    pacer = BucketPacer(share=1.0, reserve_share=0.05)  # 100 a window, 5 kept back
    okta = Okta(token_limit=100)
    run = simulate(pacer, okta, bulk=1000, interactive=(T0 + 10, T0 + 20, T0 + 30, T0 + 70))
    assert run.waited == [0.0, 0.0, 0.0, 0.0]  # no interactive call waits for the next window
    first = [(t, lane) for t, lane in run.sent if t < T0 + 60]
    before_lending = [t for t, lane in first if lane is Lane.BULK and t < T0 + 57]
    assert len(before_lending) == 95
    assert okta.per_window[:3] == [100, 100, 100]  # what interactive calls left was lent to bulk
    assert okta.rejected == 0


def test_no_429_at_the_whole_token_limit_with_latency_and_skew() -> None:
    pacer = BucketPacer(share=1.0, reserve_share=0.02)
    okta = Okta(token_limit=300, skew=3.7)  # the server's clock runs 3.7 s ahead
    run = simulate(pacer, okta, bulk=1500, latency=0.3, jitter=0.1)
    assert okta.rejected == 0
    assert okta.per_window == [300] * 5  # the lent reserve landed before each reset
    # Four windows, the last one's 300 calls at 8 at once (0.4 s each at most), and per window
    # the reset rounded up to the second plus the skew still being learned.
    assert run.done_at - T0 < 4 * 60 + 300 * 0.4 / 8 + 4 * 2.0


def test_the_last_calls_of_a_job_may_use_the_reserve() -> None:
    """600 calls at 300 a window: two windows, not a third one for the 2% held back."""
    pacer = BucketPacer(share=1.0, reserve_share=0.02)
    okta = Okta(token_limit=300)
    run = simulate(pacer, okta, bulk=600, latency=0.1)
    assert okta.per_window == [300, 300]
    assert okta.rejected == 0
    assert run.done_at - T0 < 60 + 2 + 300 * 0.1 / 8 + 1


def test_other_applications_already_in_the_window_leave_less() -> None:
    """Others took 450 of the org's 600 before we came: Remaining says 150, we send 150."""
    pacer = BucketPacer(share=0.8, reserve_share=0.02)  # 480 of the token's 600
    okta = Okta(token_limit=600, org_limit=600, others_at_start=450)
    simulate(pacer, okta, bulk=1000)
    assert okta.rejected == 0
    assert okta.per_window[:3] == [150, 150, 150]


def test_remaining_falling_faster_than_our_calls_holds_back_the_lent_reserve() -> None:
    """Others use 5 calls a second of the org bucket: the pacer learns their rate from Remaining
    falling faster than its own calls, and lends no reserve into a bucket they have used up."""
    pacer = BucketPacer(share=0.8, reserve_share=0.02)  # 480 a window, 10 kept back
    okta = Okta(token_limit=600, org_limit=600, others_per_s=5.0)
    run = simulate(pacer, okta, bulk=1500)
    assert okta.rejected == 0  # lending the 10 would meet a full org bucket: 24 x 429
    assert okta.per_window == [470, 470, 470, 90]
    assert len(run.sent) == 1500


def test_an_answer_from_a_window_that_is_over_does_not_stall_the_next() -> None:
    pacer = BucketPacer(share=1.0, reserve_share=0.0)
    first = pacer.on_send(T0)
    pacer.on_response(T0, first, 200, RateHeaders(100, 99, T0 + 60, T0))
    late = pacer.on_send(T0 + 59.9)  # sent just before the reset
    assert pacer.calls_left(T0 + 60.5) == 99  # new window; the unanswered call may count in it
    pacer.on_response(T0 + 60.6, late, 429, RateHeaders(100, 0, T0 + 60, T0 + 60))
    assert pacer.calls_left(T0 + 60.6) == 100
    assert pacer.next_send_at(T0 + 60.6, Lane.BULK) == T0 + 60.6


def test_answers_of_a_burst_arriving_out_of_order_keep_the_count() -> None:
    pacer = BucketPacer(share=0.8, reserve_share=0.0)  # 80 of 100
    first = pacer.on_send(T0)
    pacer.on_response(T0, first, 200, RateHeaders(100, 99, T0 + 60, T0))
    burst = [pacer.on_send(T0 + 60.1) for _ in range(8)]  # the next window's first calls
    pacer.on_response(T0 + 60.2, burst[4], 200, RateHeaders(100, 95, T0 + 120, T0 + 60))
    assert pacer.sent_in_window == 8  # not 4: the three sent before it count in this window too
    assert pacer.calls_left(T0 + 60.2) == 72


def test_a_server_reset_before_ours_counts_the_calls_still_unanswered() -> None:
    """The server's window turned while a burst was in flight and before our own reset: the
    answer of a later call of the burst comes first. The earlier calls may have landed in the new
    window too; they count there until their answers say otherwise."""
    pacer = BucketPacer(share=0.8, reserve_share=0.0)  # 80 of 100
    first = pacer.on_send(T0)
    pacer.on_response(T0, first, 200, RateHeaders(100, 99, T0 + 60, T0))
    burst = [pacer.on_send(T0 + 59.95) for _ in range(8)]
    pacer.on_response(T0 + 59.99, burst[4], 200, RateHeaders(100, 97, T0 + 120, T0 + 59))
    assert pacer.sent_in_window == 8  # not 4
    assert pacer.calls_left(T0 + 59.99) == 72
    for seq in burst[:2]:  # landed before the reset after all: their places come back
        pacer.on_response(T0 + 59.99, seq, 200, RateHeaders(100, 5, T0 + 60, T0 + 59))
    assert pacer.sent_in_window == 6


def test_learns_a_short_window_from_consecutive_resets() -> None:
    pacer = BucketPacer(share=0.8, reserve_share=0.0)
    okta = Okta(token_limit=300, window=0.6)
    simulate(pacer, okta, bulk=2400, latency=0.001, concurrency=64)
    assert pacer.window_s == pytest.approx(1.0)  # resets in whole seconds: 0.6 s rounds up to 1
    assert okta.rejected == 0
    assert okta.per_window[1:-1] == [240] * (len(okta.per_window) - 2)


def _answer(pacer: BucketPacer, at: float, reset: float) -> None:
    seq = pacer.on_send(at)
    pacer.on_response(at + 0.01, seq, 200, RateHeaders(300, 299, reset, None))


def test_a_scaled_window_is_not_lent_for_a_hundredth_of_a_minute_before_its_length_is_known() -> None:
    """A 1.8 s window (an emulator at time scale 0.03), first answer 0.2 s into it: the reserve is
    lent just before the reset, not 0.6 s before it (interactive calls would wait a third of it)."""
    pacer = BucketPacer(share=0.8, reserve_share=0.02)
    _answer(pacer, T0, T0 + 1.62)
    assert pacer.window_s is None
    assert pacer.reset_at is not None
    assert pacer.reset_at - pacer.lend_at() < 0.05


def test_a_reset_on_a_whole_second_keeps_the_resolution_of_hundredths_seen_before() -> None:
    """Hundredths that fall on a whole second (one window in a hundred) are still hundredths:
    taken for a whole-second reset, the reserve was lent a second early in a 1.8 s window."""
    pacer = BucketPacer(share=0.8, reserve_share=0.02)
    _answer(pacer, T0, T0 + 1.2)
    _answer(pacer, T0 + 1.3, T0 + 3.0)
    assert pacer.reset_resolution_s == 0.01
    assert pacer.window_s == pytest.approx(1.8)
    assert pacer.reset_at is not None
    assert pacer.reset_at - pacer.lend_at() < 0.05
    whole = BucketPacer(share=0.8, reserve_share=0.02)  # Okta: whole seconds only
    _answer(whole, T0, T0 + 60.0)
    assert whole.reset_resolution_s == 1.0


def test_429_holds_the_bucket_until_the_reset() -> None:
    pacer = BucketPacer(share=1.0, reserve_share=0.0)
    seq = pacer.on_send(T0)
    pacer.on_response(T0, seq, 429, RateHeaders(600, 0, T0 + 30, T0))
    assert pacer.next_send_at(T0 + 1, Lane.INTERACTIVE) == pytest.approx(T0 + 30, abs=1.0)


def test_concurrency_429_backs_off_briefly() -> None:
    pacer = BucketPacer()
    seq = pacer.on_send(T0)
    pacer.on_response(T0, seq, 429, RateHeaders(0, 0, T0 + 60, T0))
    assert T0 < pacer.next_send_at(T0, Lane.INTERACTIVE) <= T0 + 1


def test_clock_skew_from_the_date_header() -> None:
    skew = ClockSkew()
    for i in range(50):  # the server runs 100 s ahead; Date is truncated to the second
        local = T0 + i * 0.37
        skew.observe(float(int(local + 100)), local)
    assert skew.offset == pytest.approx(100, abs=0.4)
    assert skew.to_local(T0 + 160) == pytest.approx(T0 + 60, abs=0.4)
