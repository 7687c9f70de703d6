"""What user lists see with `search_lag_s`: every user as it was that long ago.

Why: Okta serves `search`, `filter` and `q` from "an eventually consistent datasource; the
synchronization lag is typically less than one second" (L-USERS), while `GET /users/{id}` reads
the user itself. A client that looks a user up by search right after creating, renaming,
deactivating or deleting it must cope with the old answer. Every write of a user is kept as a
version (a copy of the record, or None once deleted) until it is older than the lag; a list
shows, for each user, its newest version older than the lag.

Users that were never written while the lag was on (loaded from a state file) are shown as they
are; for them, the first write after loading is seen at once (no older version is known). Each
user written keeps one old version (memory: one copy per user), deleted ones none.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable

from idsync.emulator.okta.models import UserRecord

__all__ = ["ListLag"]


@dataclasses.dataclass
class _History:
    created: bool
    """The first version is the user's creation (before it, lists do not show the user)."""
    versions: list[tuple[float, UserRecord | None]]
    seq: int


class ListLag:
    def __init__(self, now: Callable[[], float], lag_s: float) -> None:
        self.now = now
        self.lag_s = lag_s
        self._users: dict[str, _History] = {}
        self._by_seq: dict[int, str] = {}
        """Deleted users that lists still show, by their slot in creation order."""
        self._writes: deque[tuple[float, str]] = deque()

    def record(self, user: UserRecord, *, created: bool = False, removed: bool = False) -> None:
        now = self.now()
        version = None if removed else dataclasses.replace(user, profile=dict(user.profile))
        history = self._users.get(user.id)
        if history is None:
            history = self._users[user.id] = _History(created, [], user.seq)
        history.versions.append((now, version))
        if removed:
            self._by_seq[user.seq] = user.id
        self._writes.append((now, user.id))

    def id_at(self, seq: int) -> str | None:
        """A deleted user that lists still show at this slot."""
        return self._by_seq.get(seq)

    def touched(self) -> set[str]:
        """Users with versions kept."""
        return set(self._users)

    def view(self, user_id: str, current: UserRecord | None) -> UserRecord | None:
        """The user as lists see it now (None: not listed)."""
        history = self._users.get(user_id)
        if history is None:
            return current
        horizon = self.now() - self.lag_s
        seen: list[UserRecord | None] = [v for t, v in history.versions if t <= horizon]
        if seen:
            return seen[-1]
        return None if history.created else history.versions[0][1]

    def prune(self) -> None:
        """Forget versions no list can show any more. The newest old one stays: it is what lists
        show until the next write is older than the lag (the record itself changes in place)."""
        horizon = self.now() - self.lag_s
        while self._writes and self._writes[0][0] <= horizon:
            _, user_id = self._writes.popleft()
            history = self._users.get(user_id)
            if history is None:
                continue
            old = [i for i, (t, _) in enumerate(history.versions) if t <= horizon]
            if old:
                history.versions = history.versions[old[-1] :]
                history.created = False
            if history.versions == [(history.versions[0][0], None)] and history.versions[0][0] <= horizon:
                del self._users[user_id]  # deleted long enough ago: no list shows it any more
                self._by_seq.pop(history.seq, None)

    def clear(self) -> None:
        self._users.clear()
        self._by_seq.clear()
        self._writes.clear()
