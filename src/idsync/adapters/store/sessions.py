"""The `SessionStore` port (idsync/ports) over SQL: import sessions, their entries by upload,
the identities a source masters, and the lease of the instance that drives a source.

Why the entries and the links' write-ahead intents share a transaction (`add_upload`): a user is
in an upload exactly when its link says a create is in flight, so after a crash either both tell
the retry to look first, or neither exists. Tables: adapters/store/features/idsources.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, bindparam, case, delete, select, tuple_, update

from idsync.adapters.store import links as link_sql
from idsync.adapters.store.common import CHUNK, chunks, execute_many
from idsync.adapters.store.features.idsources import idsource_entries, idsource_members, idsource_sessions
from idsync.adapters.store.features.rows import from_row
from idsync.adapters.store.features.service import service_leases
from idsync.adapters.store.instances import ServiceStore
from idsync.adapters.store.repository import Repository
from idsync.adapters.store.schema import links
from idsync.domain.links import Link, PendingOp
from idsync.domain.sessions import EntryKind, ReadResult, SessionEntry, SessionRecord, SessionState

if TYPE_CHECKING:
    from idsync.adapters.store.aio import Runner
    from idsync.adapters.store.sql import Store

__all__ = ["SessionTable", "SqlSessionStore", "lease_name"]

_KEEPS_MASTER = (ReadResult.LINKED, ReadResult.UPDATED)


def lease_name(idp: str) -> str:
    return f"idsource:{idp}"


def _record(m: RowMapping) -> SessionRecord:
    return from_row(SessionRecord, m, state=SessionState(m["state"]))


def _entry(m: RowMapping) -> SessionEntry:
    return from_row(
        SessionEntry,
        m,
        kind=EntryKind(m["kind"]),
        profile=json.loads(m["profile"]),
        result=ReadResult(m["result"]) if m["result"] else None,
    )


_RECORD = (
    update(idsource_entries)
    .where(
        idsource_entries.c.session_id == bindparam("sid"),
        idsource_entries.c.user_key == bindparam("uk"),
    )
    .values(result=bindparam("rs"), idp_id=bindparam("iid"), idp_status=bindparam("st"))
)
_MASTER_UPSERTS: dict[str, Any] = {}


class SessionTable(Repository):
    """Synchronous; `SqlSessionStore` runs it inline (SQLite) or in a thread (PostgreSQL)."""

    def take_source(self, idp: str, owner: str, lease_s: float, now: float) -> bool:
        return ServiceStore(self.store).hold_lease(lease_name(idp), owner, lease_s, now)

    def release_sources(self) -> int:
        """The single-process set-up: a source lease left behind belongs to a run that died."""
        with self._tx() as conn:
            return int(
                conn.execute(delete(service_leases).where(service_leases.c.name.like("idsource:%"))).rowcount
            )

    def sessions(self, idp: str, states: Sequence[SessionState]) -> list[SessionRecord]:
        q = (
            select(idsource_sessions)
            .where(idsource_sessions.c.idp == idp, idsource_sessions.c.state.in_([s.value for s in states]))
            .order_by(idsource_sessions.c.updated_at)
        )
        with self._tx() as conn:
            return [_record(m) for m in conn.execute(q).mappings()]

    def save_session(self, record: SessionRecord) -> None:
        values = {
            "idp": record.idp,
            "source_id": record.source_id,
            "state": record.state.value,
            "created": record.created,
            "started": record.started,
            "uploads": record.uploads,
            "triggered_at": record.triggered_at,
            "updated_at": time.time(),
        }
        stmt = self._insert(idsource_sessions).values(id=record.id, **values)
        with self._tx() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))

    def add_upload(self, idp: str, entries: Sequence[SessionEntry], links: Sequence[Link]) -> None:
        if not entries:
            return
        now = time.time()
        top = max(e.upload for e in entries)
        with self._tx() as conn:
            conn.execute(
                idsource_entries.insert(),
                [
                    {
                        "session_id": e.session_id,
                        "user_key": e.user_key,
                        "tenant": e.tenant,
                        "source": e.source,
                        "key": e.key,
                        "external_id": e.external_id,
                        "login": e.login,
                        "kind": e.kind.value,
                        "profile": json.dumps(dict(e.profile), sort_keys=True),
                        "profile_hash": e.profile_hash,
                        "upload": e.upload,
                        "idp_id": e.idp_id,
                    }
                    for e in entries
                ],
            )
            if links:
                link_sql.upsert_links(conn, links, now)
            conn.execute(
                update(idsource_sessions)
                .where(idsource_sessions.c.id == entries[0].session_id)
                .values(  # uploads go out several at once: never lower the count
                    uploads=case((idsource_sessions.c.uploads < top, top), else_=idsource_sessions.c.uploads),
                    updated_at=now,
                )
            )

    def entries(self, session_id: str) -> list[SessionEntry]:
        q = select(idsource_entries).where(idsource_entries.c.session_id == session_id)
        with self._tx() as conn:
            return [_entry(m) for m in conn.execute(q.order_by(idsource_entries.c.upload)).mappings()]

    def live_entries(self, idp: str, user_keys: Sequence[str]) -> dict[str, SessionEntry]:
        live = [SessionState.FILLING.value, SessionState.TRIGGERED.value, SessionState.READ.value]
        found: dict[str, SessionEntry] = {}
        with self._tx() as conn:
            for chunk in chunks(list(user_keys), CHUNK):
                q = (
                    select(idsource_entries)
                    .join(idsource_sessions, idsource_sessions.c.id == idsource_entries.c.session_id)
                    .where(
                        idsource_sessions.c.idp == idp,
                        idsource_sessions.c.state.in_(live),
                        idsource_entries.c.user_key.in_(chunk),
                    )
                )
                for m in conn.execute(q).mappings():
                    found[m["user_key"]] = _entry(m)
        return found

    def record(
        self,
        idp: str,
        session_id: str,
        results: Sequence[tuple[str, ReadResult, str | None, str | None]],
        *,
        final: bool = True,
    ) -> None:
        now = time.time()
        with self._tx() as conn:
            source_id = conn.execute(
                select(idsource_sessions.c.source_id).where(idsource_sessions.c.id == session_id)
            ).scalar_one()
            if results:
                execute_many(
                    conn,
                    _RECORD,
                    [
                        {"sid": session_id, "uk": k, "rs": r.value, "iid": i, "st": s}
                        for k, r, i, s in results
                    ],
                )
                self._master(conn, idp, session_id, source_id, [r for r in results if r[1] in _KEEPS_MASTER])
            if not final:  # read back while Okta still runs it: it stays TRIGGERED
                return
            conn.execute(
                update(idsource_sessions)
                .where(idsource_sessions.c.id == session_id)
                .values(state=SessionState.READ.value, updated_at=now)
            )

    def _master(
        self,
        conn: Connection,
        idp: str,
        session_id: str,
        source_id: str,
        results: Sequence[tuple[str, ReadResult, str | None, str | None]],
    ) -> None:
        if not results:
            return
        ext = dict(
            conn.execute(
                select(idsource_entries.c.user_key, idsource_entries.c.external_id).where(
                    idsource_entries.c.session_id == session_id
                )
            ).all()
        )
        rows: list[dict[str, Any]] = [
            {
                "idp": idp,
                "user_key": k,
                "source_id": source_id,
                "external_id": ext[k],
                "idp_id": i,
                "updated_at": time.time(),
            }
            for k, _, i, _ in results
        ]
        execute_many(conn, self._master_upsert(), rows)

    def _master_upsert(self) -> Any:
        """The dialect's insert-or-update of source members, built once (execute_many caches by it)."""
        stmt = _MASTER_UPSERTS.get(self.dialect)
        if stmt is None:
            ins = self._insert(idsource_members)
            stmt = _MASTER_UPSERTS[self.dialect] = ins.on_conflict_do_update(
                index_elements=["idp", "user_key"],
                set_={c: ins.excluded[c] for c in ("source_id", "external_id", "idp_id", "updated_at")},
            )
        return stmt

    def forget(self, session_id: str, user_keys: Sequence[str]) -> None:
        with self._tx() as conn:
            for chunk in chunks(list(user_keys), CHUNK):
                conn.execute(
                    delete(idsource_entries).where(
                        idsource_entries.c.session_id == session_id, idsource_entries.c.user_key.in_(chunk)
                    )
                )
            left = conn.execute(
                select(idsource_entries.c.user_key)
                .where(idsource_entries.c.session_id == session_id)
                .limit(1)
            ).first()
            if left is None:
                conn.execute(
                    delete(idsource_sessions).where(
                        idsource_sessions.c.id == session_id,
                        idsource_sessions.c.state == SessionState.READ.value,
                    )
                )

    def abandon(self, idp: str, session_id: str, *, never_started: bool) -> None:
        """Drop the entries. A session that was never started imported nothing: its creates'
        intents are cleared, so their users may go into another session without a lookup first."""
        with self._tx() as conn:
            if never_started:
                keys = conn.execute(
                    select(
                        idsource_entries.c.tenant, idsource_entries.c.source, idsource_entries.c.key
                    ).where(
                        idsource_entries.c.session_id == session_id,
                        idsource_entries.c.kind == EntryKind.CREATE.value,
                    )
                ).all()
                for chunk in chunks(keys, CHUNK):
                    conn.execute(
                        update(links)
                        .where(
                            tuple_(links.c.tenant, links.c.source, links.c.key).in_(
                                [tuple(k) for k in chunk]
                            ),
                            links.c.pending_op == PendingOp.CREATE.value,
                            links.c.idp_id.is_(None),
                        )
                        .values(pending_op=None, line_mark=None)
                    )
            conn.execute(delete(idsource_entries).where(idsource_entries.c.session_id == session_id))
            conn.execute(
                update(idsource_sessions)
                .where(idsource_sessions.c.id == session_id, idsource_sessions.c.idp == idp)
                .values(state=SessionState.ABANDONED.value, updated_at=time.time())
            )

    def mastered(self, idp: str, user_keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._tx() as conn:
            for chunk in chunks(list(user_keys), CHUNK):
                found.update(
                    conn.execute(
                        select(idsource_members.c.user_key).where(
                            idsource_members.c.idp == idp, idsource_members.c.user_key.in_(chunk)
                        )
                    ).scalars()
                )
        return found


class SqlSessionStore:
    """The async port over `SessionTable`."""

    def __init__(self, store: Store, run: Runner) -> None:
        self._t = SessionTable(store)
        self._run = run

    async def take_source(self, idp: str, owner: str, *, lease_s: float, now: float) -> bool:
        return await self._run(self._t.take_source, idp, owner, lease_s, now)

    async def sessions(self, idp: str, states: Sequence[SessionState]) -> list[SessionRecord]:
        return await self._run(self._t.sessions, idp, states)

    async def save_session(self, record: SessionRecord) -> None:
        await self._run(self._t.save_session, record)

    async def add_upload(self, idp: str, entries: Sequence[SessionEntry], links: Sequence[Link]) -> None:
        await self._run(self._t.add_upload, idp, entries, links)

    async def entries(self, session_id: str) -> list[SessionEntry]:
        return await self._run(self._t.entries, session_id)

    async def live_entries(self, idp: str, user_keys: Sequence[str]) -> dict[str, SessionEntry]:
        return await self._run(self._t.live_entries, idp, user_keys)

    async def record(
        self,
        idp: str,
        session_id: str,
        results: Sequence[tuple[str, ReadResult, str | None, str | None]],
        *,
        final: bool = True,
    ) -> None:
        await self._run(self._t.record, idp, session_id, results, final=final)

    async def forget(self, session_id: str, user_keys: Sequence[str]) -> None:
        await self._run(self._t.forget, session_id, user_keys)

    async def abandon(self, idp: str, session_id: str, *, never_started: bool) -> None:
        await self._run(self._t.abandon, idp, session_id, never_started=never_started)

    async def mastered(self, idp: str, user_keys: Sequence[str]) -> set[str]:
        return await self._run(self._t.mastered, idp, user_keys)
