"""Identity links in memory, with the SQL store's rules (adapters/store/links.py) step for step:

- one IdP account, one identity: a write that would make a second identity hold an account
  raises `LinkConflict` and leaves everything as it was (SQL: the unique index
  `ux_links_account` and the transaction's rollback);
- merge_sources: an identity sharing an account holds no idp_id, login or status of its own but
  points to the holder's link (`via`), and reads through it; every identity of a shared account
  learns the sources of the others (`sharers`); `handover` passes the account to a sharer;
- who holds a login, as the IdP compares logins (domain/text.login_key), including an identity
  whose create of it is in flight (its write-ahead intent);
- the org's accounts listed for `--link-existing`, by login.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from idsync.domain.links import IdpStatus, Link, PendingOp
from idsync.domain.text import login_key
from idsync.errors import LinkConflict
from idsync.ports import IdpUser

__all__ = ["Key", "LinkRow", "LinkTable"]

Key = tuple[str, str, str]  # tenant, source, key


@dataclass(frozen=True)
class LinkRow:
    link: Link  # as stored: no sharers, no handover; a sharer's account fields are empty
    login_key: str | None
    updated_at: float
    line_mark: str | None = None  # domain/marks.py: every write but `mark` clears it


class LinkTable:
    def __init__(self) -> None:
        self.rows: dict[Key, LinkRow] = {}
        self._accounts: dict[tuple[str, str], Key] = {}  # (idp, idp_id) -> the one holder
        self._undo: list[tuple[Key, LinkRow | None]] | None = None
        self.listed: dict[tuple[str, str], IdpUser] = {}  # (idp, login_key) -> the org's account

    # ---- rows, the unique account rule and undo -------------------------------------------------

    def _set(self, key: Key, row: LinkRow | None) -> None:
        old = self.rows.get(key)
        if old is not None and old.link.idp_id is not None:
            account = (old.link.idp, old.link.idp_id)
            if self._accounts.get(account) == key:
                del self._accounts[account]
        if row is None:
            self.rows.pop(key, None)
            return
        self.rows[key] = row
        if row.link.idp_id is not None:
            self._accounts[(row.link.idp, row.link.idp_id)] = key

    def _put(self, key: Key, row: LinkRow) -> None:
        if row.link.idp_id is not None:
            holder = self._accounts.get((row.link.idp, row.link.idp_id))
            if holder is not None and holder != key:
                raise LinkConflict(f"account {row.link.idp_id} is held by another link")
        if self._undo is not None:
            self._undo.append((key, self.rows.get(key)))
        self._set(key, row)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All the writes inside, or none of them (an exception undoes them)."""
        outer = self._undo is None
        if outer:
            self._undo = []
        try:
            yield
        except BaseException:
            if outer and self._undo is not None:
                for key, old in reversed(self._undo):
                    self._set(key, old)
            raise
        finally:
            if outer:
                self._undo = None

    def _update(self, key: Key, **changes: Any) -> None:
        row = self.rows[key]
        link = replace(row.link, **{k: v for k, v in changes.items() if k != "login_key"})
        login = changes.get("login_key", row.login_key)
        self._put(key, replace(row, link=link, login_key=login, line_mark=None))

    def at_rest_lines(self, tenant: str, marks: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(source, key) of the tenant's link holding each mark; shared accounts never answer."""
        wanted = set(marks)
        shared = {(t, *r.link.via) for (t, _, _), r in self.rows.items() if r.link.via is not None}
        return {
            r.line_mark: (s, k)
            for (t, s, k), r in self.rows.items()
            if t == tenant
            and r.line_mark in wanted
            and r.link.via is None
            and (t, s, k) not in shared
            and r.line_mark is not None
        }

    def mark_if_unchanged(self, read: Link, line_mark: str) -> None:
        """Mark a link the ingest read, if it is still as read (SQL: line_marks.mark_if_unchanged)."""
        row = self.rows.get((read.tenant, read.source, read.key))
        if read.idp_id is None or read.via is not None or read.sharers or read.pending_op is not None:
            return
        if row is None or row.line_mark == line_mark:
            return
        now = row.link
        same = (now.idp_id, now.profile_hash, now.idp_status, now.version) == (
            read.idp_id,
            read.profile_hash,
            read.idp_status,
            read.version,
        )
        if same and now.pending_op is None and now.via is None:
            self._put((read.tenant, read.source, read.key), replace(row, line_mark=line_mark))

    def mark(self, key: Key, line_mark: str) -> None:
        row = self.rows.get(key)
        if row is not None:
            self._put(key, replace(row, line_mark=line_mark))

    # ---- reading: shared accounts resolved --------------------------------------------------------

    def raw(self, key: Key) -> Link | None:
        row = self.rows.get(key)
        return row.link if row is not None else None

    def resolve(self, found: dict[Key, Link]) -> dict[Key, Link]:
        """Fill in shared accounts (see links.py `resolve` in the SQL store)."""
        if not found or not any(r.link.via is not None for r in self.rows.values()):
            return found
        holders = [(lk.tenant, *lk.via) for lk in found.values() if lk.via is not None]
        primaries = {k: v for k, v in found.items() if v.via is None}
        for hk in holders:
            if hk not in found and (held := self.raw(hk)) is not None:
                primaries[hk] = held
        members = self._members(primaries)
        out: dict[Key, Link] = {}
        for key, link in found.items():
            if link.via is None:
                shared = tuple(s for s, _ in members.get(key, ()))
                out[key] = replace(link, sharers=shared) if shared else link
                continue
            pkey = (link.tenant, *link.via)
            primary = primaries.get(pkey)
            if primary is None or primary.idp_id is None:  # the holder gave the account up
                out[key] = replace(link, via=None)
                continue
            others = [
                primary.source,
                *(s for s, k in members.get(pkey, ()) if (s, k) != (link.source, link.key)),
            ]
            out[key] = replace(
                link,
                idp_id=primary.idp_id,
                login=primary.login,
                idp_status=primary.idp_status,
                sharers=tuple(others),
            )
        return out

    def _members(self, primaries: Iterable[Key]) -> dict[Key, list[tuple[str, str]]]:
        wanted = set(primaries)
        out: dict[Key, list[tuple[str, str]]] = {}
        for (tenant, source, key), row in self.rows.items():
            via = row.link.via
            if via is not None and (tenant, *via) in wanted:
                out.setdefault((tenant, *via), []).append((source, key))
        return out

    def get_many(self, keys: Sequence[Key]) -> dict[Key, Link]:
        found = {k: row.link for k in set(keys) if (row := self.rows.get(k)) is not None}
        return self.resolve(found)

    def holder_of(self, idp: str, idp_id: str) -> Link | None:
        key = self._accounts.get((idp, idp_id))
        if key is None:
            return None
        return self.resolve({key: self.rows[key].link})[key]

    def holder_by_login(self, idp: str, login: str, *, besides: Key) -> Link | None:
        """Another identity holding an account with this login, or creating one (oldest first)."""
        wanted = login_key(login)
        rows = [
            (k, r)
            for k, r in self.rows.items()
            if r.link.idp == idp
            and r.login_key == wanted
            and r.link.via is None
            and (r.link.idp_id is not None or r.link.pending_op is PendingOp.CREATE)
        ]
        rows.sort(key=lambda kr: (kr[1].link.idp_id is None, kr[1].updated_at))
        for key, row in rows:
            if key != besides:
                return self.resolve({key: row.link})[key]
        return None

    def by_status(
        self,
        tenant: str,
        statuses: Iterable[IdpStatus],
        *,
        source: str | None,
        after: tuple[str, str],
        limit: int,
    ) -> list[Link]:
        wanted = set(statuses)
        picked = sorted(
            (r.link for (t, s, k), r in self.rows.items() if t == tenant and (s, k) > after),
            key=lambda lk: (lk.source, lk.key),
        )
        return [lk for lk in picked if lk.idp_status in wanted and (source is None or lk.source == source)][
            :limit
        ]

    def count(self, tenant: str, statuses: Iterable[IdpStatus] | None, source: str | None) -> int:
        wanted = set(statuses) if statuses is not None else None
        return sum(
            1
            for (t, s, _), r in self.rows.items()
            if t == tenant
            and (wanted is None or r.link.idp_status in wanted)
            and (source is None or s == source)
        )

    # ---- writing -----------------------------------------------------------------------------------

    def upsert(self, saved: Sequence[Link], now: float) -> None:
        """Insert or update links; an identity giving a shared account up hands it over first.
        Raises LinkConflict (and writes nothing) when a second identity would hold an account."""
        with self.transaction():
            for link in saved:
                if link.handover:
                    self._hand_over(link)
            try:
                with self.transaction():
                    for link in saved:
                        self._put((link.tenant, link.source, link.key), _stored(link, now))
            except LinkConflict:
                raise LinkConflict(self._conflict_message(saved)) from None
            for link in saved:  # what an identity learnt of a shared account belongs to its holder
                if link.via is None or link.idp_id is None or link.handover:
                    continue
                holder = (link.tenant, *link.via)
                current = self.raw(holder)
                if current is not None and current.idp_id == link.idp_id:
                    self._put(
                        holder,
                        LinkRow(
                            replace(current, idp_status=link.idp_status, login=link.login),
                            login_key(link.login) if link.login else None,
                            now,
                        ),
                    )

    def _conflict_message(self, saved: Sequence[Link]) -> str:
        for link in saved:
            if link.idp_id is None or link.via is not None:
                continue
            holder = self.holder_of(link.idp, link.idp_id)
            if holder is not None and (holder.tenant, holder.source, holder.key) != (
                link.tenant,
                link.source,
                link.key,
            ):
                return f"IdP account {link.idp_id} is already linked to another identity ({holder.tenant})"
        return "an IdP account is already linked to another identity"

    def _hand_over(self, link: Link) -> None:
        """The first identity (by source, key) reaching the account through `link` becomes its
        holder; the others follow it. The account itself is not touched."""
        me = (link.tenant, link.source, link.key)
        mine = self.raw(me)
        members = sorted(
            (s, k)
            for (t, s, k), r in self.rows.items()
            if t == link.tenant and r.link.via == (link.source, link.key)
        )
        if mine is None or mine.idp_id is None or not members:
            return
        self._update(me, idp_id=None, login=None, login_key=None, idp_status=None)
        (new_source, new_key), rest = members[0], members[1:]
        self._update(
            (link.tenant, new_source, new_key),
            idp_id=mine.idp_id,
            login=mine.login,
            login_key=login_key(mine.login) if mine.login else None,
            idp_status=mine.idp_status,
            via=None,
        )
        for s, k in rest:
            self._update((link.tenant, s, k), via=(new_source, new_key))

    # ---- the org's accounts, listed once for --link-existing ---------------------------------------

    def save_listed(self, idp: str, users: Sequence[IdpUser]) -> int:
        for u in users:
            self.listed[(idp, login_key(u.login))] = IdpUser(
                id=u.id, login=u.login, status=u.status, profile=dict(u.profile)
            )
        return len(users)

    def listed_account(self, idp: str, login: str) -> IdpUser | None:
        found = self.listed.get((idp, login_key(login)))
        return replace(found, profile=dict(found.profile)) if found is not None else None

    def forget_listed(self, idp: str, login: str) -> None:
        self.listed.pop((idp, login_key(login)), None)


def _stored(link: Link, now: float) -> LinkRow:
    """The row a link is written as: an identity sharing an account holds none itself."""
    shared = link.via is not None and not link.handover
    stored = Link(
        link.tenant,
        link.source,
        link.key,
        link.idp,
        idp_id=None if shared else link.idp_id,
        login=None if shared else link.login,
        profile_hash=link.profile_hash,
        idp_status=None if shared else link.idp_status,
        version=link.version,
        pending_op=link.pending_op,
        last_error_code=link.last_error_code,
        last_error_message=link.last_error_message,
        via=link.via if shared else None,
    )
    return LinkRow(stored, login_key(link.login) if (link.login and not shared) else None, now)
