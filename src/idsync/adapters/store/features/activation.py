"""Activation jobs (phase 2) and the sync mode each tenant was last seen in.

- `activation_jobs`: which tenant (and source) an activation job is for and what started it, so
  `idsync activate` finds a job that was interrupted and resumes it instead of starting another.
  Its counters and changes live in the core `imports`/`changes` tables like any import.
- `tenant_modes`: each tenant's sync mode in force. The configuration gives the first value;
  `idsync tenants set-mode` / `PUT /tenants/{t}/mode` change it at runtime (every instance reads
  it within seconds: engine/policies.py), and an edited configuration file changes it at the
  next start-up (`config_mode` is the configuration's value last applied, so an edit is seen as
  one). A switch and the activation job it queues are written in one compare-and-set, so only
  one instance queues the job and a crash in between resumes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    "all_tenant_modes",
    "find_running_job",
    "get_job",
    "get_tenant_mode",
    "known_tenants",
    "list_jobs",
    "note_config_mode",
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
    Column("config_mode", String(32)),  # the configuration file's mode last applied
    Column("set_by", String(200)),  # who made the last switch (audit actor; `config`: the file)
    Column("previous_mode", String(32)),  # the mode before the last switch
)


def _create_tables(conn: Connection) -> None:
    activation_jobs.create(conn, checkfirst=True)
    tenant_modes.create(conn, checkfirst=True)


schema.register(
    "activation_0001",
    "activation_jobs and tenant_modes: resumable phase-2 jobs; mode switches seen at start-up",
    _create_tables,
)


def _runtime_modes(conn: Connection) -> None:
    for column in ("config_mode VARCHAR(32)", "set_by VARCHAR(200)", "previous_mode VARCHAR(32)"):
        conn.exec_driver_sql(f"ALTER TABLE tenant_modes ADD COLUMN {column}")
    conn.execute(update(tenant_modes).values(config_mode=tenant_modes.c.mode))


schema.register(
    "activation_0002",
    "tenant_modes: the mode set at runtime, who set it, the configuration's value last applied",
    _runtime_modes,
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
    config_mode: str | None = None
    set_by: str | None = None
    previous_mode: str | None = None


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
        r = conn.execute(select(tenant_modes).where(tenant_modes.c.tenant == tenant)).mappings().first()
    return _mode(r) if r is not None else None


def all_tenant_modes(store: Store) -> list[TenantMode]:
    """Every tenant's stored mode (a few rows: read by every instance every few seconds)."""
    with store.engine.begin() as conn:
        rows = conn.execute(select(tenant_modes).order_by(tenant_modes.c.tenant)).mappings().all()
    return [_mode(r) for r in rows]


def _mode(r: Any) -> TenantMode:
    return TenantMode(
        r["tenant"],
        r["mode"],
        r["activation_job"],
        float(r["changed_at"]),
        r["config_mode"],
        r["set_by"],
        r["previous_mode"],
    )


def switch_mode(
    store: Store,
    tenant: str,
    *,
    expected: str | None,
    mode: str,
    activation_job: str | None,
    set_by: str | None = None,
    config_mode: str | None = None,
    now: float | None = None,
) -> bool:
    """Compare-and-set the tenant's mode (`expected` None: no row yet). True when this caller
    made the change, so exactly one instance acts on a switch. `config_mode` records the
    configuration's value applied (None: unchanged; the first row takes `mode`)."""
    now = time.time() if now is None else now
    values: dict[str, Any] = {
        "mode": mode,
        "activation_job": activation_job,
        "changed_at": now,
        "set_by": set_by,
        "previous_mode": expected,
    }
    if config_mode is not None or expected is None:
        values["config_mode"] = config_mode or mode
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


def note_config_mode(store: Store, tenant: str, config_mode: str) -> None:
    """The configuration's mode was edited to the mode already in force: remember it as applied."""
    with store.engine.begin() as conn:
        conn.execute(
            update(tenant_modes).where(tenant_modes.c.tenant == tenant).values(config_mode=config_mode)
        )


def known_tenants(store: Store) -> list[str]:
    """Every tenant that has identity links (for tenants configured through the `*` default)."""
    with store.engine.begin() as conn:
        return [str(t) for t in conn.execute(select(links.c.tenant).distinct()).scalars()]
