"""The SQL store as the engine's async ports (idsync/ports: LinkStore, ChangeQueue, ImportStore).

Where each statement runs: PostgreSQL calls go to a thread pool (they wait on the network).
SQLite calls run inline on the event loop: they take well under a millisecond, and a store
thread would spend most of its time waiting to get the GIL back from the busy loop after every
statement (measured: 6-10 ms per transaction in a thread, 0.3 ms inline).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection

from idsync.adapters.store.controls import screen_controlled
from idsync.adapters.store.features.safety import Screen
from idsync.adapters.store.sql import Store
from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ImportControl, ImportState, Lane, Reason, Status
from idsync.domain.records import ClaimedUser, Finished, ImportRecord, IngestRow, QueuedChange, Receipt
from idsync.domain.safety import SafetyRules
from idsync.ports import IdpUser, Stores

__all__ = ["AsyncStore", "Runner", "SqlChangeQueue", "SqlImports", "SqlLinks", "sql_stores"]

P = ParamSpec("P")
T = TypeVar("T")
Key = tuple[str, str, str]
log = logging.getLogger("idsync.store")


class Runner:
    """Runs a store call inline (SQLite) or in a thread (PostgreSQL); see the module docstring."""

    def __init__(self, dialect: str) -> None:
        self._inline = dialect == "sqlite"
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="idsync-store")

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._inline:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class AsyncStore:
    """The whole SQL store with its runner, for the layers above the engine that read the store's
    feature tables (portals, safety runs, activation jobs, inbound, instances) through their own
    functions: `await db.call(list_runs, db.store, ...)`."""

    def __init__(self, store: Store, run: Runner) -> None:
        self.store = store
        self.call = run


class SqlLinks:
    def __init__(self, store: Store, run: Runner) -> None:
        self._t = store.links
        self._run = run

    async def get(self, tenant: str, source: str, key: str) -> Link | None:
        return await self._run(self._t.get, tenant, source, key)

    async def get_many(self, keys: Sequence[Key]) -> dict[Key, Link]:
        return await self._run(self._t.get_many, keys)

    async def save(self, link: Link) -> None:
        await self._run(self._t.save, link)

    async def at_rest_lines(self, tenant: str, marks: Sequence[str]) -> dict[str, tuple[str, str]]:
        return await self._run(self._t.at_rest_lines, tenant, marks)

    async def mark_at_rest(self, proved: Sequence[tuple[Link, str]]) -> None:
        await self._run(self._t.mark_at_rest, proved)

    async def holder_of(self, idp: str, idp_id: str) -> Link | None:
        return await self._run(self._t.holder_of, idp, idp_id)

    async def holder_by_login(self, idp: str, login: str, *, besides: Key) -> Link | None:
        return await self._run(self._t.holder_by_login, idp, login, besides=besides)

    async def login_in_use(self, idp: str, login: str, *, besides: Key) -> tuple[Link | None, IdpUser | None]:
        return await self._run(self._t.login_in_use, idp, login, besides=besides)

    async def save_listed(self, idp: str, users: Sequence[IdpUser]) -> int:
        return await self._run(self._t.save_listed, idp, users)

    async def listed(self, idp: str, login: str) -> IdpUser | None:
        return await self._run(self._t.listed, idp, login)

    async def forget_listed(self, idp: str, login: str) -> None:
        await self._run(self._t.forget_listed, idp, login)

    async def by_status(
        self,
        tenant: str,
        statuses: Iterable[IdpStatus],
        *,
        source: str | None = None,
        after: tuple[str, str] = ("", ""),
        limit: int = 500,
    ) -> list[Link]:
        return await self._run(self._t.by_status, tenant, statuses, source=source, after=after, limit=limit)

    async def count(
        self, tenant: str, statuses: Iterable[IdpStatus] | None = None, source: str | None = None
    ) -> int:
        return await self._run(self._t.count, tenant, statuses, source)


class SqlChangeQueue:
    def __init__(self, store: Store, run: Runner, safety: Callable[[str], SafetyRules | None]) -> None:
        self._inbox = store.inbox
        self._q = store.queue
        self._run = run
        self._safety = safety

    async def receive(
        self,
        rows: Sequence[IngestRow],
        *,
        import_id: str | None = None,
        cursor: int | None = None,
        unrecorded_unchanged: int = 0,
        force: bool = False,
    ) -> Receipt:
        screen = Screen(self._safety, force=force)  # the safety threshold, in the same transaction

        def after_insert(conn: Connection, inserted: Sequence[tuple[IngestRow, int]], now: float) -> None:
            screen(conn, inserted, now)
            screen_controlled(conn, inserted, now)  # paused and cancelled imports

        ids = await self._run(
            self._inbox.receive,
            rows,
            import_id=import_id,
            cursor=cursor,
            unrecorded_unchanged=unrecorded_unchanged,
            after_insert=after_insert,
        )
        return Receipt(ids, [(run.run_id, run.describe()) for run in screen.tripped])

    async def open_user_keys(self, user_keys: Sequence[str]) -> set[str]:
        return await self._run(self._inbox.open_user_keys, user_keys)

    async def claim(
        self,
        owner: str,
        *,
        limit: int,
        lease_s: float,
        now: float,
        lanes: Sequence[Lane] = (Lane.INTERACTIVE, Lane.BULK),
        lane_limits: dict[Lane, int] | None = None,
    ) -> list[ClaimedUser]:
        return await self._run(
            self._q.claim, owner, limit=limit, lease_s=lease_s, now=now, lanes=lanes, lane_limits=lane_limits
        )

    async def renew_leases(self, owner: str, lease_s: float, now: float) -> int:
        return await self._run(self._q.renew_leases, owner, lease_s, now)

    async def release_expired(self, now: float | None = None, *, owner: str | None = None) -> int:
        return await self._run(self._q.release_expired, now, owner=owner)

    async def write_batch(
        self,
        *,
        saved_links: Sequence[Link] = (),
        finished: Sequence[Finished] = (),
        api_calls: Mapping[str, int] | None = None,
    ) -> None:
        await self._run(self._q.write_batch, saved_links=saved_links, finished=finished, api_calls=api_calls)

    async def postpone(
        self,
        user: ClaimedUser,
        owner: str,
        *,
        not_before: float,
        link: Link | None = None,
        count_attempt: bool = True,
        only: Sequence[QueuedChange] | None = None,
    ) -> None:
        await self._run(
            self._q.postpone,
            user,
            owner,
            not_before=not_before,
            link=link,
            count_attempt=count_attempt,
            only=only,
        )

    async def next_due(self) -> float | None:
        return await self._run(self._q.next_due)

    async def pending_by_lane(self, cap: int | None = None) -> dict[Lane, int]:
        return await self._run(self._q.pending_by_lane, cap)

    async def queue_depth(self) -> dict[Lane, int]:
        return await self._run(self._q.queue_depth)

    async def change_result(self, change_id: int) -> dict[str, object] | None:
        return await self._run(self._q.change_result, change_id)


class SqlImports:
    def __init__(self, store: Store, run: Runner) -> None:
        self._t = store.imports
        self._run = run

    async def create(
        self,
        import_id: str,
        tenant: str,
        origin: str,
        *,
        input_name: str | None = None,
        total: int | None = None,
    ) -> ImportRecord:
        return await self._run(self._t.create, import_id, tenant, origin, input_name=input_name, total=total)

    async def get(self, import_id: str) -> ImportRecord | None:
        return await self._run(self._t.get, import_id)

    async def recent(self, *, limit: int = 50, tenant: str | None = None) -> list[ImportRecord]:
        return await self._run(self._t.recent, limit=limit, tenant=tenant)

    async def finish_input(self, import_id: str) -> None:
        await self._run(self._t.finish_input, import_id)

    async def set_state(self, import_id: str, state: ImportState) -> None:
        await self._run(self._t.set_state, import_id, state)

    async def control(self, import_id: str, control: ImportControl, reason: Reason | None = None) -> bool:
        return await self._run(self._t.control, import_id, control, reason)

    async def set_rate(self, import_id: str, rate: float) -> None:
        await self._run(self._t.set_rate, import_id, rate)

    async def add_api_calls(self, import_id: str, calls: int) -> None:
        await self._run(self._t.add_api_calls, import_id, calls)

    async def results(
        self,
        import_id: str,
        *,
        statuses: Sequence[Status] | None = None,
        limit: int = 1000,
        after_id: int = 0,
    ) -> list[dict[str, object]]:
        return await self._run(self._t.results, import_id, statuses=statuses, limit=limit, after_id=after_id)

    async def reason_summary(self, import_id: str) -> list[tuple[str, str, int, str]]:
        return await self._run(self._t.reason_summary, import_id)

    async def recount(self, import_id: str) -> dict[str, int]:
        return await self._run(self._t.recount, import_id)

    async def requeue_failed(self, import_id: str, *, except_codes: Sequence[str] = ()) -> int:
        return await self._run(self._t.requeue_failed, import_id, except_codes=except_codes)


def sql_stores(store: Store, run: Runner, safety: Callable[[str], SafetyRules | None]) -> Stores:
    """The engine's ports over one SQL store."""
    return Stores(
        links=SqlLinks(store, run), queue=SqlChangeQueue(store, run, safety), imports=SqlImports(store, run)
    )
