"""Phase 2 as a job a support engineer can estimate, start, stop and start again.

An activation job is an import of `activate` changes (engine/activation.py), so it runs through the
queue, the governor and the import counters. This module adds what running it needs:

- the estimate (staged users, API calls, duration at the known limits) without any IdP call;
- finding the job to resume: `idsync activate` run again for the same tenant and source continues
  the newest activation job that has not completed, rather than starting a second one;
- the way into the service (HTTP API, mode switch), where the service's worker does the work.

Nobody is activated twice: the planner activates only STAGED/DEPROVISIONED links, the intent is
written before the call, and an interrupted activation reads the user's status before sending
again (engine/apply.py); tests/lifecycle prove it end to end with a SIGKILL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from idsync.adapters.store.features.activation import (
    ActivationJob,
    find_running_job,
    get_job,
    get_tenant_mode,
    record_job,
)
from idsync.adapters.store.sql import Store
from idsync.config import Settings
from idsync.domain.links import IdpStatus
from idsync.domain.policy import SyncMode, TenantPolicy
from idsync.engine.activation import enqueue_activation
from idsync.engine.governor import Governor
from idsync.engine.jobs import ImportReport, ProgressCallback, RateMeter, new_import_id, run_job
from idsync.errors import ConfigError
from idsync.lifecycle.estimate import Estimate
from idsync.lifecycle.limits import LimitSet, estimate_calls, known_limits

if TYPE_CHECKING:
    from idsync.runtime import Runtime

__all__ = [
    "ActivationEstimate",
    "PreparedJob",
    "estimate_activation",
    "prepare_activation",
    "run_activation",
    "start_in_service",
    "watch_rate",
]

ORIGIN = "activation"


@dataclass(frozen=True)
class ActivationEstimate:
    tenant: str
    source: str | None
    policy: TenantPolicy
    staged: int
    estimate: Estimate
    limits: LimitSet
    resumable: ActivationJob | None  # the job a real run would continue

    @property
    def emails(self) -> int:
        return self.staged if self.policy.send_activation_email else 0


@dataclass(frozen=True)
class PreparedJob:
    job_id: str
    tenant: str
    source: str | None
    resumed: bool
    input_done: bool
    done_before: int  # users this job finished in earlier runs


def tenant_policy(settings: Settings, tenant: str, store: Store | None = None) -> TenantPolicy:
    """The tenant's policy; with `store`, in the sync mode the store holds (lifecycle/modes.py)."""
    policy = settings.policy(tenant)
    if policy is None:
        known = ", ".join(settings.tenants) or "none"
        raise ConfigError(f"--tenant: tenant {tenant!r} is not configured (known: {known})")
    stored = get_tenant_mode(store, tenant) if store is not None else None
    if stored is not None and stored.mode != policy.mode.value:
        policy = replace(policy, mode=SyncMode(stored.mode))
    return policy


def estimate_activation(
    store: Store, settings: Settings, tenant: str, source: str | None = None, *, live: Governor | None = None
) -> ActivationEstimate:
    """What an activation run would do, from the store alone (no IdP call)."""
    policy = tenant_policy(settings, tenant, store)
    staged = store.links.count(tenant, [IdpStatus.STAGED], source)
    limits = known_limits(store, settings, policy.idp, live=live)
    return ActivationEstimate(
        tenant,
        source,
        policy,
        staged,
        estimate_calls({"activate": staged}, limits),
        limits,
        find_running_job(store, tenant, source),
    )


def new_job_id(tenant: str) -> str:
    # Import ids are identifiers of at most 100 characters; a long tenant name is shortened.
    return new_import_id(f"act-{tenant[:40]}")


async def prepare_activation(
    runtime: Runtime,
    tenant: str,
    source: str | None = None,
    *,
    job_id: str | None = None,
    trigger: str = "cli",
) -> PreparedJob:
    """The job to run: `job_id` if given, else the tenant's unfinished job, else a new one."""
    policy = tenant_policy(runtime.settings, tenant)
    policy = runtime.policies(tenant) or policy  # the mode in force
    if policy.mode is SyncMode.OFF:
        raise ConfigError(f"tenant {tenant!r} has sync mode off: nothing can be activated")
    db = runtime.db
    stores = runtime.stores
    existing: ActivationJob | None = None
    if job_id is not None:
        existing = await db.call(get_job, db.store, job_id)
        record = await stores.imports.get(job_id)
        if existing is None and record is not None:
            raise ConfigError(f"--job-id: {job_id!r} is an import, not an activation job")
        if existing is not None and (existing.tenant != tenant or existing.source != source):
            raise ConfigError(
                f"--job-id: {job_id!r} activates tenant {existing.tenant!r}"
                + (f" source {existing.source!r}" if existing.source else " (all sources)")
            )
    else:
        existing = await db.call(find_running_job, db.store, tenant, source)
    job_id = existing.id if existing is not None else (job_id or new_job_id(tenant))
    record = await stores.imports.get(job_id)
    if existing is None:
        await db.call(record_job, db.store, job_id, tenant, source, trigger)
    if record is None:  # visible (progress 0) at once, before the staged users are queued
        name = f"activate {tenant}" + (f" source {source}" if source else "")
        await stores.imports.create(job_id, tenant, ORIGIN, input_name=name)
    return PreparedJob(
        job_id,
        tenant,
        source,
        resumed=record is not None,
        input_done=bool(record and record.input_done),
        done_before=record.progress().done if record is not None else 0,
    )


async def _feed(runtime: Runtime, job: PreparedJob) -> None:
    await enqueue_activation(runtime.stores, job.job_id, job.tenant, source=job.source, origin=ORIGIN)
    runtime.worker.notify()


async def run_activation(
    runtime: Runtime, job: PreparedJob, *, on_progress: ProgressCallback | None = None
) -> ImportReport:
    """Queue the staged users (unless an earlier run queued them all) and work until done."""
    feed = None if job.input_done else (lambda: _feed(runtime, job))
    return await run_job(runtime.engine, job.job_id, feed, on_progress=on_progress)


async def start_in_service(
    runtime: Runtime, tenant: str, source: str | None, *, trigger: str, tasks: set[asyncio.Task[None]]
) -> PreparedJob:
    """Start (or resume) a job in a running service: its worker does the calls. The feeding and
    the rate watcher run as tasks kept in `tasks` until they end."""
    job = await prepare_activation(runtime, tenant, source, trigger=trigger)

    async def feed_and_watch() -> None:
        if not job.input_done:
            await _feed(runtime, job)
        await watch_rate(runtime, job.job_id)

    task = asyncio.create_task(feed_and_watch(), name=f"activation:{job.job_id}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return job


async def watch_rate(runtime: Runtime, job_id: str, *, poll_s: float = 1.0) -> None:
    """Keep the job's rate (and so its ETA) current while the service's worker runs it."""
    stores = runtime.stores
    meter = RateMeter()
    while True:
        record = await stores.imports.get(job_id)
        if record is None or record.state.value != "running":
            return
        rate = meter.add(time.monotonic(), record.progress().done)
        await stores.imports.set_rate(job_id, rate)
        await asyncio.sleep(poll_s)
