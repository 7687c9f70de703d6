"""Inbound safety: an inbound run that would deactivate application users or strip their roles
from more than a share (or a count) of the integration's users is held for approval.

The outbound threshold's model (domain/safety.py), turned around: Okta is the master, so a
mistake there (a group deleted, a rule that deprovisions a department, a wrong filter on a
directory import) reaches the application within seconds. Okta's own import safeguard stops an
import that would change more than 20% of an app's users; idsync does the same on its side.

- A *harmful* change is one that makes an existing application user inactive, or removes a
  managed role from one. Creates, links, profile updates and role additions are never harmful.
- A *run* is one initial or delta sync (`sync-<log entry>`), or the events of one window of
  `safety_window_s` (`events-<UTC start>`: a burst of hooks).
- Its *allowance* is the smaller of `max_deprovision_share` times the integration's linked users
  (counted when the run's first harmful change comes) and `max_deprovision_count` (if set), but
  at least `deprovision_floor`.
- Harmful changes of a run are applied until one more would exceed the allowance. Then the run
  *trips*: that change and every later harmful change of the run are *held* (the user is not
  touched; the rest of the run goes on). An admin *releases* the run (its held users are brought
  in line with Okta as it is then, and the run lets everything through from then on) or an
  operator *discards* what it holds (those users stay as they are; the run stays tripped).

Pure: the bookkeeping runs in the store (adapters/store/features/inbound_safety.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from idsync.domain.inbound import AppUser, MappingRules, Plan

__all__ = ["InboundSafetyRules", "events_run", "harm_of", "sync_run"]


@dataclass(frozen=True)
class InboundSafetyRules:
    share: float = 0.2
    count: int | None = None
    floor: int = 10
    window_s: float = 3600.0

    def allowance(self, users: int) -> int:
        allowed = math.floor(self.share * users)
        if self.count is not None:
            allowed = min(allowed, self.count)
        return max(allowed, self.floor)


def harm_of(decision: Plan, app: AppUser | None, rules: MappingRules) -> str | None:
    """What a plan would take from an existing application user: `deactivate`, `strip_roles`,
    both (`deactivate+strip_roles`), or None (nothing harmful)."""
    if app is None or decision.action not in ("update", "unchanged"):
        return None
    parts = []
    active = rules.active_field
    if active and decision.fields.get(active) is False and app.fields.get(active) is not False:
        parts.append("deactivate")
    if decision.roles_remove:
        parts.append("strip_roles")
    return "+".join(parts) or None


def sync_run(entry_id: int) -> str:
    return f"sync-{entry_id}"


def events_run(now: float, window_s: float) -> str:
    start = math.floor(now / window_s) * window_s
    return "events-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start))
