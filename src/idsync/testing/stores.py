"""The engine's state in memory: `MemoryStores()` gives the three ports of `ports.Stores` over one
`MemoryState`, passing the same conformance tests as the SQL store (tests/conformance/
test_stores.py), so engine and worker tests run without a database.

What it does not model: durability (a new `MemoryStores` is empty), several processes sharing
one store, the SQL store's feature tables (safety threshold, portals, activation jobs, inbound,
instances) and the failure report; timestamps come from the clock it is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from idsync.clock import Clock
from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ImportControl, ImportState, Reason, Status
from idsync.domain.records import ImportRecord
from idsync.ports import IdpUser, Stores
from idsync.testing.queue import MemoryChangeQueue
from idsync.testing.state import COUNTED, ImportRow, MemoryState

__all__ = ["MemoryChangeQueue", "MemoryImports", "MemoryLinks", "MemoryStores"]

Key = tuple[str, str, str]


@dataclass(frozen=True, init=False)
class MemoryStores(Stores):
    """The engine's ports over one in-memory state (a fresh one unless `state` is given); the
    ports are typed as the memory ones, so a test can look at `stores.state` directly."""

    links: MemoryLinks
    queue: MemoryChangeQueue
    imports: MemoryImports
    state: MemoryState

    def __init__(self, clock: Clock | None = None, *, state: MemoryState | None = None) -> None:
        shared = state or MemoryState(clock)
        object.__setattr__(self, "state", shared)
        object.__setattr__(self, "links", MemoryLinks(shared))
        object.__setattr__(self, "queue", MemoryChangeQueue(shared))
        object.__setattr__(self, "imports", MemoryImports(shared))


class MemoryLinks:
    """`ports.LinkStore` in memory; the rules live in link_table.py."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state
        self._t = state.links

    async def get(self, tenant: str, source: str, key: str) -> Link | None:
        return self._t.get_many([(tenant, source, key)]).get((tenant, source, key))

    async def get_many(self, keys: Sequence[Key]) -> dict[Key, Link]:
        return self._t.get_many(keys)

    async def save(self, link: Link) -> None:
        self._t.upsert([link], self.state.now())

    async def at_rest_lines(self, tenant: str, marks: Sequence[str]) -> dict[str, tuple[str, str]]:
        return self._t.at_rest_lines(tenant, marks)

    async def mark_at_rest(self, proved: Sequence[tuple[Link, str]]) -> None:
        for link, mark in proved:
            self._t.mark_if_unchanged(link, mark)

    async def holder_of(self, idp: str, idp_id: str) -> Link | None:
        return self._t.holder_of(idp, idp_id)

    async def holder_by_login(self, idp: str, login: str, *, besides: Key) -> Link | None:
        return self._t.holder_by_login(idp, login, besides=besides)

    async def login_in_use(self, idp: str, login: str, *, besides: Key) -> tuple[Link | None, IdpUser | None]:
        holder = self._t.holder_by_login(idp, login, besides=besides)
        return (holder, None) if holder is not None else (None, self._t.listed_account(idp, login))

    async def save_listed(self, idp: str, users: Sequence[IdpUser]) -> int:
        return self._t.save_listed(idp, users)

    async def listed(self, idp: str, login: str) -> IdpUser | None:
        return self._t.listed_account(idp, login)

    async def forget_listed(self, idp: str, login: str) -> None:
        self._t.forget_listed(idp, login)

    async def by_status(
        self,
        tenant: str,
        statuses: Iterable[IdpStatus],
        *,
        source: str | None = None,
        after: tuple[str, str] = ("", ""),
        limit: int = 500,
    ) -> list[Link]:
        return self._t.by_status(tenant, statuses, source=source, after=after, limit=limit)

    async def count(
        self, tenant: str, statuses: Iterable[IdpStatus] | None = None, source: str | None = None
    ) -> int:
        return self._t.count(tenant, statuses, source)


class MemoryImports:
    """`ports.ImportStore` in memory: the SQL store's `ImportTable` (adapters/store/import_table.py)."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    async def add_api_calls(self, import_id: str, calls: int) -> None:
        row = self.state.imports.get(import_id)
        if row is not None:
            row.api_calls += calls

    async def create(
        self,
        import_id: str,
        tenant: str,
        origin: str,
        *,
        input_name: str | None = None,
        total: int | None = None,
    ) -> ImportRecord:
        """A new running import, or the existing one (which learns its total if it had none)."""
        st = self.state
        row = st.imports.get(import_id)
        if row is None:
            now = st.now()
            row = st.imports[import_id] = ImportRow(
                id=import_id,
                tenant=tenant,
                origin=origin,
                input_name=input_name,
                state=ImportState.RUNNING.value,
                total=total,
                started_at=now,
                updated_at=now,
                seq=st.new_import_seq(),
            )
        elif total is not None and row.total is None:
            row.total = total
        return row.record()

    async def get(self, import_id: str) -> ImportRecord | None:
        row = self.state.imports.get(import_id)
        return row.record() if row is not None else None

    async def recent(self, *, limit: int = 50, tenant: str | None = None) -> list[ImportRecord]:
        rows = [r for r in self.state.imports.values() if not tenant or r.tenant == tenant]
        rows.sort(key=lambda r: (r.started_at, r.seq), reverse=True)
        return [r.record() for r in rows[:limit]]

    async def finish_input(self, import_id: str) -> None:
        """The whole input was received; the import completes once every change is done."""
        st = self.state
        row = st.imports.get(import_id)
        if row is None:
            return
        now = st.now()
        row.input_done = True
        row.updated_at = now
        st.maybe_complete(import_id, now)

    async def set_state(self, import_id: str, state: ImportState) -> None:
        row = self.state.imports.get(import_id)
        if row is None:
            return
        now = self.state.now()
        row.state = state.value
        row.updated_at = now
        row.finished_at = now if state is not ImportState.RUNNING else None

    async def control(self, import_id: str, control: ImportControl, reason: Reason | None = None) -> bool:
        """Pause, resume or cancel the import, as adapters/store/controls.py does in SQL."""
        st = self.state
        row = st.imports.get(import_id)
        if row is None or ImportState(row.state) not in control.allowed_from:
            return False
        now = st.now()
        row.state = control.leads_to.value
        row.updated_at = now
        row.finished_at = now if control is ImportControl.CANCEL else None
        mine = [c for c in st.changes.values() if c.import_id == import_id]
        if control is ImportControl.PAUSE:
            for c in mine:
                c.state = "paused" if c.state == "pending" else c.state
        elif control is ImportControl.RESUME:
            for c in mine:
                c.state = "pending" if c.state == "paused" else c.state
            st.maybe_complete(import_id, now)
        else:
            st.cancel([c for c in mine if c.state in ("pending", "paused")], reason, now)
        return True

    async def set_rate(self, import_id: str, rate: float) -> None:
        row = self.state.imports.get(import_id)
        if row is not None:
            row.rate = rate

    async def results(
        self,
        import_id: str,
        *,
        statuses: Sequence[Status] | None = None,
        limit: int = 1000,
        after_id: int = 0,
    ) -> list[dict[str, object]]:
        wanted = {s.value for s in statuses} if statuses is not None else None
        out: list[dict[str, object]] = []
        for c in self.state.changes.values():  # in id order
            if c.import_id != import_id or c.id <= after_id:
                continue
            if wanted is not None and c.status not in wanted:
                continue
            out.append({name: getattr(c, name) for name in _RESULT_FIELDS})
            if len(out) >= limit:
                break
        return out

    async def reason_summary(self, import_id: str) -> list[tuple[str, str, int, str]]:
        """(status, reason code, count, one example message) for failed and skipped users."""
        groups: dict[tuple[str, str | None], list[str | None]] = {}
        for c in self.state.changes.values():
            if c.import_id == import_id and c.status in (Status.FAILED.value, Status.SKIPPED.value):
                assert c.status is not None
                groups.setdefault((c.status, c.reason_code), []).append(c.reason_message)
        ordered = sorted(groups.items(), key=lambda kv: len(kv[1]), reverse=True)
        return [
            (status, code or "", len(messages), min((m for m in messages if m is not None), default=""))
            for (status, code), messages in ordered
        ]

    async def recount(self, import_id: str) -> dict[str, int]:
        """Counts recomputed from the per-change rows (a check on the running counters)."""
        mine = [c for c in self.state.changes.values() if c.import_id == import_id]
        by_status = Counter(c.status for c in mine if c.status is not None)
        counts = {s: by_status.get(s, 0) for s in COUNTED}
        counts["received"] = len(mine)
        return counts

    async def requeue_failed(self, import_id: str, *, except_codes: Sequence[str] = ()) -> int:
        """Put an import's failed changes back in the queue (their counter moves back to pending);
        those failed with a reason code in `except_codes` stay as they are."""
        st = self.state
        imp = st.imports.get(import_id)
        if imp is not None and imp.state == ImportState.CANCELLED.value:
            return 0  # cancelled is final
        kept = set(except_codes)
        failed = [
            c
            for c in st.changes.values()
            if c.import_id == import_id
            and c.status == Status.FAILED.value
            and (c.reason_code is None or c.reason_code not in kept)
        ]
        for c in failed:
            c.state, c.status, c.reason_code, c.reason_message = "pending", None, None, None
            c.attempts, c.not_before, c.finished_at, c.published = 0, 0.0, None, False
        row = st.imports.get(import_id)
        if failed and row is not None:
            row.counts[Status.FAILED.value] -= len(failed)
            row.state = ImportState.RUNNING.value
            row.finished_at = None
            row.updated_at = st.now()
        return len(failed)


_RESULT_FIELDS = (
    "id",
    "tenant",
    "source",
    "key",
    "op",
    "version",
    "state",
    "status",
    "idp_id",
    "reason_code",
    "reason_message",
    "payload",
    "activation_url",
)
