"""A rate-limit bucket modelled on Okta's rules (FACTS §4) and the emulator's, for the pacer and
governor tests: they move time themselves, so the bucket takes the time as an argument."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

T0 = 1_700_000_000.0


@dataclass
class Okta:
    """One bucket as Okta runs it: a window opens at the first call after the previous one ended;
    our token may make `token_limit` calls of the org's `org_limit`, where other applications'
    calls count too (`others_at_start` when a window opens, then `others_per_s`). Reset is sent in
    whole seconds rounded up, Date truncated to the second, from a clock `skew` seconds ahead."""

    token_limit: int
    org_limit: int | None = None
    window: float = 60.0
    others_at_start: int = 0
    others_per_s: float = 0.0
    skew: float = 0.0
    start: float | None = None  # server time the current window opened
    ours: int = 0
    rejected: int = 0
    per_window: list[int] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)  # (start, end), server time

    def arrive(self, local: float) -> tuple[int, int, float]:
        """Count one of our calls arriving now: (status, Remaining, Reset)."""
        now = local + self.skew
        if self.start is None or now >= self.start + self.window:
            self.start, self.ours = now, 0
            self.per_window.append(0)
            self.windows.append((now, now + self.window))
        others = self.others_at_start + math.floor(self.others_per_s * (now - self.start))
        rest = min(self.token_limit - self.ours, (self.org_limit or self.token_limit) - self.ours - others)
        reset = float(math.ceil(self.start + self.window))
        if rest <= 0:
            self.rejected += 1
            return 429, 0, reset
        self.ours += 1
        self.per_window[-1] += 1
        return 200, rest - 1, reset

    def date(self, local: float) -> float:
        return float(math.floor(local + self.skew))
