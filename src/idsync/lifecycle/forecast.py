"""What an import would do, user by user, decided by the same planner the worker uses. Pure.

`idsync plan` feeds every line of a file through `to_change` and `planner.plan` against the
stored links; this module counts the outcomes and the API calls each plan costs, and plays the
plan forward on the link (`domain/decision.link_after`), so a user who appears twice in one file is
decided the second time exactly as the worker would decide it after the first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from idsync.domain.models import Reason, Status
from idsync.domain.planner import ActivateUser, CreateUser, DeactivateUser, DeleteUser, Plan, UpdateProfile

__all__ = ["Tally", "calls_of"]


def calls_of(plan: Plan) -> Counter[str]:
    """API calls by kind that carrying out `plan` costs when nothing fails."""
    calls: Counter[str] = Counter()
    for action in plan.actions:
        if isinstance(action, CreateUser):
            calls["lookup"] += 1 if action.lookup_first else 0
            calls["create"] += 1  # create and activate are one call when the mode activates ...
            calls["activate"] += 1 if action.activate_silently else 0  # ... unless it must be silent
        elif isinstance(action, UpdateProfile):
            calls["update"] += 1
        elif isinstance(action, ActivateUser):
            calls["get"] += 1 if action.check_status_first else 0
            calls["activate"] += 1
        elif isinstance(action, DeactivateUser):
            calls["deactivate"] += 1
        elif isinstance(action, DeleteUser):
            calls["delete"] += 1 if action.deprovisioned else 2  # Okta: deactivate, then delete
    return +calls


@dataclass
class Tally:
    """Counts of one planned import: outcomes, reasons (with one example each) and API calls."""

    records: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # by result status
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (status, code)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)  # by kind of call
    created_active: int = 0  # creates that also activate (mode sync_and_activate)

    def add_rejected(self, reason: Reason) -> None:
        """A line the import would store as failed at once (invalid, another tenant...)."""
        self.records += 1
        self._outcome(Status.FAILED, reason)

    def add_plan(self, plan: Plan, changes: int = 1) -> None:
        """One plan carried out for `changes` queued changes of a user (coalesced upserts share
        one plan, its calls and its status)."""
        self.records += changes
        self._outcome(plan.status, plan.reason, changes)
        self.calls.update(calls_of(plan))
        self.created_active += sum(1 for a in plan.actions if isinstance(a, CreateUser) and a.activate)

    def remove_plan(self, plan: Plan, changes: int) -> None:
        """Take back a plan that a later upsert of the same user replaces (they coalesce)."""
        self.records -= changes
        self._outcome(plan.status, plan.reason, -changes)
        self.calls.subtract(calls_of(plan))
        self.calls = +self.calls
        self.created_active -= sum(1 for a in plan.actions if isinstance(a, CreateUser) and a.activate)

    def _outcome(self, status: Status, reason: Reason | None, n: int = 1) -> None:
        self.outcomes[status.value] += n
        self.outcomes = +self.outcomes
        if reason is not None and status in (Status.FAILED, Status.SKIPPED):
            key = (status.value, reason.code)
            self.reasons[key] += n
            self.reasons = +self.reasons
            self.examples.setdefault(key, reason.message)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())
