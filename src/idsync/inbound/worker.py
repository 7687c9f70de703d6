"""The loop that applies each integration's work: queued sync requests and due events.

One process at a time holds an integration's lease (in the store), so two service instances on
one PostgreSQL never write the same application user concurrently; a stopped holder's lease
expires and another instance takes over, re-queueing the syncs it left `running`. Within the
process, a sync runs as its own task while events keep flowing; per-user locks keep them apart.

`burst()` runs the same steps until nothing is left (the CLI and tests), like arq's burst mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from idsync.inbound.context import Context
from idsync.inbound.processor import process_due
from idsync.inbound.service import InboundService, clear_links
from idsync.inbound.sync import run_sync

__all__ = ["Worker"]

log = logging.getLogger("idsync.inbound")

LEASE_TTL_S = 60.0
POLL_S = 1.0  # another instance may have queued work: look at least this often
PRUNE_EVERY_S = 3600.0


class Worker:
    def __init__(self, service: InboundService, *, owner: str | None = None, poll_s: float = POLL_S) -> None:
        self.service = service
        self.clock = service.clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.poll_s = poll_s
        self.stopping = False
        self._holding: set[str] = set()
        self._syncs: dict[str, asyncio.Task[str]] = {}
        self._pruned: dict[str, float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: one loop per integration."""
        try:
            await asyncio.gather(*(self._loop(ctx, stop) for ctx in self.service.contexts.values()))
        finally:
            await self.close()

    async def burst(self, name: str) -> None:
        """Run queued syncs and due events of one integration until none is left."""
        ctx = self.service.context(name)
        while True:
            worked = await self.step(ctx)
            task = self._syncs.get(name)
            if task is not None and not task.done():
                await asyncio.wait({task}, timeout=self.poll_s)
            elif not worked:
                break
        await self.close()

    async def close(self) -> None:
        self.stopping = True
        for task in self._syncs.values():
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for name in self._holding:
            ctx = self.service.context(name)
            with contextlib.suppress(Exception):
                await ctx.db.call(ctx.links.drop_lease, name, self.owner)
        self._holding.clear()

    async def _loop(self, ctx: Context, stop: asyncio.Event) -> None:
        while not stop.is_set():
            ctx.wakeup.clear()
            try:
                worked = await self.step(ctx)
            except Exception:
                log.exception("inbound %s: worker step failed; retrying", ctx.name)
                worked = False
            if worked:
                await asyncio.sleep(0)
                continue
            waits = {asyncio.ensure_future(ctx.wakeup.wait()), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for w in pending:
                w.cancel()

    async def step(self, ctx: Context) -> bool:
        """One round of work for `ctx`; True when something was done."""
        db, name, now = ctx.db, ctx.name, self.clock.time()
        if not await db.call(ctx.links.take_lease, name, self.owner, now, LEASE_TTL_S):
            return False
        if name not in self._holding:
            self._holding.add(name)
            await self._requeue_interrupted(ctx)
        integration = await db.call(ctx.links.get, name)
        state = integration.state if integration else "active"
        running = self._syncs.get(name)
        if state == "removed":
            if running is None or running.done():
                leftovers = await db.call(ctx.links.count_links, name)
                if leftovers:  # written by a sync that was still finishing a page
                    await clear_links(ctx)
            return False
        if state != "active":
            return False
        worked = False
        if running is None or running.done():
            entry = await db.call(ctx.runlog.claim_request, name, now)
            if entry is not None:
                log.info("inbound %s: starting %s #%d", name, entry.kind, entry.id)
                self._syncs[name] = asyncio.create_task(run_sync(ctx, entry, lambda: self._stop_reason(ctx)))
                worked = True
        if await process_due(ctx):
            worked = True
        if now - self._pruned.get(name, 0.0) > PRUNE_EVERY_S:
            self._pruned[name] = now
            await db.call(ctx.queue.prune, name, now - ctx.settings.event_retention_s)
            await db.call(ctx.runlog.prune, name, now - ctx.settings.log_retention_s)
        return worked

    async def _stop_reason(self, ctx: Context) -> str | None:
        if self.stopping:
            return "shutdown"
        integration = await ctx.db.call(ctx.links.get, ctx.name)
        if integration is not None and integration.state != "active":
            return integration.state
        return None

    async def _requeue_interrupted(self, ctx: Context) -> None:
        """Syncs a stopped process left `running` are queued again (re-runs are safe)."""
        for run in await ctx.db.call(ctx.runlog.interrupted_runs, ctx.name, self.clock.time()):
            since = run.detail.get("since")
            detail = {"requested_by": "restart", "replaces": run.id, **({"since": since} if since else {})}
            await ctx.db.call(
                ctx.runlog.record,
                ctx.name,
                run.kind,
                "queued",
                self.clock.time(),
                summary=f"re-run of #{run.id}, interrupted",
                detail=detail,
                finished=False,
            )
