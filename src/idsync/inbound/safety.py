"""Inbound safety's operations (domain/inbound_safety.py): list the runs, release one (its held
users are brought in line with Okta as it is now), discard what one holds, preview a sync.

Release reconciles each held user here, in the caller's process (the CLI or the service that
got the request), with the run released so its allowance no longer applies; the reconcile's
own guards (state fetched now, watermarks) keep a concurrent event of the same user in order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from idsync.adapters.store.features.inbound_safety import (
    HeldUser,
    InboundRun,
    discard,
    done_with,
    held_users,
    list_runs,
    release,
    safety_run,
)
from idsync.errors import IdSyncError
from idsync.inbound.context import Context
from idsync.inbound.reconcile import Ask, reconcile
from idsync.inbound.sync import Tally

__all__ = ["NoSuchRun", "Released", "discard_run", "release_run", "runs_of"]

log = logging.getLogger("idsync.inbound")
CONCURRENCY = 8


class NoSuchRun(IdSyncError):
    """The integration has no safety run of this id."""


@dataclass(frozen=True)
class Released:
    run: InboundRun
    tally: Tally  # what releasing did to the held users


async def runs_of(ctx: Context) -> list[dict[str, Any]]:
    """The integration's runs (newest first) with the users each holds."""
    out = []
    for run in await ctx.db.call(list_runs, ctx.db.store, ctx.name):
        held = await ctx.db.call(held_users, ctx.db.store, ctx.name, run.run_id, 1000)
        out.append({**run.as_dict(), "held_users": [h.__dict__ for h in held]})
    return out


async def release_run(ctx: Context, run_id: str) -> Released:
    """Let the run through: each held user is reconciled with Okta now (so a user Okta has since
    reactivated is left active), and the run lets later harmful changes through too."""
    run = await ctx.db.call(release, ctx.db.store, ctx.name, run_id, ctx.clock.time())
    if run is None:
        raise NoSuchRun(f"inbound {ctx.name}: no safety run {run_id!r}")
    tally = Tally(run_id)
    held = await ctx.db.call(held_users, ctx.db.store, ctx.name, run_id)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(h: HeldUser) -> None:
        async with gate:
            outcome = await reconcile(ctx, Ask(h.okta_id, f"released {run_id}", run=run_id))
            tally.add(outcome)
            if outcome.status != "failed" or not outcome.retryable:
                await ctx.db.call(done_with, ctx.db.store, ctx.name, run_id, [h.okta_id], discarded=False)

    await asyncio.gather(*(one(h) for h in held))
    after = await ctx.db.call(safety_run, ctx.db.store, ctx.name, run_id)
    assert after is not None
    log.warning("inbound %s: safety run %s released: %s", ctx.name, run_id, tally.summary())
    return Released(after, tally)


async def discard_run(ctx: Context, run_id: str) -> tuple[InboundRun, list[HeldUser]]:
    """Drop what the run holds: those users stay as they are; the run stays tripped."""
    done = await ctx.db.call(discard, ctx.db.store, ctx.name, run_id)
    if done is None:
        raise NoSuchRun(f"inbound {ctx.name}: no safety run {run_id!r}")
    return done
