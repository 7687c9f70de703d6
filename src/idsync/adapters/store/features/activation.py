"""Activation jobs (phase 2) and the sync mode each tenant was last seen in.

- `activation_jobs`: which tenant (and source) an activation job is for and what started it, so
  `idsync activate` finds a job that was interrupted and resumes it instead of starting another.
  Its counters and changes live in the core `imports`/`changes` tables like any import.
- `tenant_modes`: the mode lives in the configuration file, so a switch to `sync_and_activate`
  happens while idsync is not looking. Remembering the last mode seen turns the switch into an
  event at the next start-up; the activation job it queues is recorded in the same transaction
  (compare-and-set), so only one instance queues it and a crash in between resumes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Float, String, Table, desc, insert, select, update
from sqlalchemy.exc import IntegrityError

from idsync.adapters.store import schema
from idsync.adapters.store.schema import imports, links

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = [
    "ActivationJob",
    "TenantMode",
    "activation_jobs",
    "find_running_job",
    "get_job",
    "get_tenant_mode",
    "known_tenants",
    "list_jobs",
    "record_job",
    "switch_mode",
    "tenant_modes",
]

activation_jobs = Table(
    "activation_jobs",
    schema.metadata,
    Column("id", String(100), primary_key=True),
    Column("tenant", String(100), nullable=False),
    Column("source", String(100)),  # None: every source of the tenant
    Column("trigger", String(32), nullable=False),  # cli | api | mode_switch
    Column("created_at", Float, nullable=False),
)

tenant_modes = Table(
    "tenant_modes",
    schema.metadata,
    Column("tenant", String(100), primary_key=True),
    Column("mode", String(32), nullable=False),
    Column("activation_job", String(100)),  # queued by the switch to sync_and_activate
    Column("changed_at", Float, nullable=False),
)


def _create_tables(conn: Connection) -> None:
    activation_jobs.create(conn, checkfirst=True)
    tenant_modes.create(conn, checkfirst=True)


schema.register(
    "activation_0001",
    "activation_jobs and tenant_modes: resumable phase-2 jobs; mode switches seen at start-up",
    _create_tables,
)


@dataclass(frozen=True)
class ActivationJob:
    id: str
    tenant: str
    source: str | None
    trigger: str
    created_at: float


@dataclass(frozen=True)
class TenantMode:
    tenant: str
    mode: str
    activation_job: str | None
    changed_at: float


def record_job(
    store: Store, job_id: str, tenant: str, source: str | None, trigger: str, now: float | None = None
) -> None:
    now = time.time() if now is None else now
    try:
        with store.engine.begin() as conn:
            conn.execute(
                insert(activation_jobs).values(
                    id=job_id, tenant=tenant, source=source, trigger=trigger, created_at=now
                )
            )
    except IntegrityError:
        pass  # recorded before (a resumed job)


def get_job(store: Store, job_id: str) -> ActivationJob | None:
    with store.engine.begin() as conn:
        r = conn.execute(select(activation_jobs).where(activation_jobs.c.id == job_id)).first()
    return ActivationJob(r.id, r.tenant, r.source, r.trigger, r.created_at) if r is not None else None


def find_running_job(store: Store, tenant: str, source: str | None) -> ActivationJob | None:
    """The newest activation job of this tenant and source that has not completed."""
    q = (
        select(activation_jobs)
        .join(imports, imports.c.id == activation_jobs.c.id)
        .where(activation_jobs.c.tenant == tenant, imports.c.state == "running")
        .order_by(desc(activation_jobs.c.created_at))
        .limit(1)
    )
    q = q.where(activation_jobs.c.source.is_(None) if source is None else activation_jobs.c.source == source)
    with store.engine.begin() as conn:
        r = conn.execute(q).first()
    return ActivationJob(r.id, r.tenant, r.source, r.trigger, r.created_at) if r is not None else None


def list_jobs(store: Store, tenant: str | None = None, limit: int = 50) -> list[ActivationJob]:
    q = select(activation_jobs).order_by(desc(activation_jobs.c.created_at)).limit(limit)
    if tenant is not None:
        q = q.where(activation_jobs.c.tenant == tenant)
    with store.engine.begin() as conn:
        return [ActivationJob(r.id, r.tenant, r.source, r.trigger, r.created_at) for r in conn.execute(q)]


def get_tenant_mode(store: Store, tenant: str) -> TenantMode | None:
    with store.engine.begin() as conn:
        r = conn.execute(select(tenant_modes).where(tenant_modes.c.tenant == tenant)).first()
    return TenantMode(r.tenant, r.mode, r.activation_job, r.changed_at) if r is not None else None


def switch_mode(
    store: Store,
    tenant: str,
    *,
    expected: str | None,
    mode: str,
    activation_job: str | None,
    now: float | None = None,
) -> bool:
    """Compare-and-set the tenant's last seen mode (`expected` None: never seen). True when this
    caller made the change, so exactly one instance acts on a switch."""
    now = time.time() if now is None else now
    values = {"mode": mode, "activation_job": activation_job, "changed_at": now}
    try:
        with store.engine.begin() as conn:
            if expected is None:
                conn.execute(insert(tenant_modes).values(tenant=tenant, **values))
                return True
            done = conn.execute(
                update(tenant_modes)
                .where(tenant_modes.c.tenant == tenant, tenant_modes.c.mode == expected)
                .values(**values)
            ).rowcount
            return bool(done == 1)
    except IntegrityError:
        return False


def known_tenants(store: Store) -> list[str]:
    """Every tenant that has identity links (for tenants configured through the `*` default)."""
    with store.engine.begin() as conn:
        return [str(t) for t in conn.execute(select(links.c.tenant).distinct()).scalars()]
