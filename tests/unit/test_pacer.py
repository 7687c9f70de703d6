"""The pacer learns limits from headers and spreads a share of them over the window. Time is an
argument, so these tests move time instead of sleeping."""

from __future__ import annotations

import itertools
from email.utils import formatdate

import pytest

from idsync.domain.models import Lane
from idsync.engine.pacer import BucketPacer, ClockSkew, RateHeaders

T0 = 1_700_000_000.0


def headers(limit: int, remaining: int, reset: float, date: float | None = None) -> RateHeaders:
    return RateHeaders(limit, remaining, reset, date)


class Server:
    """A fixed-window bucket as Okta runs it (limit per `window`, reset at the window's end)."""

    def __init__(self, limit: int, window: float = 60.0, start: float = T0) -> None:
        self.limit, self.window, self.start = limit, window, start
        self.used: dict[int, int] = {}

    def call(self, now: float) -> tuple[int, RateHeaders]:
        w = int((now - self.start) // self.window)
        reset = self.start + (w + 1) * self.window
        used = self.used.get(w, 0)
        if used >= self.limit:
            return 429, headers(self.limit, 0, reset, now)
        self.used[w] = used + 1
        return 200, headers(self.limit, self.limit - used - 1, reset, now)


def drive(
    pacer: BucketPacer, server: Server, until: float, lane: Lane = Lane.BULK
) -> list[tuple[float, int]]:
    """Send as fast as the pacer allows (answers arrive at once); returns (time, status) per call."""
    now = T0
    sent = []
    while now < until:
        at = pacer.next_send_at(now, lane)
        if at > now:
            now = at
            continue
        seq = pacer.on_send(now)
        status, h = server.call(now)
        pacer.on_response(now, seq, status, h)
        sent.append((now, status))
    return sent


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


def test_keeps_to_the_budget_share_and_never_gets_429() -> None:
    pacer = BucketPacer(share=0.8, reserve_share=0.0)
    server = Server(limit=300)
    sent = drive(pacer, server, until=T0 + 600)
    assert all(status == 200 for _, status in sent)
    per_window = list(server.used.values())
    # 10 full windows at 80% of 300 = 240 calls each (the first window also pays the probe).
    assert min(per_window[1:-1]) >= 238
    assert max(per_window) <= 240


def test_spreads_calls_evenly_instead_of_bursting() -> None:
    pacer = BucketPacer(share=0.5, reserve_share=0.0)
    server = Server(limit=120)
    sent = drive(pacer, server, until=T0 + 180)
    later = [t for t, _ in sent if t > T0 + 60]
    gaps = [b - a for a, b in itertools.pairwise(later)]
    assert max(gaps) < 2.0  # 60 calls in 60 s: about one a second, never a minute-long gap
    assert len([t for t in later if t < T0 + 70]) <= 12  # no burst at the start of a window


def test_bulk_leaves_the_reserve_to_interactive_calls() -> None:
    pacer = BucketPacer(share=1.0, reserve_share=0.05)
    server = Server(limit=100)
    drive(pacer, server, until=T0 + 59.99)
    assert server.used[0] == 95
    now = T0 + 59.995
    assert pacer.next_send_at(now, Lane.BULK) > now
    assert pacer.next_send_at(now, Lane.INTERACTIVE) == now


def test_demand_that_fits_goes_at_once_and_more_is_spread() -> None:
    pacer = BucketPacer(share=0.8, reserve_share=0.0)
    seq = pacer.on_send(T0)
    pacer.on_response(T0, seq, 200, headers(300, 299, T0 + 60, T0))
    assert pacer.next_send_at(T0, Lane.BULK, demand=100) == T0  # 100 <= 239 calls left
    pacer.on_send(T0)
    assert pacer.next_send_at(T0, Lane.BULK, demand=1000) > T0  # too much: spread over the window


def test_learns_a_short_window_from_consecutive_resets() -> None:
    pacer = BucketPacer(share=0.8, reserve_share=0.0)
    server = Server(limit=300, window=0.6)
    sent = drive(pacer, server, until=T0 + 6)
    assert pacer.window_s == pytest.approx(0.6)
    assert len(sent) >= 0.97 * 240 * 9  # ten windows of 0.6 s, the first one shorter
    assert sum(1 for _, s in sent if s == 429) == 0


def test_429_holds_the_bucket_until_the_reset() -> None:
    pacer = BucketPacer(share=1.0, reserve_share=0.0)
    seq = pacer.on_send(T0)
    pacer.on_response(T0, seq, 429, headers(600, 0, T0 + 30, T0))
    assert pacer.next_send_at(T0 + 1, Lane.INTERACTIVE) == pytest.approx(T0 + 30, abs=1.0)


def test_concurrency_429_backs_off_briefly() -> None:
    pacer = BucketPacer()
    seq = pacer.on_send(T0)
    pacer.on_response(T0, seq, 429, headers(0, 0, T0 + 60, T0))
    assert T0 < pacer.next_send_at(T0, Lane.INTERACTIVE) <= T0 + 1


def test_shares_the_bucket_with_other_applications() -> None:
    """Remaining in the headers counts everybody's calls: never plan beyond it."""
    pacer = BucketPacer(share=0.8, reserve_share=0.0)
    seq = pacer.on_send(T0)
    pacer.on_response(T0, seq, 200, headers(300, 10, T0 + 60, T0))  # others used most of it
    assert pacer.calls_left(T0) == 10


def test_clock_skew_from_the_date_header() -> None:
    skew = ClockSkew()
    for i in range(50):  # the server runs 100 s ahead; Date is truncated to the second
        local = T0 + i * 0.37
        skew.observe(float(int(local + 100)), local)
    assert skew.offset == pytest.approx(100, abs=0.4)
    assert skew.to_local(T0 + 160) == pytest.approx(T0 + 60, abs=0.4)
