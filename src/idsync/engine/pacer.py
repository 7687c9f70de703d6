"""Pacing one rate-limit bucket from the IdP's own headers. Pure: time is an argument.

Why by hand: client-side limiters (aiolimiter, limits, pyrate-limiter) enforce a rate you give
them; here the rate must be *learned* from `X-Rate-Limit-Limit/-Remaining/-Reset` (plus the
`Date` header for clock skew), shared with other applications of the org, kept to a configured
share, spread evenly over a window whose reset time the server dictates, and must leave headroom
for interactive work. No library does that.

Model: per window the budget is floor(limit x share) calls. The calls left (budget minus our calls
this window, never more than the server's Remaining minus calls sent since that header was
observed) are spread evenly over the time left until the reset. Interactive calls go at once
while any call is left; bulk calls leave `reserve` calls for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from idsync.domain.models import Lane

DEFAULT_WINDOW_S = 60.0  # Okta's limits are per minute
PROBE_GAP_S = 0.05  # until the first headers arrive, one call at a time


@dataclass(frozen=True)
class RateHeaders:
    limit: int
    remaining: int
    reset: float  # server epoch seconds (fractional from the emulator's time scale)
    date: float | None  # server epoch seconds from the Date header

    @classmethod
    def parse(cls, headers: object) -> RateHeaders | None:
        get = getattr(headers, "get", None)
        if get is None:
            return None
        try:
            limit = int(get("x-rate-limit-limit"))
            remaining = int(get("x-rate-limit-remaining"))
            reset = float(get("x-rate-limit-reset"))
        except (TypeError, ValueError):
            return None
        date = None
        raw = get("date")
        if raw:
            try:
                date = parsedate_to_datetime(raw).timestamp()
            except (TypeError, ValueError):
                date = None
        return cls(limit, remaining, reset, date)


@dataclass
class ClockSkew:
    """server time - local time. The Date header is truncated to the second and stamped before the
    response travels, so each sample underestimates; the running maximum converges from below and
    decays slowly to follow drift."""

    offset: float | None = None
    decay_per_s: float = 0.001
    _last: float = 0.0

    def observe(self, server_date: float, local_now: float) -> None:
        sample = server_date - local_now
        if self.offset is None:
            self.offset = sample  # an underestimate: resets look later than they are (safe)
        else:
            decayed = self.offset - self.decay_per_s * max(local_now - self._last, 0.0)
            self.offset = max(decayed, sample)
        self._last = local_now

    def to_local(self, server_time: float) -> float:
        return server_time - (self.offset or 0.0)


@dataclass
class BucketPacer:
    share: float = 0.8
    reserve_share: float = 0.02
    limit: int | None = None
    reset_at: float | None = None  # local epoch of the next reset
    window_s: float | None = None
    sent_in_window: int = 0
    remaining_seen: int | None = None
    sent_at_seen: int = 0  # value of `sent_total` when the observed request was sent
    sent_total: int = 0
    in_flight: int = 0
    blocked_until: float = 0.0
    last_send: float = -math.inf
    skew: ClockSkew = field(default_factory=ClockSkew)
    server_reset: float | None = None  # the newest reset value the server sent
    rejected: int = 0
    # Calls per window granted to this instance when several share one budget (None: no cap).
    allowance: int | None = None

    @property
    def full_budget(self) -> int:
        """Calls per window at the configured share, before any allowance."""
        if self.limit is None:
            return 0
        return max(int(self.limit * self.share), 1)

    @property
    def budget(self) -> int:
        """Calls per window this client allows itself."""
        if self.allowance is None:
            return self.full_budget
        return min(self.full_budget, self.allowance)

    @property
    def reserve(self) -> int:
        if self.limit is None:
            return 0
        return max(math.ceil(self.budget * self.reserve_share), 1) if self.reserve_share > 0 else 0

    def _roll(self, now: float) -> None:
        if self.reset_at is not None and now >= self.reset_at:
            window = self.window_s or DEFAULT_WINDOW_S
            missed = math.floor((now - self.reset_at) / window) + 1
            self.reset_at += missed * window
            self.sent_in_window = 0
            self.remaining_seen = None

    def calls_left(self, now: float) -> int:
        self._roll(now)
        left = self.budget - self.sent_in_window
        if self.remaining_seen is not None:
            left = min(left, self.remaining_seen - (self.sent_total - self.sent_at_seen))
        return left

    def next_send_at(self, now: float, lane: Lane, demand: int | None = None) -> float:
        """The earliest time a call of `lane` may start (<= now means: go).

        `demand` is how many calls are waiting to be made (the queue's backlog): when they all fit
        in what this window still allows, there is nothing to spread, and they go at once (a
        hundred admins take seconds, not a minute); otherwise the calls left are spread evenly
        over the time to the reset.
        """
        if now < self.blocked_until:
            return self.blocked_until
        if self.limit is None or self.reset_at is None:
            return now if self.in_flight == 0 else now + PROBE_GAP_S
        left = self.calls_left(now)
        assert self.reset_at is not None
        if lane is Lane.INTERACTIVE:
            return now if left > 0 else self.reset_at
        left -= self.reserve
        if left <= 0:
            return self.reset_at
        if demand is not None and demand <= left:
            return now
        # `left` calls in the time to the reset, in the middle of their slots: the last one still
        # lands before the reset even when the answer to it is slow.
        interval = max(self.reset_at - now, 0.0) / (left + 1)
        return max(now, self.last_send + interval)

    def on_send(self, now: float) -> int:
        """Count a call as sent; returns its sequence number (to pair with its response)."""
        self._roll(now)
        self.sent_in_window += 1
        self.sent_total += 1
        self.in_flight += 1
        self.last_send = now
        return self.sent_total

    def on_response(self, now: float, seq: int, status: int, headers: RateHeaders | None) -> None:
        self.in_flight = max(self.in_flight - 1, 0)
        if headers is None:
            return
        if headers.date is not None:
            self.skew.observe(headers.date, now)
        if headers.limit == 0:
            # Over the org's concurrency cap (Okta reports Limit 0): back off briefly.
            self.rejected += 1
            self.blocked_until = max(self.blocked_until, now + 0.25)
            return
        self.limit = headers.limit
        if self.server_reset is None or headers.reset > self.server_reset + 1e-3:
            # A window we had not seen: learn its length from two consecutive resets (a minute, or
            # less under the emulator's time scale); calls sent from this one on count in it.
            if self.server_reset is not None:
                gap = headers.reset - self.server_reset
                self.window_s = gap if self.window_s is None else min(self.window_s, gap)
            self.server_reset = headers.reset
            self.sent_in_window = self.sent_total - seq + 1
            self.remaining_seen = headers.remaining
            self.sent_at_seen = seq
        elif headers.reset >= self.server_reset - 1e-3 and seq >= self.sent_at_seen:
            self.remaining_seen = headers.remaining
            self.sent_at_seen = seq
        local_reset = self.skew.to_local(self.server_reset)
        if self.reset_at is None or local_reset > now:
            self.reset_at = local_reset  # else that window is over; keep the rolled prediction
        if status == 429:
            self.rejected += 1
            self.remaining_seen = 0
            self.sent_at_seen = self.sent_total
            self.blocked_until = max(self.blocked_until, self.skew.to_local(headers.reset))
