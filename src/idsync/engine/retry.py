"""Retry decisions and the circuit breaker, as pure functions of their inputs and `now`."""

from __future__ import annotations

import random
from dataclasses import dataclass


def backoff_delay(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped at `max_s`."""
    ceiling = min(max_s, base_s * (2.0**attempt))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass
class CircuitBreaker:
    """Opens after `threshold` failures in a row; after `cooldown_s` one probe call may pass
    (half-open); its success closes the circuit, its failure opens it again."""

    threshold: int
    cooldown_s: float
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    times_opened: int = 0

    def allow(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        if now - self.opened_at >= self.cooldown_s and not self.probing:
            self.probing = True
            return True
        return False

    def retry_at(self) -> float:
        return (self.opened_at or 0.0) + self.cooldown_s

    def on_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def on_failure(self, now: float) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            if self.opened_at is None or self.probing:
                self.times_opened += 1
            self.opened_at = now
            self.probing = False

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None
