"""Pacing one rate-limit bucket from the IdP's own headers. Pure: time is an argument.

Why by hand: client-side limiters (aiolimiter, limits, pyrate-limiter) enforce a rate you give
them; here the budget must be *learned* from `X-Rate-Limit-Limit/-Remaining/-Reset` (plus the
`Date` header for clock skew), shared with other applications of the org, kept to a configured
share of a window whose reset time the server dictates, and must leave headroom for interactive
work. No library does that.

Model: per window the budget is floor(limit x share) calls. The calls left are the budget minus
our calls this window, never more than the server's Remaining minus the calls sent since that
header was observed, minus what other applications are expected to have used since (their rate is
how much faster Remaining fell than our own calls account for). They go at once: a
window's budget is a count, not a rate, and spreading it only makes a job wait for windows it did
not need (a script with a few workers beats a spreading client). Interactive calls go while any
call is left. Bulk calls leave `reserve` calls for them, except:
- when all the bulk work waiting fits in what the window still allows (a small job, or the tail
  of a large one): holding back its last calls would cost a whole window;
- just before the reset, when the reserve no interactive call used would otherwise be lost: it
  is lent to bulk, early enough (two round trips plus the reset's resolution) to land in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache

from idsync.domain.models import Lane

DEFAULT_WINDOW_S = 60.0  # Okta's limits are per minute
PROBE_GAP_S = 0.05  # until the first headers arrive, one call at a time
RTT_WEIGHT = 0.2  # weight of a new round-trip sample in the moving average
LEND_MARGIN_WINDOWS = 0.01  # lending the reserve also keeps this part of a window before the reset


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
        raw = get("date")
        return cls(limit, remaining, reset, _http_date(raw) if raw else None)


@lru_cache(maxsize=16)
def _http_date(raw: str) -> float | None:
    """A Date header as epoch seconds; cached, since every answer of the same second carries the
    same text and parsing it costs more than the rest of the headers together."""
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None


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
    skew: ClockSkew = field(default_factory=ClockSkew)
    server_reset: float | None = None  # the newest reset value the server sent
    # The current local window is the one `server_reset` ends (False from a local roll until an
    # answer of the new window arrives): answers of an earlier window say nothing about this one.
    window_known: bool = False
    reset_resolution_s: float = 0.0  # 1 s when the server sends whole seconds (Okta does)
    # A reset with a fraction was seen: the server sends hundredths (the emulator's time scale).
    # One that falls on a whole second then does not make the resolution a second again.
    fractional_resets: bool = False
    first_answer_at: float | None = None  # local time of the first answer with rate-limit headers
    rtt_s: float | None = None  # moving average of the round trip of answered calls
    # Other applications' use of the bucket: the window's first observation (send time,
    # Remaining, seq), the send time of the newest one, their calls per second since, and the
    # most calls we had in flight this window (answers may overtake each other by that many).
    first_seen: tuple[float, int, int, int] | None = None  # (+ our calls in flight when it was sent)
    seen_sent_at: float = 0.0
    others_per_s: float = 0.0
    peak_in_flight: int = 0
    carried: set[int] = field(default_factory=set)  # calls in flight at the last local roll
    rejected: int = 0
    # Calls per window granted to this instance when several share one budget (None: no cap).
    allowance: int | None = None
    _sent_at: dict[int, float] = field(default_factory=dict, repr=False)
    _flying_at_send: dict[int, int] = field(default_factory=dict, repr=False)

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
            # Calls still unanswered may land in the new window: count them there until their
            # answers say where they landed (a few calls too careful, never a 429).
            self.carried = set(self._sent_at)
            self.sent_in_window = len(self.carried)
            self.remaining_seen = None
            self.window_known = False
            self.first_seen = None
            self.others_per_s = 0.0
            self.peak_in_flight = self.in_flight

    def calls_left(self, now: float) -> int:
        self._roll(now)
        left = self.budget - self.sent_in_window
        if self.remaining_seen is not None:
            others = math.floor(self.others_per_s * max(now - self.seen_sent_at, 0.0))
            left = min(left, self.remaining_seen - (self.sent_total - self.sent_at_seen) - others)
        return left

    def lend_at(self) -> float:
        """When the reserve no interactive call used is lent to bulk: before the (local) reset by
        two round trips, the resolution of the server's reset and a hundredth of the window (the
        skew learned from whole-second `Date` headers is approximate), so the calls land in time."""
        assert self.reset_at is not None
        margin = (
            2 * (self.rtt_s or 0.0) + self.reset_resolution_s + LEND_MARGIN_WINDOWS * self._window_guess()
        )
        return self.reset_at - margin

    def _window_guess(self) -> float:
        """The window's length; before two resets have taught it, no longer than from the first
        answer to the reset (a scaled emulator's window lasts seconds: a hundredth of a minute
        would lend the reserve for a third of it, and interactive calls would wait the rest)."""
        if self.window_s is not None:
            return self.window_s
        if self.first_answer_at is not None and self.reset_at is not None:
            return min(DEFAULT_WINDOW_S, max(self.reset_at - self.first_answer_at, 0.0))
        return DEFAULT_WINDOW_S

    def next_send_at(self, now: float, lane: Lane, demand: int | None = None) -> float:
        """The earliest time a call of `lane` may start (<= now means: go).

        `demand` is how much bulk work waits for calls (the queue's backlog); when it all fits in
        what the window still allows, it may use the interactive reserve (see the module docs).
        """
        if now < self.blocked_until:
            return self.blocked_until
        if self.limit is None or self.reset_at is None:
            return now if self.in_flight == 0 else now + PROBE_GAP_S
        left = self.calls_left(now)
        assert self.reset_at is not None
        if left <= 0:
            return self.reset_at
        if lane is Lane.INTERACTIVE or left > self.reserve:
            return now
        if demand is not None and demand <= left:
            return now
        return max(now, self.lend_at())

    def on_send(self, now: float) -> int:
        """Count a call as sent; returns its sequence number (to pair with its response)."""
        self._roll(now)
        self.sent_in_window += 1
        self.sent_total += 1
        self._flying_at_send[self.sent_total] = self.in_flight
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self._sent_at[self.sent_total] = now
        return self.sent_total

    def forget(self, seq: int) -> None:
        """A granted call that was not sent after all (its caller gave up or gave it back)."""
        self._flying_at_send.pop(seq, None)
        if self._sent_at.pop(seq, None) is not None:
            self.in_flight = max(self.in_flight - 1, 0)

    def unsend(self, seq: int) -> None:
        """A call counted as sent here that was charged elsewhere: a probe's hold on a counter it
        may have landed on (governor.py). Its place in the window and in the calls since the last
        answer is given back."""
        self._flying_at_send.pop(seq, None)
        if self._sent_at.pop(seq, None) is None:
            return
        self.in_flight = max(self.in_flight - 1, 0)
        self.carried.discard(seq)
        self.sent_in_window = max(self.sent_in_window - 1, 0)
        if seq > self.sent_at_seen:
            self.sent_at_seen += 1  # the calls sent since the last answer seen: one fewer

    def _learn_others(self, seq: int, remaining: int) -> None:
        """Remaining fell by more than our own calls since the window's first answer: the rest
        are other applications' calls. Ours counted between the two answers are `seq - s0`, plus
        at most the calls in flight when `s0` was sent (they may have landed after it) and the
        calls sent after `seq` before its answer (they may have landed before it): a lower bound
        on the others that a burst of calls in flight does not blur for the rest of the window."""
        if self.first_seen is None:
            return
        t0, r0, s0, flying = self.first_seen
        others = (r0 - remaining) - (seq - s0) - flying - max(self.sent_total - seq, 0)
        elapsed = self.seen_sent_at - t0
        self.others_per_s = others / elapsed if others > 0 and elapsed > 0 else 0.0

    def observe(self, now: float, status: int, headers: RateHeaders) -> None:
        """An answer to a call paced on another counter that was charged to this one (the
        governor learned it, engine/counters.py): its headers speak for this counter's window."""
        self.on_response(now, self.sent_total, status, headers)

    def on_response(self, now: float, seq: int, status: int, headers: RateHeaders | None) -> None:
        sent_at = self._sent_at.pop(seq, None)
        flying = self._flying_at_send.pop(seq, self.peak_in_flight)
        if sent_at is not None:
            self.in_flight = max(self.in_flight - 1, 0)
            if status != 0:
                sample = max(now - sent_at, 0.0)
                self.rtt_s = sample if self.rtt_s is None else self.rtt_s + RTT_WEIGHT * (sample - self.rtt_s)
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
        if self.first_answer_at is None:
            self.first_answer_at = now
        self.fractional_resets = self.fractional_resets or headers.reset != math.floor(headers.reset)
        self.reset_resolution_s = 0.01 if self.fractional_resets else 1.0
        if self.server_reset is None or headers.reset > self.server_reset + 1e-3:
            # A window we had not seen: learn its length from two consecutive resets (a minute, or
            # less under the emulator's time scale); calls sent from this one on count in it.
            if self.server_reset is not None:
                gap = headers.reset - self.server_reset
                self.window_s = gap if self.window_s is None else min(self.window_s, gap)
            self.server_reset = headers.reset
            since = self.sent_total - seq + 1
            if self.window_known:
                # The server turned before our reset: count from this call, and the calls sent
                # before it still unanswered (answers overtake each other: they may have landed
                # after the reset too; an answer from the old window gives its place back).
                self.carried = {s for s in self._sent_at if s < seq}
                self.sent_in_window = since + len(self.carried)
            else:  # after a local roll the count holds every call since (answers come in any order)
                self.sent_in_window = max(self.sent_in_window, since)
            self.remaining_seen = headers.remaining
            self.sent_at_seen = seq
            self.window_known = True
            self.seen_sent_at = now if sent_at is None else sent_at
            self.first_seen = (self.seen_sent_at, headers.remaining, seq, flying)
            self.others_per_s = 0.0
        elif not (self.window_known and headers.reset >= self.server_reset - 1e-3):
            # An answer from a window that is over here (it was slow, or sent just before the
            # reset): its Remaining says nothing about the current window, where it did not count.
            if seq in self.carried:
                self.carried.discard(seq)
                self.sent_in_window = max(self.sent_in_window - 1, 0)
            if status == 429:
                self.rejected += 1
            return
        elif seq >= self.sent_at_seen:
            self.remaining_seen = headers.remaining
            self.sent_at_seen = seq
            self.seen_sent_at = now if sent_at is None else sent_at
            self._learn_others(seq, headers.remaining)
        local_reset = self.skew.to_local(self.server_reset)
        if self.reset_at is None or local_reset > now:
            self.reset_at = local_reset  # else that window is over; keep the rolled prediction
        if status == 429:
            self.rejected += 1
            self.remaining_seen = 0
            self.sent_at_seen = self.sent_total
            self.blocked_until = max(self.blocked_until, self.skew.to_local(headers.reset))
