"""The org in memory: records, the indexes that keep lookups O(1), and their journal.

Why hand-made indexes: with 100,000+ users a lookup by login or id must not scan; lists page
through `order` (creation order, one slot per user ever created) from a cursor, so paging
through everything is linear overall. Every mutation goes through a method here, which keeps
the indexes and the journal in step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from idsync.emulator.okta.journal import Journal
from idsync.emulator.okta.lag import ListLag
from idsync.emulator.okta.models import (
    AppGroupRecord,
    AppRecord,
    AppUserRecord,
    GroupRecord,
    HookRecord,
    OutboxEntry,
    UserRecord,
    email_key,
    from_doc,
    login_key,
    to_doc,
)

__all__ = ["OrgState"]


class OrgState:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.lag: ListLag | None = None
        """What user lists see, with `search_lag_s` (every user write is recorded there)."""
        self._clear_memory()

    def _clear_memory(self) -> None:
        self.meta: dict[str, Any] = {}
        self.users: dict[str, UserRecord] = {}
        self.by_login: dict[str, str] = {}
        self.by_email: dict[str, set[str]] = {}
        self.by_short: dict[str, set[str]] = {}
        """Login short names (the part before `@`), for `GET /users/{shortname}`."""
        self.order: list[str | None] = []
        """User ids by `seq`; None where a user was deleted."""
        self.seq_of: dict[str, int] = {}
        """Seq of every user id ever issued (deleted ones too), so their cursors stay valid."""
        self.groups: dict[str, GroupRecord] = {}
        self.members: dict[str, dict[str, None]] = {}
        self.user_groups: dict[str, set[str]] = {}
        self.apps: dict[str, AppRecord] = {}
        self.app_users: dict[str, dict[str, AppUserRecord]] = {}
        self.app_groups: dict[str, dict[str, AppGroupRecord]] = {}
        self.hooks: dict[str, HookRecord] = {}
        self.outbox: list[OutboxEntry] = []
        self._next_seq = 0

    # --- lifecycle of the whole state -------------------------------------------------------

    def load(self) -> None:
        """Rebuild memory from the journal (at start of a persistent emulator)."""
        self._clear_memory()
        users: list[UserRecord] = []
        for kind, key, doc in self.journal.load():
            if kind == "meta":
                self.meta[key] = doc["value"]
            elif kind == "user":
                users.append(from_doc(UserRecord, doc))
            elif kind == "group":
                self.groups[key] = from_doc(GroupRecord, doc)
            elif kind == "member":
                self.members.setdefault(doc["group_id"], {})[doc["user_id"]] = None
                self.user_groups.setdefault(doc["user_id"], set()).add(doc["group_id"])
            elif kind == "app":
                self.apps[key] = from_doc(AppRecord, doc)
            elif kind == "app_user":
                rec = from_doc(AppUserRecord, doc)
                self.app_users.setdefault(rec.app_id, {})[rec.user_id] = rec
            elif kind == "app_group":
                grp = from_doc(AppGroupRecord, doc)
                self.app_groups.setdefault(grp.app_id, {})[grp.group_id] = grp
            elif kind == "hook":
                self.hooks[key] = from_doc(HookRecord, doc)
            elif kind == "outbox":
                self.outbox.append(from_doc(OutboxEntry, doc))
        self.outbox.sort(key=lambda e: e.seq)
        users.sort(key=lambda u: u.seq)
        self._next_seq = max([u.seq + 1 for u in users] + [int(self.meta.get("next_seq", 0))])
        self.order = [None] * self._next_seq
        for user in users:
            self._index_user(user)
        self.groups = dict(sorted(self.groups.items(), key=lambda kv: kv[1].seq))
        self.apps = dict(sorted(self.apps.items(), key=lambda kv: kv[1].seq))
        self.hooks = dict(sorted(self.hooks.items(), key=lambda kv: kv[1].seq))

    def clear(self) -> None:
        self.journal.clear()
        self._clear_memory()
        if self.lag is not None:
            self.lag.clear()

    def set_meta(self, key: str, value: Any) -> None:
        self.meta[key] = value
        self.journal.put("meta", key, {"value": value})

    def next_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    # --- users -----------------------------------------------------------------------------

    def _index_user(self, user: UserRecord) -> None:
        self.users[user.id] = user
        key = login_key(user.login)
        self.by_login[key] = user.id
        self.by_short.setdefault(key.split("@")[0], set()).add(user.id)
        if user.email:
            self.by_email.setdefault(email_key(user.email), set()).add(user.id)
        while len(self.order) <= user.seq:
            self.order.append(None)
        self.order[user.seq] = user.id
        self.seq_of[user.id] = user.seq

    def _unindex_user(self, user: UserRecord) -> None:
        key = login_key(user.login)
        if self.by_login.get(key) == user.id:
            del self.by_login[key]
        short = self.by_short.get(key.split("@")[0])
        if short is not None:
            short.discard(user.id)
            if not short:
                del self.by_short[key.split("@")[0]]
        if user.email:
            ids = self.by_email.get(email_key(user.email))
            if ids is not None:
                ids.discard(user.id)
                if not ids:
                    del self.by_email[email_key(user.email)]

    def add_user(self, user: UserRecord) -> None:
        self._index_user(user)
        self.journal.put("user", user.id, to_doc(user))
        if self.lag is not None:
            self.lag.record(user, created=True)

    def save_user(self, user: UserRecord, previous_profile: dict[str, Any] | None = None) -> None:
        """Persist a changed user; pass the old profile when login or email may have changed."""
        if previous_profile is not None:
            old = UserRecord(**{**to_doc(user), "profile": previous_profile})
            self._unindex_user(old)
            self._index_user(user)
        self.journal.put("user", user.id, to_doc(user))
        if self.lag is not None:
            self.lag.record(user)

    def remove_user(self, user: UserRecord) -> None:
        self._unindex_user(user)
        del self.users[user.id]
        self.order[user.seq] = None
        for group_id in self.user_groups.pop(user.id, set()):
            self.members.get(group_id, {}).pop(user.id, None)
            self.journal.delete("member", f"{group_id}:{user.id}")
        for app_id, assigned in self.app_users.items():
            if assigned.pop(user.id, None) is not None:
                self.journal.delete("app_user", f"{app_id}:{user.id}")
        self.journal.delete("user", user.id)
        if self.lag is not None:
            self.lag.record(user, removed=True)

    def user_by_login(self, login: str) -> UserRecord | None:
        user_id = self.by_login.get(login_key(login))
        return self.users.get(user_id) if user_id else None

    def iter_users(self, start_seq: int = 0) -> Iterator[UserRecord]:
        """Users in creation order from `start_seq` on."""
        order, users = self.order, self.users
        for index in range(start_seq, len(order)):
            user_id = order[index]
            if user_id is not None:
                yield users[user_id]

    # --- groups and memberships --------------------------------------------------------------

    def save_group(self, group: GroupRecord) -> None:
        self.groups[group.id] = group
        self.journal.put("group", group.id, to_doc(group))

    def remove_group(self, group: GroupRecord) -> None:
        for user_id in self.members.pop(group.id, {}):
            self.user_groups.get(user_id, set()).discard(group.id)
            self.journal.delete("member", f"{group.id}:{user_id}")
        for app_id, assigned in self.app_groups.items():
            if assigned.pop(group.id, None) is not None:
                self.journal.delete("app_group", f"{app_id}:{group.id}")
        del self.groups[group.id]
        self.journal.delete("group", group.id)

    def add_member(self, group_id: str, user_id: str) -> bool:
        members = self.members.setdefault(group_id, {})
        if user_id in members:
            return False
        members[user_id] = None
        self.user_groups.setdefault(user_id, set()).add(group_id)
        self.journal.put("member", f"{group_id}:{user_id}", {"group_id": group_id, "user_id": user_id})
        return True

    def remove_member(self, group_id: str, user_id: str) -> bool:
        members = self.members.get(group_id)
        if members is None or user_id not in members:
            return False
        del members[user_id]
        self.user_groups.get(user_id, set()).discard(group_id)
        self.journal.delete("member", f"{group_id}:{user_id}")
        return True

    # --- apps, hooks, outbox ---------------------------------------------------------------

    def save_app(self, app: AppRecord) -> None:
        self.apps[app.id] = app
        self.journal.put("app", app.id, to_doc(app))

    def remove_app(self, app: AppRecord) -> None:
        for user_id in self.app_users.pop(app.id, {}):
            self.journal.delete("app_user", f"{app.id}:{user_id}")
        for group_id in self.app_groups.pop(app.id, {}):
            self.journal.delete("app_group", f"{app.id}:{group_id}")
        del self.apps[app.id]
        self.journal.delete("app", app.id)

    def save_app_user(self, rec: AppUserRecord) -> None:
        self.app_users.setdefault(rec.app_id, {})[rec.user_id] = rec
        self.journal.put("app_user", f"{rec.app_id}:{rec.user_id}", to_doc(rec))

    def remove_app_user(self, app_id: str, user_id: str) -> None:
        self.app_users.get(app_id, {}).pop(user_id, None)
        self.journal.delete("app_user", f"{app_id}:{user_id}")

    def save_app_group(self, rec: AppGroupRecord) -> None:
        self.app_groups.setdefault(rec.app_id, {})[rec.group_id] = rec
        self.journal.put("app_group", f"{rec.app_id}:{rec.group_id}", to_doc(rec))

    def remove_app_group(self, app_id: str, group_id: str) -> None:
        self.app_groups.get(app_id, {}).pop(group_id, None)
        self.journal.delete("app_group", f"{app_id}:{group_id}")

    def save_hook(self, hook: HookRecord) -> None:
        self.hooks[hook.id] = hook
        self.journal.put("hook", hook.id, to_doc(hook))

    def remove_hook(self, hook: HookRecord) -> None:
        del self.hooks[hook.id]
        self.journal.delete("hook", hook.id)

    def add_outbox(self, entry: OutboxEntry) -> None:
        self.outbox.append(entry)
        self.journal.put("outbox", entry.id, to_doc(entry))

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for user in self.users.values():
            counts[user.status] = counts.get(user.status, 0) + 1
        return counts
