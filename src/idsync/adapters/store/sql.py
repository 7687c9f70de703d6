"""The state store over SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Everything needed to resume after a crash lives here: links, every received change with its
result, import counters and input cursors, and the claims (leases) of users being worked on.
Methods are domain-level and synchronous; the engine runs them in a worker thread.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import (
    Connection,
    RowMapping,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from idsync.adapters.store import features
from idsync.adapters.store import links as link_sql
from idsync.adapters.store.engine import build_engine
from idsync.adapters.store.schema import changes, claims, imports, links, migrate
from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ImportProgress, ImportState, Lane, Reason, Status, user_key
from idsync.ports import IdpUser

COUNTED = tuple(s.value for s in Status)  # every status has a counter column on imports
_CHUNK = 500  # keys per IN (...) query
_MIGRATION_LOCK = 0x1D5C  # PostgreSQL advisory lock held while the schema is brought up to date


@dataclass(frozen=True)
class IngestRow:
    """A received change: valid (with tenant/source/key) or not (then `result` says why)."""

    tenant: str
    source: str
    key: str
    op: str
    lane: Lane
    payload: str
    origin: str
    user_key: str
    version: int | None = None
    import_id: str | None = None
    message_id: str | None = None
    origin_ref: str | None = None
    result_status: Status | None = None  # set: decided at once, no IdP call (stored as done)
    reason: Reason | None = None
    idp_id: str | None = None


# Called inside `Store.receive`'s transaction with the newly stored rows and their ids.
ReceiveHook = Callable[[Connection, Sequence[tuple[IngestRow, int]], float], None]


@dataclass(frozen=True)
class QueuedChange:
    id: int
    op: str
    version: int | None
    payload: str
    import_id: str | None
    message_id: str | None
    lane: Lane
    attempts: int
    origin: str


@dataclass
class ClaimedUser:
    """One user's pending changes, in arrival order, held by one worker under a lease."""

    user_key: str
    tenant: str
    source: str
    key: str
    changes: list[QueuedChange] = field(default_factory=list)
    link: Link | None = None  # read in the claim's transaction

    @property
    def lane(self) -> Lane:
        return min(c.lane for c in self.changes)


@dataclass(frozen=True)
class Outcome:
    change_id: int
    status: Status
    idp_id: str | None = None
    reason: Reason | None = None
    import_id: str | None = None
    activation_url: str | None = None  # only when the tenant sends no activation e-mail


@dataclass(frozen=True)
class Finished:
    """A user's finished changes, for a group commit."""

    user_key: str
    owner: str
    outcomes: list[Outcome]
    release: bool = True


@dataclass(frozen=True)
class ImportRecord:
    id: str
    tenant: str
    origin: str
    input_name: str | None
    state: ImportState
    total: int | None
    counts: dict[str, int]
    input_cursor: int
    input_done: bool
    rate: float
    started_at: float
    updated_at: float
    finished_at: float | None

    def progress(self) -> ImportProgress:
        p = ImportProgress(
            import_id=self.id,
            tenant=self.tenant,
            state=self.state,
            total=self.total,
            rate=self.rate,
            **self.counts,
        )
        if self.state is ImportState.RUNNING and self.rate > 0:
            remaining = (self.total - p.done) if self.total is not None else p.pending
            p.eta_s = max(remaining, 0) / self.rate
        return p


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = build_engine(url)
        self.dialect = self.engine.dialect.name
        features.load()
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Several instances starting on one database: one migrates, the others wait.
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            migrate(conn)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # ---- links -------------------------------------------------------------------------------

    def get_link(self, tenant: str, source: str, key: str) -> Link | None:
        return self.get_links([(tenant, source, key)]).get((tenant, source, key))

    def get_links(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], Link]:
        """Links by (tenant, source, key), asked per tenant and source so the primary key serves."""
        by_prefix: dict[tuple[str, str], list[str]] = {}
        for tenant, source, key in set(keys):
            by_prefix.setdefault((tenant, source), []).append(key)
        out: dict[tuple[str, str, str], Link] = {}
        with self._tx() as conn:
            for (tenant, source), prefix_keys in by_prefix.items():
                for chunk in _chunks(prefix_keys, _CHUNK):
                    if self.dialect == "sqlite":
                        # Hot on a re-import: the driver's rows as tuples, without SQLAlchemy's
                        # per-row processing (it halves the cost of this query).
                        sql = _LINKS_SQL.format(marks=", ".join("?" * len(chunk)))
                        for t in conn.exec_driver_sql(sql, (tenant, source, *chunk)):
                            out[(t[0], t[1], t[2])] = link_sql.link_from_tuple(t)
                        continue
                    rows = conn.execute(_LINKS_BY_KEYS, {"t": tenant, "s": source, "keys": chunk}).mappings()
                    for row in rows:
                        out[(row["tenant"], row["source"], row["key"])] = link_sql.link_from_row(row)
            return link_sql.resolve(conn, out)

    def save_link(self, link: Link) -> None:
        with self._tx() as conn:
            link_sql.upsert_links(conn, [link], time.time())

    def holder_of(self, idp: str, idp_id: str) -> Link | None:
        """The identity that holds this IdP account, or None."""
        with self._tx() as conn:
            return link_sql.holder_of(conn, idp, idp_id)

    def holder_by_login(self, idp: str, login: str, *, besides: tuple[str, str, str]) -> Link | None:
        """Another identity that holds (or is creating) an account with this login."""
        with self._tx() as conn:
            return link_sql.holder_by_login(conn, idp, login, besides=besides)

    def save_org_accounts(self, idp: str, users: Sequence[IdpUser], now: float | None = None) -> int:
        with self._tx() as conn:
            return link_sql.save_org_accounts(conn, idp, users, time.time() if now is None else now)

    def org_account(self, idp: str, login: str) -> IdpUser | None:
        """The org's account with this login as listed for --link-existing, if any."""
        with self._tx() as conn:
            return link_sql.org_account(conn, idp, login)

    def drop_org_account(self, idp: str, login: str) -> None:
        with self._tx() as conn:
            link_sql.drop_org_account(conn, idp, login)

    def link_conflicts(self) -> list[dict[str, object]]:
        """Links the store upgrade found holding an account twice, and detached (by key)."""
        with self._tx() as conn:
            return link_sql.conflicts(conn)

    def links_by_status(
        self,
        tenant: str,
        statuses: Iterable[IdpStatus],
        *,
        source: str | None = None,
        after: tuple[str, str] = ("", ""),
        limit: int = 500,
    ) -> list[Link]:
        """Links of a tenant in the given IdP statuses, in (source, key) order, for resumable jobs."""
        q = select(links).where(
            links.c.tenant == tenant,
            links.c.idp_status.in_([s.value for s in statuses]),
            tuple_(links.c.source, links.c.key) > after,
        )
        if source is not None:
            q = q.where(links.c.source == source)
        q = q.order_by(links.c.source, links.c.key).limit(limit)
        with self._tx() as conn:
            return [link_sql.link_from_row(r) for r in conn.execute(q).mappings()]

    def count_links(
        self, tenant: str, statuses: Iterable[IdpStatus] | None = None, source: str | None = None
    ) -> int:
        q = select(func.count()).select_from(links).where(links.c.tenant == tenant)
        if statuses is not None:
            q = q.where(links.c.idp_status.in_([s.value for s in statuses]))
        if source is not None:
            q = q.where(links.c.source == source)
        with self._tx() as conn:
            return int(conn.execute(q).scalar_one())

    # ---- receiving changes ---------------------------------------------------------------------

    def open_user_keys(self, user_keys: Sequence[str]) -> set[str]:
        """Users with a change not yet done: a new change must queue behind them, never overtake."""
        out: set[str] = set()
        with self._tx() as conn:
            for chunk in _chunks(list(set(user_keys)), _CHUNK):
                out.update(
                    conn.execute(
                        select(changes.c.user_key).where(
                            changes.c.state != "done", changes.c.user_key.in_(chunk)
                        )
                    ).scalars()
                )
        return out

    def receive(
        self,
        rows: Sequence[IngestRow],
        *,
        import_id: str | None = None,
        cursor: int | None = None,
        now: float | None = None,
        unrecorded_unchanged: int = 0,
        after_insert: ReceiveHook | None = None,
    ) -> list[int | None]:
        """Store received changes in one transaction; rows seen before (same origin_ref) are dropped.

        Returns the new change ids in input order (None for a duplicate). With `import_id` and
        `cursor`, the import's input cursor moves in the same transaction, so a resumed file import
        neither skips nor repeats a line. `after_insert` sees the new rows with their ids inside
        the transaction (the safety threshold holds changes there: features/safety.py).
        """
        now = time.time() if now is None else now
        for attempt in range(3):
            try:
                with self._tx() as conn:
                    ids = self._receive(conn, rows, import_id, cursor, now, after_insert)
                    if unrecorded_unchanged and import_id is not None:
                        conn.execute(
                            _BUMP,
                            {
                                **_ZERO_COUNTS,
                                "n_received": unrecorded_unchanged,
                                "n_unchanged": unrecorded_unchanged,
                                "iid": import_id,
                                "at": now,
                            },
                        )
                        conn.execute(
                            update(imports)
                            .where(imports.c.id == import_id)
                            .values(
                                unchanged_unrecorded=imports.c.unchanged_unrecorded + unrecorded_unchanged
                            )
                        )
                        _maybe_complete(conn, import_id, now)
                    return ids
            except IntegrityError:  # a concurrent instance stored the same origin_ref first
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _receive(
        self,
        conn: Connection,
        rows: Sequence[IngestRow],
        import_id: str | None,
        cursor: int | None,
        now: float,
        after_insert: ReceiveHook | None = None,
    ) -> list[int | None]:
        refs = [r.origin_ref for r in rows if r.origin_ref]
        seen: set[str] = set()
        for chunk in _chunks(refs, _CHUNK):
            seen.update(
                conn.execute(select(changes.c.origin_ref).where(changes.c.origin_ref.in_(chunk))).scalars()
            )
        fresh = [r for r in rows if not (r.origin_ref and r.origin_ref in seen)]
        ids: dict[int, int] = {}
        if fresh:
            values = [_change_values(r, now) for r in fresh]
            first_id = None
            if self.dialect == "sqlite":
                # The hottest write of a re-import (a million rows): straight to the driver's
                # executemany, which skips SQLAlchemy's per-row parameter processing (3x faster).
                # Ids are read back by rowid range: one writer inside BEGIN IMMEDIATE, so contiguous.
                conn.exec_driver_sql(
                    _INSERT_CHANGE_SQL, [tuple(v[c] for c in _CHANGE_COLUMNS) for v in values]
                )
                last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
                first_id = int(last) - len(values) + 1
                for i, r in enumerate(fresh):
                    ids[id(r)] = first_id + i
            else:
                result = conn.execute(
                    insert(changes).returning(changes.c.id, sort_by_parameter_order=True), values
                )
                for r, new_id in zip(fresh, result.scalars(), strict=True):
                    ids[id(r)] = int(new_id)
            if after_insert is not None:
                after_insert(conn, [(r, ids[id(r)]) for r in fresh], now)
        by_import: dict[str, Counter[str]] = {}
        for r in fresh:
            if r.import_id:
                c = by_import.setdefault(r.import_id, Counter())
                c["received"] += 1
                if r.result_status is not None:
                    c[r.result_status.value] += 1
        for imp, counts in sorted(by_import.items()):  # one lock order: no deadlock
            _bump_import(conn, imp, counts, now)
        if import_id is not None and cursor is not None:
            conn.execute(
                update(imports).where(imports.c.id == import_id).values(input_cursor=cursor, updated_at=now)
            )
        return [ids.get(id(r)) for r in rows]

    # ---- the queue -----------------------------------------------------------------------------

    def claim(
        self,
        owner: str,
        *,
        limit: int,
        lease_s: float,
        now: float | None = None,
        lanes: Sequence[Lane] = (Lane.INTERACTIVE, Lane.BULK),
        lane_limits: dict[Lane, int] | None = None,
    ) -> list[ClaimedUser]:
        """Take up to `limit` users with pending changes, interactive lane first, under a lease.

        All pending changes of a taken user come along (they coalesce into one plan), with the
        user's link. A user already claimed elsewhere is passed over, so one user's changes never
        run concurrently. `lane_limits` caps the users taken per lane.
        """
        now = time.time() if now is None else now
        with self._tx() as conn:
            q = (
                select(changes.c.id, changes.c.user_key, changes.c.lane)
                .where(
                    changes.c.state == "pending",
                    changes.c.not_before <= now,
                    changes.c.lane.in_([int(x) for x in lanes]),
                )
                .order_by(changes.c.lane, changes.c.id)
                .limit(limit * 4)
            )
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            candidates: dict[str, Lane] = {}
            for _id, key, lane in conn.execute(q):
                if key not in candidates:
                    candidates[key] = Lane(lane)
            if not candidates:
                return []
            held = set(
                conn.execute(
                    select(claims.c.user_key).where(claims.c.user_key.in_(list(candidates)))
                ).scalars()
            )
            room = dict(lane_limits) if lane_limits is not None else {}
            wanted: list[str] = []
            for key, lane in candidates.items():
                if key in held or len(wanted) >= limit:
                    continue
                if lane in room:
                    if room[lane] <= 0:
                        continue
                    room[lane] -= 1
                wanted.append(key)
            taken = self._take(conn, wanted, owner, now + lease_s)
            if not taken:
                return []
            rows = (
                conn.execute(
                    select(changes)
                    .where(
                        changes.c.user_key.in_(taken),
                        changes.c.state == "pending",
                        changes.c.not_before <= now,
                    )
                    .order_by(changes.c.id)
                )
                .mappings()
                .all()
            )
            conn.execute(
                update(changes).where(changes.c.id.in_([r["id"] for r in rows])).values(state="inflight")
            )
            grouped: dict[str, ClaimedUser] = {}
            for r in rows:
                cu = grouped.setdefault(
                    r["user_key"], ClaimedUser(r["user_key"], r["tenant"], r["source"], r["key"])
                )
                cu.changes.append(
                    QueuedChange(
                        r["id"],
                        r["op"],
                        r["version"],
                        r["payload"] or "",
                        r["import_id"],
                        r["message_id"],
                        Lane(r["lane"]),
                        r["attempts"],
                        r["origin"],
                    )
                )
            keys = [(u.tenant, u.source, u.key) for u in grouped.values()]
            found = {
                (r["tenant"], r["source"], r["key"]): link_sql.link_from_row(r)
                for r in conn.execute(
                    select(links).where(tuple_(links.c.tenant, links.c.source, links.c.key).in_(keys))
                ).mappings()
            }
            for k, link in link_sql.resolve(conn, found).items():
                user = grouped.get(user_key(*k))
                if user is not None:
                    user.link = link
        return [grouped[u] for u in taken if u in grouped]

    def _take(self, conn: Connection, wanted: list[str], owner: str, lease_until: float) -> list[str]:
        if not wanted:
            return []
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(claims).on_conflict_do_nothing().returning(claims.c.user_key)
            got = conn.execute(
                stmt, [{"user_key": k, "owner": owner, "lease_until": lease_until} for k in wanted]
            )
            mine = set(got.scalars())
            return [k for k in wanted if k in mine]
        conn.execute(
            insert(claims), [{"user_key": k, "owner": owner, "lease_until": lease_until} for k in wanted]
        )
        return wanted

    def renew_leases(self, owner: str, lease_s: float, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._tx() as conn:
            return conn.execute(
                update(claims).where(claims.c.owner == owner).values(lease_until=now + lease_s)
            ).rowcount

    def release_expired(self, now: float | None = None, *, owner: str | None = None) -> int:
        """Give back users whose lease ran out (their worker died); with `owner`, all of its claims."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            cond = claims.c.owner == owner if owner is not None else claims.c.lease_until < now
            dead = list(conn.execute(select(claims.c.user_key).where(cond)).scalars())
            for chunk in _chunks(dead, _CHUNK):
                # Interrupted: a write may have reached the IdP, so the retry looks before it writes.
                conn.execute(
                    update(changes)
                    .where(changes.c.user_key.in_(chunk), changes.c.state == "inflight")
                    .values(state="pending", attempts=changes.c.attempts + 1)
                )
                conn.execute(delete(claims).where(claims.c.user_key.in_(chunk)))
            return len(dead)

    def release_all(self) -> int:
        """At start-up of the single-process (SQLite) set-up, every claim belongs to a dead run."""
        with self._tx() as conn:
            dead = list(conn.execute(select(claims.c.user_key)).scalars())
            conn.execute(
                update(changes)
                .where(changes.c.state == "inflight")
                .values(state="pending", attempts=changes.c.attempts + 1)
            )
            conn.execute(delete(claims))
            return len(dead)

    def complete(
        self,
        user: ClaimedUser,
        owner: str,
        outcomes: Sequence[Outcome],
        link: Link | None,
        now: float | None = None,
        *,
        release: bool = True,
    ) -> None:
        """Record results, the new link and the import counters in one transaction; release the user."""
        self.write_batch(
            saved_links=[link] if link is not None else [],
            finished=[Finished(user.user_key, owner, list(outcomes), release)],
            now=now,
        )

    def save_links(self, saved: Sequence[Link]) -> None:
        self.write_batch(saved_links=saved)

    def write_batch(
        self, *, saved_links: Sequence[Link] = (), finished: Sequence[Finished] = (), now: float | None = None
    ) -> None:
        """One transaction for many workers' writes (group commit): links (write-ahead intents and
        results), outcomes of finished changes, import counters, released claims."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            latest: dict[tuple[str, str, str], Link] = {}
            for link in saved_links:
                latest[(link.tenant, link.source, link.key)] = link
            if latest:
                link_sql.upsert_links(conn, list(latest.values()), now)
            outcomes = [o for f in finished for o in f.outcomes]
            if outcomes:
                conn.execute(
                    _FINISH,
                    [
                        {
                            "cid": o.change_id,
                            "st": o.status.value,
                            "idp": o.idp_id,
                            "rc": o.reason.code if o.reason else None,
                            "rm": o.reason.message if o.reason else None,
                            "at": now,
                            "au": o.activation_url,
                        }
                        for o in outcomes
                    ],
                )
            by_import: dict[str, Counter[str]] = {}
            for o in outcomes:
                if o.import_id:
                    by_import.setdefault(o.import_id, Counter())[o.status.value] += 1
            for imp, counts in sorted(by_import.items()):  # one lock order: no deadlock
                _bump_import(conn, imp, counts, now)
            released = [{"uk": f.user_key, "ow": f.owner} for f in finished if f.release]
            if released:
                conn.execute(_RELEASE, released)

    def next_due(self) -> float | None:
        """The earliest `not_before` of a pending change (None: nothing pending)."""
        with self._tx() as conn:
            value = conn.execute(
                select(func.min(changes.c.not_before)).where(changes.c.state == "pending")
            ).scalar()
        return float(value) if value is not None else None

    def postpone(
        self,
        user: ClaimedUser,
        owner: str,
        *,
        not_before: float,
        link: Link | None = None,
        count_attempt: bool = True,
        only: Sequence[QueuedChange] | None = None,
    ) -> None:
        """Put a user's changes back in the queue until `not_before` (IdP down, circuit open)."""
        with self._tx() as conn:
            if link is not None:
                link_sql.upsert_links(conn, [link], time.time())
            ids = [c.id for c in changes_] if (changes_ := only) is not None else [c.id for c in user.changes]
            values: dict[str, object] = {"state": "pending", "not_before": not_before}
            if count_attempt:
                values["attempts"] = changes.c.attempts + 1
            conn.execute(update(changes).where(changes.c.id.in_(ids)).values(**values))
            conn.execute(delete(claims).where(claims.c.user_key == user.user_key, claims.c.owner == owner))

    def pending_by_lane(self) -> dict[Lane, int]:
        """Changes waiting to be claimed, per lane (served by the partial index of pending rows)."""
        with self._tx() as conn:
            rows = conn.execute(
                select(changes.c.lane, func.count())
                .where(changes.c.state == "pending")
                .group_by(changes.c.lane)
            ).all()
        depth = dict.fromkeys(Lane, 0)
        for lane, n in rows:
            depth[Lane(lane)] = int(n)
        return depth

    def queue_depth(self) -> dict[Lane, int]:
        with self._tx() as conn:
            rows = conn.execute(
                select(changes.c.lane, func.count()).where(changes.c.state != "done").group_by(changes.c.lane)
            ).all()
        depth = dict.fromkeys(Lane, 0)
        for lane, n in rows:
            depth[Lane(lane)] = int(n)
        return depth

    def change_result(self, change_id: int) -> dict[str, object] | None:
        with self._tx() as conn:
            row = conn.execute(select(changes).where(changes.c.id == change_id)).mappings().first()
        return dict(row) if row else None

    # ---- imports -------------------------------------------------------------------------------

    def create_import(
        self,
        import_id: str,
        tenant: str,
        origin: str,
        *,
        input_name: str | None = None,
        total: int | None = None,
        now: float | None = None,
    ) -> ImportRecord:
        now = time.time() if now is None else now
        with self._tx() as conn:
            existing = conn.execute(select(imports).where(imports.c.id == import_id)).mappings().first()
            if existing is None:
                conn.execute(
                    insert(imports).values(
                        id=import_id,
                        tenant=tenant,
                        origin=origin,
                        input_name=input_name,
                        state=ImportState.RUNNING.value,
                        total=total,
                        started_at=now,
                        updated_at=now,
                    )
                )
            elif total is not None and existing["total"] is None:
                conn.execute(update(imports).where(imports.c.id == import_id).values(total=total))
        record = self.get_import(import_id)
        assert record is not None
        return record

    def get_import(self, import_id: str) -> ImportRecord | None:
        with self._tx() as conn:
            row = conn.execute(select(imports).where(imports.c.id == import_id)).mappings().first()
        return _import(row) if row else None

    def list_imports(self, *, limit: int = 50, tenant: str | None = None) -> list[ImportRecord]:
        q = select(imports).order_by(imports.c.started_at.desc()).limit(limit)
        if tenant:
            q = q.where(imports.c.tenant == tenant)
        with self._tx() as conn:
            return [_import(r) for r in conn.execute(q).mappings()]

    def finish_input(self, import_id: str, now: float | None = None) -> None:
        """The whole input was received; the import completes once every change is done."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            conn.execute(
                update(imports).where(imports.c.id == import_id).values(input_done=True, updated_at=now)
            )
            _maybe_complete(conn, import_id, now)

    def set_import_state(self, import_id: str, state: ImportState, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == import_id)
                .values(
                    state=state.value,
                    updated_at=now,
                    finished_at=now if state is not ImportState.RUNNING else None,
                )
            )

    def set_import_rate(self, import_id: str, rate: float) -> None:
        with self._tx() as conn:
            conn.execute(update(imports).where(imports.c.id == import_id).values(rate=rate))

    def import_results(
        self,
        import_id: str,
        *,
        statuses: Sequence[Status] | None = None,
        limit: int = 1000,
        after_id: int = 0,
    ) -> list[dict[str, object]]:
        q = (
            select(
                changes.c.id,
                changes.c.tenant,
                changes.c.source,
                changes.c.key,
                changes.c.op,
                changes.c.version,
                changes.c.state,
                changes.c.status,
                changes.c.idp_id,
                changes.c.reason_code,
                changes.c.reason_message,
                changes.c.payload,
                changes.c.activation_url,
            )
            .where(changes.c.import_id == import_id, changes.c.id > after_id)
            .order_by(changes.c.id)
            .limit(limit)
        )
        if statuses is not None:
            q = q.where(changes.c.status.in_([s.value for s in statuses]))
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def reason_summary(self, import_id: str) -> list[tuple[str, str, int, str]]:
        """(status, reason code, count, one example message) for the import's failed and skipped users."""
        q = (
            select(changes.c.status, changes.c.reason_code, func.count(), func.min(changes.c.reason_message))
            .where(
                changes.c.import_id == import_id,
                changes.c.status.in_([Status.FAILED.value, Status.SKIPPED.value]),
            )
            .group_by(changes.c.status, changes.c.reason_code)
            .order_by(func.count().desc())
        )
        with self._tx() as conn:
            return [(s, c or "", int(n), m or "") for s, c, n, m in conn.execute(q).all()]

    def recount_import(self, import_id: str) -> dict[str, int]:
        """Counts recomputed from the per-change rows (a check on the running counters)."""
        with self._tx() as conn:
            rows = conn.execute(
                select(changes.c.status, func.count())
                .where(changes.c.import_id == import_id)
                .group_by(changes.c.status)
            ).all()
            received = conn.execute(
                select(func.count()).select_from(changes).where(changes.c.import_id == import_id)
            ).scalar_one()
        counts = dict.fromkeys(COUNTED, 0)
        for status, n in rows:
            if status is not None:
                counts[status] = int(n)
        counts["received"] = int(received)
        return counts

    def requeue_failed(
        self, import_id: str, now: float | None = None, *, except_codes: Sequence[str] = ()
    ) -> int:
        """Put an import's failed changes back in the queue (their counters move back to pending);
        those failed with a reason code in `except_codes` stay as they are."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            q = select(changes.c.id).where(
                changes.c.import_id == import_id, changes.c.status == Status.FAILED.value
            )
            if except_codes:
                q = q.where(
                    changes.c.reason_code.is_(None) | changes.c.reason_code.not_in(list(except_codes))
                )
            ids = list(conn.execute(q).scalars())
            for chunk in _chunks(ids, _CHUNK):
                conn.execute(
                    update(changes)
                    .where(changes.c.id.in_(chunk))
                    .values(
                        state="pending",
                        status=None,
                        reason_code=None,
                        reason_message=None,
                        attempts=0,
                        not_before=0.0,
                        finished_at=None,
                        published=False,
                    )
                )
            if ids:
                conn.execute(
                    update(imports)
                    .where(imports.c.id == import_id)
                    .values(
                        failed=imports.c.failed - len(ids),
                        state=ImportState.RUNNING.value,
                        finished_at=None,
                        updated_at=now,
                    )
                )
            return len(ids)


# Hot statements, built once: SQLAlchemy then reuses their compiled form for every batch.
_FINISH = (
    update(changes)
    .where(changes.c.id == bindparam("cid"))
    .values(
        state="done",
        status=bindparam("st"),
        idp_id=bindparam("idp"),
        reason_code=bindparam("rc"),
        reason_message=bindparam("rm"),
        finished_at=bindparam("at"),
        activation_url=bindparam("au"),
    )
)
_CHANGE_COLUMNS = (
    "user_key",
    "tenant",
    "source",
    "key",
    "op",
    "version",
    "import_id",
    "message_id",
    "lane",
    "payload",
    "origin",
    "origin_ref",
    "state",
    "status",
    "idp_id",
    "reason_code",
    "reason_message",
    "attempts",
    "not_before",
    "received_at",
    "finished_at",
    "published",
)
_INSERT_CHANGE_SQL = (
    f"INSERT INTO changes ({', '.join(_CHANGE_COLUMNS)}) VALUES ({', '.join('?' for _ in _CHANGE_COLUMNS)})"
)
_LINKS_SQL = (
    f"SELECT {', '.join(link_sql.LINK_FIELDS)} FROM links "
    "WHERE tenant = ? AND source = ? AND key IN ({marks})"
)
_LINKS_BY_KEYS = select(links).where(
    links.c.tenant == bindparam("t"),
    links.c.source == bindparam("s"),
    links.c.key.in_(bindparam("keys", expanding=True)),
)
_RELEASE = delete(claims).where(claims.c.user_key == bindparam("uk"), claims.c.owner == bindparam("ow"))


def _chunks(items: Sequence[object] | list[str], size: int) -> Iterator[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _change_values(r: IngestRow, now: float) -> dict[str, object]:
    done = r.result_status is not None
    return {
        "user_key": r.user_key,
        "tenant": r.tenant,
        "source": r.source,
        "key": r.key,
        "op": r.op,
        "version": r.version,
        "import_id": r.import_id,
        "message_id": r.message_id,
        "lane": int(r.lane),
        "payload": r.payload,
        "origin": r.origin,
        "origin_ref": r.origin_ref,
        "state": "done" if done else "pending",
        "status": r.result_status.value if r.result_status else None,
        "idp_id": r.idp_id,
        "reason_code": r.reason.code if r.reason else None,
        "reason_message": r.reason.message if r.reason else None,
        "attempts": 0,
        "not_before": 0.0,
        "received_at": now,
        "finished_at": now if done else None,
        "published": False,
    }


_COUNTER_NAMES = ("received", *COUNTED)
_BUMP = (
    update(imports)
    .where(imports.c.id == bindparam("iid"))
    .values(
        {
            **{name: getattr(imports.c, name) + bindparam(f"n_{name}") for name in _COUNTER_NAMES},
            "updated_at": bindparam("at"),
        }
    )
)
_ZERO_COUNTS = {f"n_{name}": 0 for name in _COUNTER_NAMES}
_DONE = sum((getattr(imports.c, s) for s in COUNTED), start=imports.c.created * 0)
_COMPLETE = (
    update(imports)
    .where(
        imports.c.id == bindparam("iid"),
        imports.c.input_done == True,  # noqa: E712
        imports.c.state == ImportState.RUNNING.value,
        imports.c.received == _DONE,
    )
    .values(state=ImportState.COMPLETED.value, finished_at=bindparam("at"))
)


def _bump_import(conn: Connection, import_id: str, counts: Counter[str], now: float) -> None:
    params: dict[str, object] = {f"n_{name}": counts.get(name, 0) for name in _COUNTER_NAMES}
    conn.execute(_BUMP, {**params, "iid": import_id, "at": now})
    _maybe_complete(conn, import_id, now)


def _maybe_complete(conn: Connection, import_id: str, now: float) -> None:
    conn.execute(_COMPLETE, {"iid": import_id, "at": now})


def _import(m: RowMapping) -> ImportRecord:
    return ImportRecord(
        id=m["id"],
        tenant=m["tenant"],
        origin=m["origin"],
        input_name=m["input_name"],
        state=ImportState(m["state"]),
        total=m["total"],
        counts={k: int(m[k]) for k in ("received", *COUNTED)},
        input_cursor=int(m["input_cursor"]),
        input_done=bool(m["input_done"]),
        rate=float(m["rate"]),
        started_at=float(m["started_at"]),
        updated_at=float(m["updated_at"]),
        finished_at=float(m["finished_at"]) if m["finished_at"] is not None else None,
    )
