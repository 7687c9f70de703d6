"""The service's own queries on the state store: heartbeats, budget shares, leases, the outbox.

Synchronous, like `Store` (the caller runs them through `AsyncStore.call`). Each runs on both
SQLite and PostgreSQL; on PostgreSQL the pool row of a bucket is locked `FOR UPDATE` so that
instances change their shares one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, or_, select, update

from idsync.adapters.store import Store
from idsync.adapters.store.features.service import (
    budget_pools,
    budget_shares,
    service_instances,
    service_leases,
)
from idsync.adapters.store.schema import changes, imports
from idsync.domain.records import ImportRecord
from idsync.service.budget import OtherShare, Split, split


@dataclass(frozen=True)
class BucketReport:
    """One bucket as this instance's governor sees it at the start of a sync."""

    idp: str
    bucket: str
    budget: int  # calls per window at the configured share; 0 while the limit is unknown
    sent: int  # calls made in the current window
    demand: bool  # calls are waiting for a permit
    cap: int  # the governor's current cap


@dataclass(frozen=True)
class PublishRow:
    id: int
    tenant: str
    source: str
    key: str
    version: int | None
    import_id: str | None
    message_id: str | None
    status: str
    idp_id: str | None
    reason_code: str | None
    reason_message: str | None
    origin_ref: str | None
    activation_url: str | None = None


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(table)


class ServiceStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self.locks = store.dialect == "postgresql"

    # ---- instances ---------------------------------------------------------------------------

    def heartbeat(self, instance: str, host: str, pid: int, started_at: float, now: float) -> None:
        with self.engine.begin() as conn:
            stmt = _insert(conn, service_instances).values(
                instance=instance, host=host[:200], pid=pid, started_at=started_at, heartbeat_at=now
            )
            conn.execute(stmt.on_conflict_do_update(index_elements=["instance"], set_={"heartbeat_at": now}))

    def live_instances(self, ttl_s: float, now: float) -> list[str]:
        with self.engine.begin() as conn:
            q = select(service_instances.c.instance).where(service_instances.c.heartbeat_at >= now - ttl_s)
            return sorted(conn.execute(q).scalars())

    def gone_instances(self, ttl_s: float, now: float) -> list[str]:
        with self.engine.begin() as conn:
            q = select(service_instances.c.instance).where(service_instances.c.heartbeat_at < now - ttl_s)
            return sorted(conn.execute(q).scalars())

    def leave(self, instance: str) -> None:
        """Forget an instance: its budget shares are free, its leases open, its heartbeat gone."""
        with self.engine.begin() as conn:
            conn.execute(delete(budget_shares).where(budget_shares.c.instance == instance))
            conn.execute(delete(service_leases).where(service_leases.c.owner == instance))
            conn.execute(delete(service_instances).where(service_instances.c.instance == instance))

    # ---- budget shares -------------------------------------------------------------------------

    def sync_budget(
        self, instance: str, reports: Sequence[BucketReport], *, now: float, ttl_s: float, grace_s: float
    ) -> dict[tuple[str, str], Split]:
        """Record this instance's shares and compute its next ones, bucket by bucket, in one
        transaction (pool rows locked in a fixed order: no deadlock between instances)."""
        out: dict[tuple[str, str], Split] = {}
        with self.engine.begin() as conn:
            for r in sorted(reports, key=lambda r: (r.idp, r.bucket)):
                out[(r.idp, r.bucket)] = self._sync_bucket(conn, instance, r, now, ttl_s, grace_s)
        return out

    def _sync_bucket(
        self, conn: Connection, instance: str, r: BucketReport, now: float, ttl_s: float, grace_s: float
    ) -> Split:
        key = and_(budget_pools.c.idp == r.idp, budget_pools.c.bucket == r.bucket)
        conn.execute(
            _insert(conn, budget_pools)
            .values(idp=r.idp, bucket=r.bucket, budget=r.budget, updated_at=now)
            .on_conflict_do_nothing()
        )
        q = select(budget_pools.c.budget).where(key)
        if self.locks:
            q = q.with_for_update()
        pool_budget = int(conn.execute(q).scalar_one())
        budget = r.budget or pool_budget
        if r.budget and r.budget != pool_budget:
            conn.execute(update(budget_pools).where(key).values(budget=r.budget, updated_at=now))
        shares = and_(budget_shares.c.idp == r.idp, budget_shares.c.bucket == r.bucket)
        conn.execute(
            delete(budget_shares).where(
                shares, budget_shares.c.instance != instance, budget_shares.c.heartbeat_at < now - ttl_s
            )
        )
        rows = conn.execute(select(budget_shares).where(shares)).mappings().all()
        others = [
            OtherShare(row["instance"], int(row["allowance"]), row["demand_at"] >= now - grace_s)
            for row in rows
            if row["instance"] != instance
        ]
        previous_demand = next((row["demand_at"] for row in rows if row["instance"] == instance), 0.0)
        # Work comes in bursts (the worker claims users in batches): a short pause is not idleness.
        demand = r.demand or previous_demand >= now - grace_s
        mine = max(r.cap, r.sent)  # calls already made count, even a probe made before any share
        decided = split(budget, mine, others, demand) if budget > 0 else Split(mine, r.cap)
        values = {
            "allowance": decided.recorded,
            "sent": r.sent,
            "demand_at": now if r.demand else previous_demand,
            "heartbeat_at": now,
        }
        stmt = _insert(conn, budget_shares).values(idp=r.idp, bucket=r.bucket, instance=instance, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["idp", "bucket", "instance"], set_=values))
        return decided

    def shares(self, idp: str | None = None) -> list[dict[str, Any]]:
        """Every recorded share (for /metrics and tests)."""
        q = select(budget_shares).order_by(budget_shares.c.idp, budget_shares.c.bucket)
        if idp is not None:
            q = q.where(budget_shares.c.idp == idp)
        with self.engine.begin() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # ---- leases ----------------------------------------------------------------------------------

    def hold_lease(self, name: str, owner: str, ttl_s: float, now: float) -> bool:
        """Take or renew a named role; True while this owner holds it."""
        with self.engine.begin() as conn:
            conn.execute(
                _insert(conn, service_leases)
                .values(name=name, owner=owner, lease_until=now + ttl_s)
                .on_conflict_do_nothing()
            )
            got = conn.execute(
                update(service_leases)
                .where(
                    service_leases.c.name == name,
                    or_(service_leases.c.owner == owner, service_leases.c.lease_until < now),
                )
                .values(owner=owner, lease_until=now + ttl_s)
            )
            return bool(got.rowcount)

    def drop_lease(self, name: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(service_leases).where(service_leases.c.name == name, service_leases.c.owner == owner)
            )

    # ---- the outbox: results to send back on the channel a change came in on ---------------------

    def unpublished(self, origin: str, limit: int) -> list[PublishRow]:
        c = changes.c
        q = (
            select(
                c.id,
                c.tenant,
                c.source,
                c.key,
                c.version,
                c.import_id,
                c.message_id,
                c.status,
                c.idp_id,
                c.reason_code,
                c.reason_message,
                c.origin_ref,
                c.activation_url,
            )
            .where(c.state == "done", c.published == False, c.origin == origin)  # noqa: E712
            .order_by(c.id)
            .limit(limit)
        )
        with self.engine.begin() as conn:
            return [PublishRow(**dict(r)) for r in conn.execute(q).mappings()]

    def mark_published(self, ids: Sequence[int]) -> None:
        with self.engine.begin() as conn:
            for i in range(0, len(ids), 500):
                conn.execute(update(changes).where(changes.c.id.in_(ids[i : i + 500])).values(published=True))

    def imports_to_report(self, origin: str, changed_since: float) -> list[ImportRecord]:
        """Imports that came in on `origin` and changed since the last report, or still have
        changes to do (a Kafka import without `import_end` stays running, but once all it
        received is done and nothing more comes, there is nothing new to say)."""
        q = select(imports.c.id).where(
            imports.c.origin == origin,
            or_(imports.c.state == "running", imports.c.updated_at >= changed_since),
        )
        with self.engine.begin() as conn:
            ids = list(conn.execute(q.order_by(imports.c.started_at)).scalars())
        records = [r for r in (self.store.imports.get(i) for i in ids) if r is not None]
        return [
            r
            for r in records
            if r.updated_at >= changed_since
            or r.progress().pending > 0
            or (r.total is not None and not r.input_done and r.counts["received"] >= r.total)
        ]
