"""The change queue in memory: the SQL store's `Inbox` and `ChangeQueue` (adapters/store/inbox.py,
queue.py) as the `ports.ChangeQueue`, rule for rule: a redelivered message (same origin_ref) is
dropped; a user is claimed under a lease with all its pending changes, interactive lane first;
results land with their links and import counters in one step.

No safety threshold: `receive(force=...)` is accepted and ignored, and no run ever trips (the
threshold is a feature table of the SQL store, adapters/store/features/safety.py).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from idsync.domain.links import Link
from idsync.domain.models import Lane, user_key
from idsync.domain.records import ClaimedUser, Finished, IngestRow, QueuedChange, Receipt
from idsync.errors import StoreError
from idsync.testing.state import ChangeRow, ClaimRow, MemoryState

__all__ = ["MemoryChangeQueue"]


class MemoryChangeQueue:
    def __init__(self, state: MemoryState) -> None:
        self.state = state

    # ---- receiving ---------------------------------------------------------------------------------

    async def receive(
        self,
        rows: Sequence[IngestRow],
        *,
        import_id: str | None = None,
        cursor: int | None = None,
        unrecorded_unchanged: int = 0,
        force: bool = False,
    ) -> Receipt:
        """Store received changes; rows seen before (same origin_ref) are dropped (id None)."""
        st = self.state
        now = st.now()
        fresh = [r for r in rows if not (r.origin_ref and r.origin_ref in st.by_origin_ref)]
        refs = [r.origin_ref for r in fresh if r.origin_ref]
        if len(set(refs)) != len(refs):  # SQL: the unique index refuses the whole batch
            raise StoreError("receive: one origin_ref appears twice in one batch")
        ids: dict[int, int] = {}
        for r in fresh:
            row = _change_row(st.new_change_id(), r, now)
            st.changes[row.id] = row
            if r.origin_ref:
                st.by_origin_ref[r.origin_ref] = row.id
            ids[id(r)] = row.id
        by_import: dict[str, Counter[str]] = {}
        for r in fresh:
            if r.import_id:
                c = by_import.setdefault(r.import_id, Counter())
                c["received"] += 1
                if r.result_status is not None:
                    c[r.result_status.value] += 1
        for imp, counts in sorted(by_import.items()):
            st.bump_import(imp, counts, now)
        self._follow_import_state([st.changes[ids[id(r)]] for r in fresh if r.result_status is None], now)
        if import_id is not None and cursor is not None and (imp_row := st.imports.get(import_id)):
            imp_row.input_cursor = cursor
            imp_row.updated_at = now
        if unrecorded_unchanged and import_id is not None:
            st.bump_import(
                import_id, Counter(received=unrecorded_unchanged, unchanged=unrecorded_unchanged), now
            )
            if (imp_row := st.imports.get(import_id)) is not None:
                imp_row.unchanged_unrecorded += unrecorded_unchanged
            st.maybe_complete(import_id, now)
        return Receipt([ids.get(id(r)) for r in rows])

    def _follow_import_state(self, rows: list[ChangeRow], now: float) -> None:
        """Changes received for a paused import wait `paused`; for a cancelled one they end
        `cancelled` at once (adapters/store/controls.py's receive hook)."""
        st = self.state
        cancelled = []
        for c in rows:
            imp = st.imports.get(c.import_id) if c.import_id else None
            if imp is not None and imp.state == "paused":
                c.state = "paused"
            elif imp is not None and imp.state == "cancelled":
                cancelled.append(c)
        if cancelled:
            st.cancel(cancelled, None, now)

    async def open_user_keys(self, user_keys: Sequence[str]) -> set[str]:
        """Users with a change not yet done: a new change must queue behind them."""
        wanted = set(user_keys)
        return {c.user_key for c in self.state.changes.values() if c.state != "done" and c.user_key in wanted}

    # ---- claims ------------------------------------------------------------------------------------

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
        """Up to `limit` users with due changes, interactive lane first, under a lease; each comes
        with all its due changes and its link. A user claimed elsewhere is passed over."""
        st = self.state
        allowed = {int(x) for x in lanes}
        due = sorted(
            (c for c in st.changes.values() if _due(c, now) and c.lane in allowed),
            key=lambda c: (c.lane, c.id),
        )[: limit * 4]
        candidates: dict[str, Lane] = {}
        for c in due:
            candidates.setdefault(c.user_key, Lane(c.lane))
        room = dict(lane_limits) if lane_limits is not None else {}
        taken: list[str] = []
        blocked = self._blocked(set(candidates))
        for key, lane in candidates.items():
            if key in st.claims or key in blocked or len(taken) >= limit:
                continue
            if lane in room:
                if room[lane] <= 0:
                    continue
                room[lane] -= 1
            taken.append(key)
        for key in taken:
            st.claims[key] = ClaimRow(owner, now + lease_s)
        grouped: dict[str, ClaimedUser] = {}
        chosen = set(taken)
        stopped = []  # changes of an import cancelled after they went back to the queue
        for c in st.changes.values():  # in id order: ids only grow, rows are never removed
            if c.user_key not in chosen or not _due(c, now):
                continue
            imp = st.imports.get(c.import_id) if c.import_id else None
            if imp is not None and imp.state in ("paused", "cancelled"):
                if imp.state == "cancelled":
                    stopped.append(c)
                continue
            c.state = "inflight"
            user = grouped.setdefault(c.user_key, ClaimedUser(c.user_key, c.tenant, c.source, c.key))
            user.changes.append(
                QueuedChange(
                    c.id,
                    c.op,
                    c.version,
                    c.payload or "",
                    c.import_id,
                    c.message_id,
                    Lane(c.lane),
                    c.attempts,
                    c.origin,
                    c.line_fp,
                )
            )
        if stopped:
            st.cancel(stopped, None, now)
        for key in chosen - set(grouped):  # nothing left to work on: not held
            del st.claims[key]
        keys = [(u.tenant, u.source, u.key) for u in grouped.values()]
        for k, link in st.links.get_many(keys).items():
            if (claimed := grouped.get(user_key(*k))) is not None:
                claimed.link = link
        return [grouped[u] for u in taken if u in grouped]

    def _blocked(self, keys: set[str]) -> set[str]:
        """Users with a change of a paused import: they wait until it is resumed or cancelled."""
        st = self.state
        paused = {i for i, row in st.imports.items() if row.state == "paused"}
        if not paused:
            return set()
        return {
            c.user_key
            for c in st.changes.values()
            if c.user_key in keys
            and (c.state == "paused" or (c.state == "pending" and c.import_id in paused))
        }

    async def renew_leases(self, owner: str, lease_s: float, now: float) -> int:
        mine = [c for c in self.state.claims.values() if c.owner == owner]
        for c in mine:
            c.lease_until = now + lease_s
        return len(mine)

    async def release_expired(self, now: float | None = None, *, owner: str | None = None) -> int:
        """Give back users whose lease ran out (their worker died); with `owner`, all its claims.
        Their interrupted changes count an attempt: the retry looks before it writes."""
        st = self.state
        now = st.now() if now is None else now
        dead = [
            k
            for k, c in st.claims.items()
            if (c.owner == owner if owner is not None else c.lease_until < now)
        ]
        gone = set(dead)
        for c in st.changes.values():
            if c.user_key in gone and c.state == "inflight":
                c.state = "pending"
                c.attempts += 1
        for k in dead:
            del st.claims[k]
        return len(dead)

    # ---- results -----------------------------------------------------------------------------------

    async def write_batch(
        self,
        *,
        saved_links: Sequence[Link] = (),
        finished: Sequence[Finished] = (),
        api_calls: Mapping[str, int] | None = None,
    ) -> None:
        """Links, finished changes with their import counters, the IdP calls made for each import,
        released claims: all or nothing (a refused link, `LinkConflict`, writes none of it)."""
        st = self.state
        now = st.now()
        latest: dict[tuple[str, str, str], Link] = {}
        for link in saved_links:
            latest[(link.tenant, link.source, link.key)] = link
        if latest:
            st.links.upsert(list(latest.values()), now)
        for f in finished:
            if f.line_mark is not None:
                st.links.mark(f.line_mark[:3], f.line_mark[3])
        outcomes = [o for f in finished for o in f.outcomes]
        for o in outcomes:
            row = st.changes.get(o.change_id)
            if row is None:
                continue
            row.state = "done"
            row.status = o.status.value
            row.idp_id = o.idp_id
            row.reason_code = o.reason.code if o.reason else None
            row.reason_message = o.reason.message if o.reason else None
            row.finished_at = now
            row.activation_url = o.activation_url
        for imp, calls in (api_calls or {}).items():
            row_imp = st.imports.get(imp)
            if row_imp is not None and calls:
                row_imp.api_calls += calls
        by_import: dict[str, Counter[str]] = {}
        for o in outcomes:
            if o.import_id:
                by_import.setdefault(o.import_id, Counter())[o.status.value] += 1
        for imp, counts in sorted(by_import.items()):
            st.bump_import(imp, counts, now)
        for f in finished:
            claim = st.claims.get(f.user_key)
            if f.release and claim is not None and claim.owner == f.owner:
                del st.claims[f.user_key]

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
        """Put a user's changes back in the queue until `not_before` and release the user."""
        st = self.state
        if link is not None:
            st.links.upsert([link], st.now())
        for c in only if only is not None else user.changes:
            row = st.changes.get(c.id)
            if row is None:
                continue
            row.state = "pending"
            row.not_before = not_before
            if count_attempt:
                row.attempts += 1
        claim = st.claims.get(user.user_key)
        if claim is not None and claim.owner == owner:
            del st.claims[user.user_key]

    # ---- reading -----------------------------------------------------------------------------------

    async def next_due(self) -> float | None:
        """The earliest `not_before` of a pending change (None: nothing pending)."""
        due = [c.not_before for c in self.state.changes.values() if c.state == "pending"]
        return min(due) if due else None

    async def pending_by_lane(self, cap: int | None = None) -> dict[Lane, int]:
        """Changes waiting to be claimed, per lane (up to `cap` a lane)."""
        depth = self._depth(lambda state: state == "pending")
        return depth if cap is None else {lane: min(n, cap) for lane, n in depth.items()}

    async def queue_depth(self) -> dict[Lane, int]:
        """Changes not done yet (waiting or in progress), per lane."""
        return self._depth(lambda state: state != "done")

    def _depth(self, counted: Callable[[str], bool]) -> dict[Lane, int]:
        depth = dict.fromkeys(Lane, 0)
        for c in self.state.changes.values():
            if counted(c.state):
                depth[Lane(c.lane)] += 1
        return depth

    async def change_result(self, change_id: int) -> dict[str, object] | None:
        row = self.state.changes.get(change_id)
        return dataclasses.asdict(row) if row is not None else None


def _due(c: ChangeRow, now: float) -> bool:
    return c.state == "pending" and c.not_before <= now


def _change_row(cid: int, r: IngestRow, now: float) -> ChangeRow:
    done = r.result_status is not None
    return ChangeRow(
        id=cid,
        user_key=r.user_key,
        tenant=r.tenant,
        source=r.source,
        key=r.key,
        op=r.op,
        version=r.version,
        import_id=r.import_id,
        message_id=r.message_id,
        lane=int(r.lane),
        payload=r.payload,
        origin=r.origin,
        origin_ref=r.origin_ref,
        state="done" if done else "pending",
        status=r.result_status.value if r.result_status else None,
        idp_id=r.idp_id,
        reason_code=r.reason.code if r.reason else None,
        reason_message=r.reason.message if r.reason else None,
        attempts=0,
        not_before=0.0,
        received_at=now,
        finished_at=now if done else None,
        published=False,
        line_fp=r.line_fp,
    )
