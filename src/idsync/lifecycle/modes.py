"""A tenant's sync mode: switched at runtime or in the configuration file; a switch to
`sync_and_activate` gets the tenant's staged users activated (seed: "Users that have been
previously synchronized without activation will get activated").

The mode in force lives in the store (`tenant_modes`); the configuration gives each tenant's
first value. Two ways to switch:

- at runtime, `idsync tenants set-mode T MODE` or `PUT /tenants/{t}/mode` (`set_mode`): in force
  on every instance within `service.mode_refresh_s` (engine/policies.py); audited with its actor;
- in the configuration file: at the next start-up (`check_mode_switches`), a tenant whose
  configured mode differs from the configuration's value last applied is switched to it (actor
  `config`). A mode switched at runtime stays in force across restarts until the file is edited.

A switch to `sync_and_activate` of a tenant with STAGED users queues one activation job, the job
`idsync activate` runs; the worker of the service (or of an import) carries it out at the
governor's pace. `estimate_switch` says beforehand how many users and how long.

Safe under crashes and several instances: the new mode and the job id are written in one
compare-and-set, so only one instance queues the job; queuing is idempotent (one change per user
and job), and a start-up that finds the recorded job not fully queued queues the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.features.activation import (
    TenantMode,
    get_tenant_mode,
    known_tenants,
    note_config_mode,
    record_job,
    switch_mode,
)
from idsync.adapters.store.features.audit import Outcome, record_audit
from idsync.adapters.store.sql import Store
from idsync.config import DEFAULT_TENANT, Settings
from idsync.domain.links import IdpStatus
from idsync.domain.policy import SyncMode, TenantPolicy
from idsync.engine.activation import enqueue_activation
from idsync.engine.governor import Governor
from idsync.errors import IdSyncError
from idsync.lifecycle.activation import ORIGIN, ActivationEstimate, estimate_activation, new_job_id
from idsync.ports import Stores

__all__ = [
    "CONFIG_ACTOR",
    "ModeConflict",
    "ModeHost",
    "ModeSwitch",
    "UnknownTenant",
    "activate_on_mode_switch",
    "check_mode_switches",
    "estimate_switch",
    "set_mode",
    "tenant_names",
]

log = logging.getLogger("idsync.lifecycle.modes")
CONFIG_ACTOR = "config"  # the audit trail's name for a change made in the configuration file


class UnknownTenant(IdSyncError):
    """The tenant is not configured."""


class ModeConflict(IdSyncError):
    """The tenant is in that mode already, or another caller switched it meanwhile."""


class ModeHost(Protocol):
    """What a mode switch needs: the `Runtime` of a command or the service, or the bare store
    of `idsync tenants set-mode` (which must not take over a running service's claims)."""

    settings: Settings
    db: AsyncStore
    store: Store
    stores: Stores

    @property
    def governors(self) -> Mapping[str, Governor]: ...

    async def mode_switched(self) -> None:
        """Apply a new mode here at once (the others read it within `mode_refresh_s`)."""
        ...


@dataclass(frozen=True)
class ModeSwitch:
    tenant: str
    old: str | None  # None: never seen before
    new: str
    job_id: str | None  # the activation job queued for the staged users
    staged: int


async def tenant_names(runtime: ModeHost) -> list[str]:
    """The configured tenants; with a `*` tenant, also those the store knows (links or a mode)."""
    settings = runtime.settings
    tenants = {t for t in settings.tenants if t != DEFAULT_TENANT}
    if DEFAULT_TENANT in settings.tenants:
        tenants.update(await runtime.db.call(known_tenants, runtime.store))
    return sorted(tenants)


async def check_mode_switches(runtime: ModeHost) -> list[ModeSwitch]:
    """At the start of a command or the service: apply the configuration's modes where they are
    new or were edited. A failure here is logged, never fatal: the next start-up tries again,
    and the work at hand goes on."""
    try:
        return await activate_on_mode_switch(runtime)
    except Exception:
        log.exception("could not check the tenants' sync modes for a switch to sync_and_activate")
        return []


async def activate_on_mode_switch(runtime: ModeHost) -> list[ModeSwitch]:
    """Record each tenant's first mode; switch those whose configured mode was edited; queue an
    activation job where the mode became sync_and_activate."""
    db = runtime.db
    switches: list[ModeSwitch] = []
    for tenant in await tenant_names(runtime):
        policy = runtime.settings.policy(tenant)
        if policy is None:
            continue
        configured = policy.mode.value
        seen = await db.call(get_tenant_mode, db.store, tenant)
        if seen is not None and (seen.config_mode or seen.mode) == configured:
            if seen.activation_job and seen.mode == SyncMode.SYNC_AND_ACTIVATE.value:
                await _finish_queueing(runtime, tenant, seen.activation_job)
            continue  # the file is as it was: the mode in force (perhaps set at runtime) stays
        if seen is not None and seen.mode == configured:
            await db.call(note_config_mode, db.store, tenant, configured)  # edited to what holds
            continue
        switch = await _switch(runtime, tenant, seen, SyncMode(configured), CONFIG_ACTOR, configured)
        if switch is not None:
            switches.append(switch)
    await runtime.mode_switched()
    return switches


async def estimate_switch(runtime: ModeHost, tenant: str, mode: SyncMode) -> ActivationEstimate | None:
    """What switching `tenant` to `mode` would start: for sync_and_activate, the activation of
    its staged users (how many, e-mails, calls, duration; no IdP call); else None."""
    policy = _policy(runtime, tenant)
    if mode is not SyncMode.SYNC_AND_ACTIVATE:
        return None
    live = runtime.governors.get(policy.idp)  # what a running service learned of the limits
    return await runtime.db.call(
        estimate_activation, runtime.store, runtime.settings, tenant, None, live=live
    )


async def set_mode(runtime: ModeHost, tenant: str, mode: SyncMode, *, actor: str) -> ModeSwitch:
    """Switch `tenant` to `mode` now (audited as `actor`); in force on this instance at once and
    on the others within `service.mode_refresh_s`. Raises `UnknownTenant` or `ModeConflict`."""
    policy = _policy(runtime, tenant)
    seen = await runtime.db.call(get_tenant_mode, runtime.store, tenant)
    current = seen.mode if seen is not None else policy.mode.value
    if current == mode.value:
        await _audit(runtime, actor, tenant, "failed", {"to": mode.value, "reason": "already in this mode"})
        raise ModeConflict(f"tenant {tenant!r} is in mode {mode.value} already")
    config_mode = seen.config_mode if seen is not None else policy.mode.value
    switch = await _switch(runtime, tenant, seen, mode, actor, config_mode)
    if switch is None:
        await _audit(runtime, actor, tenant, "failed", {"to": mode.value, "reason": "switched meanwhile"})
        raise ModeConflict(f"tenant {tenant!r}: the mode was switched meanwhile; look again")
    await runtime.mode_switched()
    return switch


def _policy(runtime: ModeHost, tenant: str) -> TenantPolicy:
    policy = runtime.settings.policy(tenant)
    if policy is None:
        known = ", ".join(t for t in runtime.settings.tenants) or "none"
        raise UnknownTenant(f"tenant {tenant!r} is not configured (known: {known})")
    return policy


async def _switch(
    runtime: ModeHost,
    tenant: str,
    seen: TenantMode | None,
    mode: SyncMode,
    actor: str,
    config_mode: str | None,
) -> ModeSwitch | None:
    """Compare-and-set the mode (None: another caller switched first); queue the activation job
    of a switch to sync_and_activate; audit a switch (not the first sighting of a tenant)."""
    db = runtime.db
    job_id = None
    staged = 0
    if mode is SyncMode.SYNC_AND_ACTIVATE:
        staged = await runtime.stores.links.count(tenant, [IdpStatus.STAGED], None)
        job_id = new_job_id(tenant) if staged else None
    old = seen.mode if seen is not None else None
    if not await db.call(
        switch_mode,
        db.store,
        tenant,
        expected=old,
        mode=mode.value,
        activation_job=job_id,
        set_by=actor,
        config_mode=config_mode,
    ):
        return None
    if job_id is not None:
        await db.call(record_job, db.store, job_id, tenant, None, "mode_switch")
        await enqueue_activation(runtime.stores, job_id, tenant, origin=ORIGIN)
        log.warning(
            "tenant %s: sync mode is now %s (was %s); activation job %s queued for %d staged users",
            tenant,
            mode.value,
            old or "not seen before",
            job_id,
            staged,
        )
    elif old is not None:
        log.warning("tenant %s: sync mode is now %s (was %s), by %s", tenant, mode.value, old, actor)
    if old is not None:  # a switch, not the first sighting
        detail: dict[str, object] = {
            "from": old,
            "to": mode.value,
            "activation_job": job_id,
            "staged": staged,
        }
        await _audit(runtime, actor, tenant, "ok", detail)
    return ModeSwitch(tenant, old, mode.value, job_id, staged)


async def _audit(
    runtime: ModeHost, actor: str, tenant: str, outcome: Outcome, detail: dict[str, object]
) -> None:
    await runtime.db.call(
        record_audit,
        runtime.store,
        actor=actor,
        action="mode.switch",
        target=tenant,
        tenant=tenant,
        outcome=outcome,
        detail=detail,
    )


async def _finish_queueing(runtime: ModeHost, tenant: str, job_id: str) -> None:
    """A start-up after a crash between recording the switch and queuing every user."""
    db = runtime.db
    stores = runtime.stores
    record = await stores.imports.get(job_id)
    if record is None or not record.input_done:
        await db.call(record_job, db.store, job_id, tenant, None, "mode_switch")
        await enqueue_activation(stores, job_id, tenant, origin=ORIGIN)
        await runtime.mode_switched()
