"""Which endpoints share a rate-limit counter, learned from the IdP's own answers.

Okta charges each call to one counter and says which in every answer: `X-Rate-Limit-Limit`
(the counter's ceiling), `-Remaining` and `-Reset` (when its window ends). Which endpoints share a
counter is not stable (okta/FACTS.md §4: the 2020 org charged deactivate with DELETE /users/{id},
the 2025 org with create/list), so the documented table is only the first guess. An answer that
cannot come from the counter its endpoint is paced on moves the endpoint:

- a different ceiling, or more calls left in the same window than the paced counter can have:
  another counter (one whose window and calls left match, else a counter of its own, named after
  the endpoint);
- a later window that another known counter is in while the paced one's may just have turned,
  or the same window where another counter's calls left match the answer and the paced one's are
  far off: that other counter.

Anything else (a slow answer from an earlier window, the paced counter's next window) keeps the
endpoint where it is: a wrong split would pace one counter twice. A later window that no known
counter is in, while the paced counter's own is still open here, is not believed yet (its
headers would tell the paced counter of a window that is not its own); the next answers decide.

It moves to the counter whose window and calls left match, or to a counter of its own (named
after the endpoint). Why by hand: this is the governor's own bookkeeping (see pacer.py), over
headers no library interprets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

from idsync.engine.pacer import BucketPacer, RateHeaders

__all__ = ["CounterMap"]

log = logging.getLogger("idsync.governor")
Fit = Literal["same", "earlier", "later", "no"]


class CounterMap:
    def __init__(self) -> None:
        self._of: dict[str, str] = {}
        self._confirmed: set[str] = set()
        self.moves: list[tuple[str, str, str]] = []  # (endpoint, from, to), in the order learned

    def confirmed(self, endpoint: str) -> bool:
        """An answer of this endpoint was placed: until then it sends one call at a time, so a
        wrong guess charges at most one call to a counter it does not know of."""
        return endpoint in self._confirmed

    def remember(self, learned: Mapping[str, str]) -> None:
        """Start from what an earlier run learned (endpoint -> counter) instead of the documented
        guess; each endpoint is still confirmed by its first answer here."""
        for endpoint, counter in learned.items():
            self._of.setdefault(endpoint, counter)

    def placed(self) -> dict[str, str]:
        """Endpoint -> counter for the endpoints an answer confirmed (what is worth keeping)."""
        return {e: c for e, c in self._of.items() if e in self._confirmed}

    def counter_of(self, endpoint: str, guess: str) -> str:
        """The counter `endpoint` is paced on: what was learned, else the documented guess."""
        return self._of.setdefault(endpoint, guess)

    def members(self) -> dict[str, list[str]]:
        """Counter -> the endpoints paced on it, as learned so far."""
        out: dict[str, list[str]] = {}
        for endpoint, counter in sorted(self._of.items()):
            out.setdefault(counter, []).append(endpoint)
        return out

    def observe(
        self,
        endpoint: str,
        counter: str,
        headers: RateHeaders,
        pacers: Mapping[str, BucketPacer],
        now: float,
        seq: int | None = None,
    ) -> tuple[str, bool]:
        """The counter this answer was charged to (if not `counter`, `endpoint` moves there), and
        whether its headers may be believed for that counter. `seq` is the call's number on
        `counter`'s pacer: the calls sent after it may have reached the server after it."""
        verdict = self._place(endpoint, counter, headers, pacers, now, seq)
        if verdict[1]:
            self._confirmed.add(endpoint)
        return verdict

    def _place(
        self,
        endpoint: str,
        counter: str,
        headers: RateHeaders,
        pacers: Mapping[str, BucketPacer],
        now: float,
        seq: int | None,
    ) -> tuple[str, bool]:
        mine = pacers.get(counter)
        if headers.limit <= 0:
            return counter, False  # a concurrency refusal names no counter
        if mine is None or mine.limit is None or mine.server_reset is None:
            return counter, True  # the counter's first answer
        late = max(mine.sent_total - seq, 0) if seq else 0
        fit = _fit(mine, headers, late)
        others = {n: p for n, p in pacers.items() if n != counter and _fit(p, headers) == "same"}
        if fit in ("earlier", "later"):
            if not others:
                if fit == "earlier":
                    return counter, True  # a slow answer from this counter's previous window
                # This counter's next window, for an endpoint known to be on it; for one not
                # placed yet, only once the window the counter's answers last named is over here
                # (else it is not believed: another counter's window must not become this one's).
                if endpoint in self._confirmed:
                    return counter, True
                tol = max(mine.reset_resolution_s, 0.011)
                return counter, now >= mine.skew.to_local(mine.server_reset) - tol
            # Another counter is in exactly this window, with this ceiling and room: that one.
            target = min(others, key=lambda n: abs(_expected(others[n]) - headers.remaining))
        elif fit == "same":
            off = headers.remaining - _expected(mine)
            close = {n: p for n, p in others.items() if abs(_expected(p) - headers.remaining) <= _slack(p)}
            if -2 * _slack(mine) - 2 <= off <= 2 * _slack(mine) + 2 + late or not close:
                return counter, True
            target = min(close, key=lambda n: abs(_expected(close[n]) - headers.remaining))
        else:
            fitting = {n: p for n, p in others.items() if headers.remaining <= _expected(p) + _slack(p)}
            target = (
                min(fitting, key=lambda n: abs(_expected(fitting[n]) - headers.remaining))
                if fitting
                else endpoint  # a counter of its own
            )
        self._of[endpoint] = target
        self.moves.append((endpoint, counter, target))
        log.info(
            "rate limits: %s is charged to counter %s, not %s (learned from the answer's "
            "X-Rate-Limit headers: limit %d, remaining %d)",
            endpoint,
            target,
            counter,
            headers.limit,
            headers.remaining,
        )
        return target, True


def _fit(p: BucketPacer, h: RateHeaders, late: int = 0) -> Fit:
    """How an answer relates to counter `p`'s current window. `late`: calls sent after this one,
    which the server may have counted after it (a slow answer reports more calls left than the
    newest answers do, by up to that many)."""
    if p.limit is None or p.server_reset is None or h.limit != p.limit:
        return "no"
    tol = max(p.reset_resolution_s, 0.011)
    if abs(h.reset - p.server_reset) <= tol:
        if h.remaining > _expected(p) + _slack(p) + late:
            return "no"  # more calls left than this counter can have
        return "same"
    if h.reset < p.server_reset:
        return "earlier"  # a slow answer from this counter's previous window
    return "later"  # this counter's next window, or another counter's


def _expected(p: BucketPacer) -> int:
    """The calls left this counter reports now, as far as its pacer knows."""
    if p.remaining_seen is None:
        return p.limit or 0
    return p.remaining_seen - (p.sent_total - p.sent_at_seen)


def _slack(p: BucketPacer) -> int:
    """Answers overtake each other by up to the calls in flight."""
    return p.peak_in_flight + 1
