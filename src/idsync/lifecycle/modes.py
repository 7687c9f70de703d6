"""A tenant switched to `sync_and_activate` gets its staged users activated (seed: "Users that have
been previously synchronized without activation will get activated").

The mode lives in the configuration file, so the switch happens while idsync is stopped: an
operator edits `mode = "sync_and_activate"` and restarts `idsync serve` (or runs `idsync import`).
At every start-up the runtime compares each tenant's configured mode with the mode the store last
saw. A tenant now in `sync_and_activate` that was not before (or was never seen) and has STAGED
users gets one activation job queued, the same job `idsync activate` runs; the service's worker
(or the import's) carries it out at the governor's pace, and `idsync status JOB` shows it.

Safe under crashes and several instances: the new mode and the job id are written in one
compare-and-set, so only one instance queues the job; queuing is idempotent (one change per user
and job), and a start-up that finds the recorded job not fully queued queues the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from idsync.adapters.store.features.activation import (
    get_tenant_mode,
    known_tenants,
    record_job,
    switch_mode,
)
from idsync.adapters.store.features.audit import record_audit
from idsync.config import DEFAULT_TENANT
from idsync.domain.links import IdpStatus
from idsync.domain.policy import SyncMode
from idsync.engine.activation import enqueue_activation
from idsync.lifecycle.activation import ORIGIN, new_job_id

if TYPE_CHECKING:
    from idsync.runtime import Runtime

__all__ = ["ModeSwitch", "activate_on_mode_switch"]

log = logging.getLogger("idsync.lifecycle.modes")
CONFIG_ACTOR = "config"  # the audit trail's name for a change made in the configuration file


@dataclass(frozen=True)
class ModeSwitch:
    tenant: str
    old: str | None  # None: never seen before
    new: str
    job_id: str | None  # the activation job queued for the staged users
    staged: int


async def check_mode_switches(runtime: Runtime) -> list[ModeSwitch]:
    """At the start of a command or the service: tenants switched to sync_and_activate since the
    last start get their staged users activated. A failure here is logged, never fatal: the next
    start-up tries again, and the work at hand goes on."""
    try:
        return await activate_on_mode_switch(runtime)
    except Exception:
        log.exception("could not check the tenants' sync modes for a switch to sync_and_activate")
        return []


async def activate_on_mode_switch(runtime: Runtime) -> list[ModeSwitch]:
    """Record each tenant's mode; queue an activation job where the mode became sync_and_activate."""
    db = runtime.db
    stores = runtime.stores
    settings = runtime.settings
    tenants = {t for t in settings.tenants if t != DEFAULT_TENANT}
    if DEFAULT_TENANT in settings.tenants:
        tenants.update(await db.call(known_tenants, db.store))
    switches: list[ModeSwitch] = []
    for tenant in sorted(tenants):
        policy = settings.policy(tenant)
        if policy is None:
            continue
        mode = policy.mode.value
        seen = await db.call(get_tenant_mode, db.store, tenant)
        if seen is not None and seen.mode == mode:
            if seen.activation_job and mode == SyncMode.SYNC_AND_ACTIVATE.value:
                await _finish_queueing(runtime, tenant, seen.activation_job)
            continue
        job_id = None
        staged = 0
        if policy.mode is SyncMode.SYNC_AND_ACTIVATE:
            staged = await stores.links.count(tenant, [IdpStatus.STAGED], None)
            job_id = new_job_id(tenant) if staged else None
        old = seen.mode if seen is not None else None
        if not await db.call(switch_mode, db.store, tenant, expected=old, mode=mode, activation_job=job_id):
            continue  # another instance recorded this switch and acts on it
        if job_id is not None:
            await db.call(record_job, db.store, job_id, tenant, None, "mode_switch")
            await enqueue_activation(stores, job_id, tenant, origin=ORIGIN)
            runtime.worker.notify()
            log.warning(
                "tenant %s: sync mode is now %s (was %s); activation job %s queued for %d staged users",
                tenant,
                mode,
                old or "not seen before",
                job_id,
                staged,
            )
        if old is not None:  # a switch (not the first sighting): the configuration file did it
            detail = {"from": old, "to": mode, "activation_job": job_id, "staged": staged}
            await db.call(
                record_audit,
                db.store,
                actor=CONFIG_ACTOR,
                action="mode.switch",
                target=tenant,
                tenant=tenant,
                outcome="ok",
                detail=detail,
            )
        switches.append(ModeSwitch(tenant, old, mode, job_id, staged))
    return switches


async def _finish_queueing(runtime: Runtime, tenant: str, job_id: str) -> None:
    """A start-up after a crash between recording the switch and queuing every user."""
    db = runtime.db
    stores = runtime.stores
    record = await stores.imports.get(job_id)
    if record is None or not record.input_done:
        await db.call(record_job, db.store, job_id, tenant, None, "mode_switch")
        await enqueue_activation(stores, job_id, tenant, origin=ORIGIN)
        runtime.worker.notify()
