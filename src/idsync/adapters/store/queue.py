"""The durable two-lane queue: claims (leases) of users being worked on, interactive lane first,
and their results, group-committed with the links they produced and the import counters."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from idsync.adapters.store import links as link_sql
from idsync.adapters.store.common import CHUNK, Part, add_calls, bump_import, chunks, execute_many
from idsync.adapters.store.controls import blocked_users, paused_imports, settle_stopped
from idsync.adapters.store.line_marks import mark_lines
from idsync.adapters.store.schema import changes, claims, links
from idsync.domain.links import Link
from idsync.domain.models import Lane, user_key
from idsync.domain.records import ClaimedUser, Finished, Outcome, QueuedChange

__all__ = ["ChangeQueue"]

# The claim's statements, built once: a claim runs every few users, and building a SQLAlchemy
# statement costs more than SQLite takes to run it.
_CANDIDATES = (
    select(changes.c.id, changes.c.user_key, changes.c.lane)
    .where(
        changes.c.state == "pending",
        changes.c.not_before <= bindparam("now"),
        changes.c.lane.in_(bindparam("lanes", expanding=True)),
    )
    .order_by(changes.c.lane, changes.c.id)
    .limit(bindparam("lim"))
)
_CANDIDATES_LOCKED = _CANDIDATES.with_for_update(skip_locked=True)
_HELD = select(claims.c.user_key).where(claims.c.user_key.in_(bindparam("keys", expanding=True)))
_CLAIM = insert(claims)
_TAKEN_CHANGES = (
    select(changes)
    .where(
        changes.c.user_key.in_(bindparam("keys", expanding=True)),
        # Implied by `pending`, but SQLite uses the partial index of open changes by user only when
        # its condition is written out: without it, every claim scanned the whole table.
        changes.c.state != "done",
        changes.c.state == "pending",
        changes.c.not_before <= bindparam("now"),
    )
    .order_by(changes.c.id)
)
_DROP_IDLE = delete(claims).where(
    claims.c.user_key.in_(bindparam("keys", expanding=True)), claims.c.owner == bindparam("owner")
)
_INFLIGHT = update(changes).where(changes.c.id.in_(bindparam("ids", expanding=True))).values(state="inflight")
# By (tenant, source) and a list of keys: SQLite scans the whole table for a list of row values.
_CLAIMED_LINKS = select(links).where(
    links.c.tenant == bindparam("tenant"),
    links.c.source == bindparam("source"),
    links.c.key.in_(bindparam("keys", expanding=True)),
)


class ChangeQueue(Part):
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
        run concurrently. `lane_limits` caps the users taken per lane. A user with a change of a
        paused import waits (adapters/store/controls.py).
        """
        now = time.time() if now is None else now
        with self._tx() as conn:
            q = _CANDIDATES_LOCKED if self.dialect == "postgresql" else _CANDIDATES
            candidates: dict[str, Lane] = {}
            for _id, key, lane in conn.execute(
                q, {"now": now, "lanes": [int(x) for x in lanes], "lim": limit * 4}
            ):
                if key not in candidates:
                    candidates[key] = Lane(lane)
            if not candidates:
                return []
            held = set(conn.execute(_HELD, {"keys": list(candidates)}).scalars())
            paused = paused_imports(conn)
            if paused:
                held |= blocked_users(conn, list(candidates), paused)
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
            rows = conn.execute(_TAKEN_CHANGES, {"keys": taken, "now": now}).mappings().all()
            rows = settle_stopped(conn, rows, now)  # changes of imports paused or cancelled meanwhile
            idle = set(taken) - {r["user_key"] for r in rows}
            if idle:
                conn.execute(_DROP_IDLE, {"keys": sorted(idle), "owner": owner})
            conn.execute(_INFLIGHT, {"ids": [r["id"] for r in rows]})
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
                        r["line_fp"],
                    )
                )
            by_source: dict[tuple[str, str], list[str]] = {}
            for u in grouped.values():
                by_source.setdefault((u.tenant, u.source), []).append(u.key)
            found = {
                (r["tenant"], r["source"], r["key"]): link_sql.link_from_row(r)
                for (tenant, source), keys in by_source.items()
                for r in conn.execute(
                    _CLAIMED_LINKS, {"tenant": tenant, "source": source, "keys": keys}
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
        conn.execute(_CLAIM, [{"user_key": k, "owner": owner, "lease_until": lease_until} for k in wanted])
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
            for chunk in chunks(dead, CHUNK):
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
        self,
        *,
        saved_links: Sequence[Link] = (),
        finished: Sequence[Finished] = (),
        api_calls: Mapping[str, int] | None = None,
        now: float | None = None,
    ) -> None:
        """One transaction for many workers' writes (group commit): links (write-ahead intents and
        results), outcomes of finished changes, import counters and API calls, released claims."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            latest: dict[tuple[str, str, str], Link] = {}
            for link in saved_links:
                latest[(link.tenant, link.source, link.key)] = link
            if latest:
                link_sql.upsert_links(conn, list(latest.values()), now)
            mark_lines(conn, [f.line_mark for f in finished if f.line_mark is not None])
            outcomes = [o for f in finished for o in f.outcomes]
            if outcomes:
                execute_many(
                    conn,
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
            calls = {imp: n for imp, n in (api_calls or {}).items() if n}
            for imp in sorted(by_import.keys() | calls.keys()):  # one lock order: no deadlock
                if imp in calls:
                    add_calls(conn, imp, calls[imp])
                if imp in by_import:
                    bump_import(conn, imp, by_import[imp], now)
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

    def pending_by_lane(self, cap: int | None = None) -> dict[Lane, int]:
        """Changes waiting to be claimed, per lane (served by the partial index of pending rows);
        with `cap`, counted up to `cap` a lane (a count of a million pending rows takes 0.2 s)."""
        depth = dict.fromkeys(Lane, 0)
        with self._tx() as conn:
            if cap is not None:
                for lane in Lane:
                    first = (
                        select(changes.c.id)
                        .where(changes.c.state == "pending", changes.c.lane == int(lane))
                        .limit(cap)
                        .subquery()
                    )
                    depth[lane] = int(conn.execute(select(func.count()).select_from(first)).scalar_one())
                return depth
            rows = conn.execute(
                select(changes.c.lane, func.count())
                .where(changes.c.state == "pending")
                .group_by(changes.c.lane)
            ).all()
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
_RELEASE = delete(claims).where(claims.c.user_key == bindparam("uk"), claims.c.owner == bindparam("ow"))
