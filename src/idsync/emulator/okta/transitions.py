"""Asynchronous lifecycle (`lifecycle_delay_s`): transitions under way, and when they land.

Why: at Okta, activation and deactivation are asynchronous ("the user's `transitioningToStatus`
property is `DEPROVISIONED` during deactivation to indicate that the user hasn't completed the
asynchronous operation", L-USERS; SPEC `User.transitioningToStatus`), and `Prefer: respond-async`
makes a DELETE answer before it is done. A client must survive reading a user mid-way. A
transition is kept on the user record (so a state file keeps it) and in a heap of due times;
`settle` lands the due ones. It runs at every API and admin request and from a timer, so the
result is the same with a `ManualClock` (time moves only when the test says so).
"""

from __future__ import annotations

import heapq

from idsync.emulator.okta.events import user_target
from idsync.emulator.okta.models import UserRecord
from idsync.emulator.okta.org import Org, RequestInfo
from idsync.emulator.okta.users import apply_transition

__all__ = ["Transitions"]


class Transitions:
    def __init__(self, org: Org) -> None:
        self.org = org
        self._due: list[tuple[float, str]] = []
        self._info: dict[str, RequestInfo] = {}

    def rebuild(self) -> None:
        """After loading a state file: the transitions that were under way."""
        self._due = [(u.pending_until or 0.0, u.id) for u in self.org.state.users.values() if u.pending_op]
        heapq.heapify(self._due)

    def begin(self, user: UserRecord, op: str, info: RequestInfo, delay_s: float) -> None:
        user.pending_op, user.pending_until = op, self.org.now() + delay_s
        self.org.state.save_user(user)
        self._info[user.id] = info
        heapq.heappush(self._due, (user.pending_until, user.id))

    def due(self) -> bool:
        return bool(self._due) and self._due[0][0] <= self.org.now()

    def next_due(self) -> float | None:
        """When the earliest transition under way is due (org clock), None when none is."""
        return self._due[0][0] if self._due else None

    def settle(self) -> int:
        """Land every transition that is due; how many landed."""
        now, landed = self.org.now(), 0
        while self._due and self._due[0][0] <= now:
            _, user_id = heapq.heappop(self._due)
            user = self.org.state.users.get(user_id)
            if user is not None and user.pending_op and (user.pending_until or 0.0) <= now:
                self.finish(user)
                landed += 1
        return landed

    def finish(self, user: UserRecord) -> None:
        """Land `user`'s transition now (a no-op when none is under way)."""
        op, info = user.pending_op, self._info.pop(user.id, RequestInfo(self.org.settings.org_url or ""))
        if op is None:
            return
        user.pending_op = user.pending_until = None
        if op == "delete":
            if user.status == "DEPROVISIONED":
                self.org.state.remove_user(user)
                self.org.emit("user.lifecycle.delete.initiated", info, user_target(user))
            else:
                self.org.state.save_user(user)
            return
        if op == "deactivate" and user.status == "DEPROVISIONED":
            self.org.state.save_user(user)
            return
        apply_transition(self.org, user, op, info)

    def reset(self) -> None:
        self._due.clear()
        self._info.clear()
