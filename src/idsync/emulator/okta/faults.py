"""Faults on demand, drawn from a seeded random generator so a seed replays the same faults.

Why decisions are values: the pipeline asks `decide()` once per /api/v1 request and gets a
`FaultDecision` (error, drop, timeout, latency, with or without the write), so a test can check
the dice without a server and the server carries the decision out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from idsync.emulator.okta.settings import FaultSettings

__all__ = ["FaultDecision", "FaultInjector"]

Kind = Literal["none", "error", "drop", "timeout"]


@dataclass(frozen=True)
class FaultDecision:
    kind: Kind = "none"
    status: int = 0
    """For `error`: the HTTP status to answer."""
    delay_s: float = 0.0
    """For `timeout`: how long the answer is held back."""
    apply_write: bool = True
    """For `drop` and `timeout`: whether the request is carried out before the failure."""
    latency_s: float = 0.0


NO_FAULT = FaultDecision()


class FaultInjector:
    def __init__(self, settings: FaultSettings, seed: int | None, epoch: float) -> None:
        self.settings = settings
        self.seed = seed
        self.epoch = epoch
        """Storms are counted from here (the start, or the last change of the storm settings)."""
        self._rng = random.Random(seed)
        self.injected = {"error": 0, "drop": 0, "timeout": 0, "storm_429": 0}

    def update(self, settings: FaultSettings, now: float, seed: int | None = None) -> None:
        if (settings.storm_every_s, settings.storm_duration_s) != (
            self.settings.storm_every_s,
            self.settings.storm_duration_s,
        ):
            self.epoch = now
        self.settings = settings
        if seed is not None:
            self.seed = seed
            self._rng = random.Random(seed)

    def storm_until(self, now: float) -> float | None:
        """End of the 429 storm in progress at `now`, or None when there is none."""
        every, duration = self.settings.storm_every_s, self.settings.storm_duration_s
        if every <= 0 or duration <= 0:
            return None
        phase = (now - self.epoch) % every
        return now - phase + duration if phase < duration else None

    def decide(self) -> FaultDecision:
        s = self.settings
        if not (s.error_rate or s.drop_rate or s.timeout_rate or s.latency_ms or s.latency_jitter_ms):
            return NO_FAULT
        rng = self._rng
        latency = (
            max(0.0, rng.gauss(s.latency_ms, s.latency_jitter_ms)) / 1000
            if s.latency_ms or s.latency_jitter_ms
            else 0.0
        )
        roll, second = rng.random(), rng.random()
        if roll < s.error_rate:
            self.injected["error"] += 1
            status = s.error_statuses[int(second * len(s.error_statuses)) % len(s.error_statuses)]
            return FaultDecision("error", status=status, latency_s=latency)
        roll -= s.error_rate
        if roll < s.drop_rate:
            self.injected["drop"] += 1
            return FaultDecision("drop", apply_write=second < s.drop_applies_write, latency_s=latency)
        roll -= s.drop_rate
        if roll < s.timeout_rate:
            self.injected["timeout"] += 1
            return FaultDecision(
                "timeout",
                delay_s=s.timeout_delay_s,
                apply_write=second < s.timeout_applies_write,
                latency_s=latency,
            )
        return FaultDecision(latency_s=latency)

    def reset(self) -> None:
        self.injected = dict.fromkeys(self.injected, 0)
