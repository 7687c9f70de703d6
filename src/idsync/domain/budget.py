"""Splitting one IdP rate budget over several instances. Pure: the decision is a value.

The budget of a rate-limit bucket (calls per window at the configured share) is handed out as
*allowances*: each instance may make at most its allowance of calls in any window. The store
keeps every live instance's allowance, and an instance changes its own only while it holds the
bucket's pool row locked, so the sum never exceeds the budget:

- growing: an instance takes only what is free (budget minus every allowance) and records it
  before its governor may use it;
- shrinking: it lowers its governor's cap first (never below the calls it already made in the
  current window) and records the lower allowance at its next sync, which frees the difference.

Since each governor never sends more than its cap per window and every cap is at most the
recorded allowance, the instances together stay within the budget. Targets only decide who
should have what: instances with work split the budget evenly, idle ones keep a small
allowance so an interactive change never waits for a sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OtherShare:
    """A live instance's recorded allowance of one bucket, and whether it has work for it."""

    instance: str
    allowance: int
    demand: bool


@dataclass(frozen=True)
class Split:
    recorded: int  # this instance's allowance to write to the store now
    cap: int  # its governor's cap from now on (at most `recorded`)


def idle_allowance(budget: int) -> int:
    """What an instance without work keeps: 2% of the budget, at least one call."""
    return max(1, budget // 50)


def target(budget: int, others: Sequence[OtherShare], demand: bool) -> int:
    """The allowance this instance should have: an even part among the instances with work."""
    idle = idle_allowance(budget)
    if not demand:
        return idle
    busy = sum(1 for o in others if o.demand) + 1
    kept_by_idle = idle * sum(1 for o in others if not o.demand)
    return max((budget - kept_by_idle) // busy, idle)


def split(budget: int, mine: int, others: Sequence[OtherShare], demand: bool) -> Split:
    """The next allowance of this instance, given its current one (`mine`, already recorded or
    about to be) and the others' recorded allowances. Grows only into free calls."""
    want = target(budget, others, demand)
    if want > mine:
        free = budget - mine - sum(o.allowance for o in others)
        grown = mine + max(min(want - mine, free), 0)
        return Split(recorded=grown, cap=grown)
    return Split(recorded=mine, cap=want)
