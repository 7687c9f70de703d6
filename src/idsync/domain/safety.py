"""The safety threshold: a run that would deactivate or delete too many of a tenant's users is held.

Modelled on the anchors (docs/reliability.md, "Safety threshold"): Entra's accidental-deletions
threshold (a cycle over the threshold is quarantined until an admin allows the deletes), Okta's
import safeguard (20% of an app's users by default; the import pauses, an admin resumes or
cancels it), midPoint's task thresholds (stop at the Nth deletion) and user-sync's
`max_adobe_only_users` ("prevents runaway deletion").

- A *deprovisioning change* is one the worker would send to the IdP as a deactivation or a
  deletion: op `deactivate`, or op `delete` when the tenant's delete policy acts on it.
  Changes decided at once (the user is not linked, already deactivated, policy `ignore`) send
  nothing and do not count.
- A *run* is an import (every way in: file, HTTP upload, Kafka with an `import_id`). Changes
  outside imports form one run per tenant and window of `safety_window_s`.
- Its *allowance* is `max_deprovision_share` of the tenant's linked users (accounts that exist
  and are not deactivated), counted when the run's first deprovisioning change arrives, but at
  least `deprovision_floor` (a small tenant can still remove a few users).
- Deprovisioning changes of a run enter the queue until one more would exceed the allowance.
  Then the run *trips*: that change, every later one of the run, and the run's deprovisioning
  changes still waiting in the queue are *held* (stored, never sent), as are all changes of a
  user that has a held change (so one user's changes keep their order). So no run sends more
  deprovisions than its allowance unless someone says so: `--force` (CLI import),
  `force=true` (HTTP import), or a release (`idsync safety release`, `POST /safety/runs/{id}/release`).
  `idsync safety discard` ends the held deprovisions as `skipped` (reason `safety_threshold`).

This module holds the rules (pure); the bookkeeping runs inside the store's receive transaction
(`idsync.adapters.store.features.safety`); a tenant's rules come from its settings
(`Settings.safety_rules`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["DEPROVISIONING_OPS", "SafetyRules", "run_id", "window_start"]

DEPROVISIONING_OPS = ("deactivate", "delete")


@dataclass(frozen=True)
class SafetyRules:
    """A tenant's threshold, from its settings."""

    share: float
    floor: int
    window_s: float
    delete_acts: bool  # the delete policy turns `delete` into a deactivation or a deletion

    def allowance(self, linked_users: int) -> int:
        return max(math.floor(self.share * linked_users), self.floor)

    def deprovisions(self, op: str) -> bool:
        return op == "deactivate" or (op == "delete" and self.delete_acts)


def window_start(now: float, window_s: float) -> float:
    return math.floor(now / window_s) * window_s


def run_id(tenant: str, import_id: str | None, now: float, window_s: float) -> str:
    """`tenant/import` for an import; `tenant/~single-<UTC start>` for changes outside imports
    (`~` cannot start an import id, so the two never collide)."""
    if import_id:
        return f"{tenant}/{import_id}"
    start = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(window_start(now, window_s)))
    return f"{tenant}/~single-{start}"
