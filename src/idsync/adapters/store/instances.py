"""The service instances sharing one store: heartbeats, budget shares, named leases.

Synchronous, like `Store` (the caller runs them through `AsyncStore.call`). Each runs on both
SQLite and PostgreSQL; on PostgreSQL the pool row of a bucket is locked `FOR UPDATE` so that
instances change their shares one at a time. Tables: `idsync.adapters.store.features.service`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from idsync.adapters.store.features.service import (
    budget_pools,
    budget_shares,
    service_instances,
    service_leases,
)
from idsync.adapters.store.repository import Repository
from idsync.domain.budget import OtherShare, Split, split

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = ["BucketReport", "ServiceStore"]


@dataclass(frozen=True)
class BucketReport:
    """One bucket as this instance's governor sees it at the start of a sync."""

    idp: str
    bucket: str
    budget: int  # calls per window at the configured share; 0 while the limit is unknown
    sent: int  # calls made in the current window
    demand: bool  # calls are waiting for a permit
    cap: int  # the governor's current cap


class ServiceStore(Repository):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.locks = self.dialect == "postgresql"

    # ---- instances ---------------------------------------------------------------------------

    def heartbeat(
        self, instance: str, host: str, pid: int, started_at: float, now: float, status: str | None = None
    ) -> None:
        """`status`: what the instance reports of itself (JSON), for the fleet view."""
        with self._tx() as conn:
            stmt = self._insert(service_instances).values(
                instance=instance,
                host=host[:200],
                pid=pid,
                started_at=started_at,
                heartbeat_at=now,
                status=status,
            )
            changed = {"heartbeat_at": now, "status": status}
            conn.execute(stmt.on_conflict_do_update(index_elements=["instance"], set_=changed))

    def fleet(self, ttl_s: float, now: float) -> list[dict[str, Any]]:
        """Every instance on the store (alive or not yet forgotten), with its budget shares and
        what it reported with its last heartbeat (`status`, JSON text)."""
        with self._tx() as conn:
            rows = [dict(r) for r in conn.execute(select(service_instances)).mappings()]
            shares = [dict(r) for r in conn.execute(select(budget_shares)).mappings()]
        for row in rows:
            row["alive"] = row["heartbeat_at"] >= now - ttl_s
            row["shares"] = sorted(
                (
                    {k: s[k] for k in ("idp", "bucket", "allowance", "sent")}
                    for s in shares
                    if s["instance"] == row["instance"]
                ),
                key=lambda s: (s["idp"], s["bucket"]),
            )
        return sorted(rows, key=lambda r: r["instance"])

    def live_instances(self, ttl_s: float, now: float) -> list[str]:
        with self._tx() as conn:
            q = select(service_instances.c.instance).where(service_instances.c.heartbeat_at >= now - ttl_s)
            return sorted(conn.execute(q).scalars())

    def gone_instances(self, ttl_s: float, now: float) -> list[str]:
        with self._tx() as conn:
            q = select(service_instances.c.instance).where(service_instances.c.heartbeat_at < now - ttl_s)
            return sorted(conn.execute(q).scalars())

    def leave(self, instance: str) -> None:
        """Forget an instance: its budget shares are free, its leases open, its heartbeat gone."""
        with self._tx() as conn:
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
        with self._tx() as conn:
            for r in sorted(reports, key=lambda r: (r.idp, r.bucket)):
                out[(r.idp, r.bucket)] = self._sync_bucket(conn, instance, r, now, ttl_s, grace_s)
        return out

    def _sync_bucket(
        self, conn: Connection, instance: str, r: BucketReport, now: float, ttl_s: float, grace_s: float
    ) -> Split:
        key = and_(budget_pools.c.idp == r.idp, budget_pools.c.bucket == r.bucket)
        conn.execute(
            self._insert(budget_pools)
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
        stmt = self._insert(budget_shares).values(idp=r.idp, bucket=r.bucket, instance=instance, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["idp", "bucket", "instance"], set_=values))
        return decided

    def shares(self, idp: str | None = None) -> list[dict[str, Any]]:
        """Every recorded share (for /metrics and tests)."""
        q = select(budget_shares).order_by(budget_shares.c.idp, budget_shares.c.bucket)
        if idp is not None:
            q = q.where(budget_shares.c.idp == idp)
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # ---- leases ----------------------------------------------------------------------------------

    def hold_lease(self, name: str, owner: str, ttl_s: float, now: float) -> bool:
        """Take or renew a named role; True while this owner holds it."""
        with self._tx() as conn:
            conn.execute(
                self._insert(service_leases)
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
        with self._tx() as conn:
            conn.execute(
                delete(service_leases).where(service_leases.c.name == name, service_leases.c.owner == owner)
            )
