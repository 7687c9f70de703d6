"""One instance's part in a group of instances on one store: heartbeats, its share of every IdP
budget (see budget.py), and taking back the users of instances that died.

Runs only when the store is PostgreSQL (SQLite is the one-process set-up). Every
`coordination_interval_s` it reports each bucket's use to the store and applies the cap it gets
back. If the store cannot be reached for half the instance TTL, it stops every bucket (cap 0):
the others will soon count this instance as gone and hand its share out again, so it must not
keep using it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.instances import BucketReport, ServiceStore
from idsync.domain.budget import Split
from idsync.engine.governor import Governor

log = logging.getLogger("idsync.service.coordinator")


def default_instance_id() -> str:
    return f"{socket.gethostname()[:60]}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


class Coordinator:
    def __init__(
        self,
        db: AsyncStore,
        governors: Mapping[str, Governor],
        instance: str,
        *,
        interval_s: float = 0.5,
        ttl_s: float = 15.0,
    ) -> None:
        self.db = db
        self.service = ServiceStore(db.store)
        self.governors = governors
        self.instance = instance
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        self.started_at = time.time()
        self._last_ok = time.monotonic()
        self._last_sweep = 0.0
        self._fenced = False
        self.splits: dict[tuple[str, str], Split] = {}
        self._last_sent: dict[tuple[str, str], int] = {}
        # What this instance reports of itself with each heartbeat (the fleet view: Kafka lag).
        self.status: Callable[[], Awaitable[Mapping[str, Any]]] | None = None

    def start(self) -> None:
        """Before any IdP call: buckets send nothing (beyond one probe) until given a share."""
        for governor in self.governors.values():
            governor.default_allowance = 0
            for bucket in governor.usage():
                governor.set_allowance(bucket, 0)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sync_once()
                self._last_ok = time.monotonic()
                self._fenced = False
            except Exception as exc:  # the store is unreachable: keep trying, fence if too long
                log.warning("budget sync failed: %s", type(exc).__name__)
                if time.monotonic() - self._last_ok > self.ttl_s / 2 and not self._fenced:
                    log.error("no contact with the store for %.0f s: IdP calls paused", self.ttl_s / 2)
                    self._fence()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    def _fence(self) -> None:
        self._fenced = True
        for governor in self.governors.values():
            for bucket in governor.usage():
                governor.set_allowance(bucket, 0)

    def _reports(self) -> list[BucketReport]:
        out = []
        for idp, governor in self.governors.items():
            for bucket, u in governor.usage().items():
                cap = u.allowance if u.allowance is not None else u.full_budget
                # Demand: calls wait for a permit, or calls were made since the last sync.
                made = u.sent_in_window != self._last_sent.get((idp, bucket), 0)
                self._last_sent[(idp, bucket)] = u.sent_in_window
                out.append(
                    BucketReport(idp, bucket, u.full_budget, u.sent_in_window, u.waiting > 0 or made, cap)
                )
        return out

    async def sync_once(self) -> None:
        now = time.time()
        status = json.dumps(await self.status(), sort_keys=True) if self.status is not None else None
        await self.db.call(
            self.service.heartbeat,
            self.instance,
            socket.gethostname(),
            os.getpid(),
            self.started_at,
            now,
            status,
        )
        reports = self._reports()
        if reports:
            splits = await self.db.call(
                self.service.sync_budget,
                self.instance,
                reports,
                now=now,
                ttl_s=self.ttl_s,
                grace_s=max(3 * self.interval_s, 1.0),
            )
            self._apply(splits)
        if now - self._last_sweep >= max(self.ttl_s / 3, 1.0):
            self._last_sweep = now
            await self._sweep(now)

    def _apply(self, splits: Mapping[tuple[str, str], Split]) -> None:
        for (idp, bucket), decided in splits.items():
            governor = self.governors[idp]
            usage = governor.usage()[bucket]
            current = usage.allowance if usage.allowance is not None else usage.full_budget
            if decided.cap >= current:
                governor.set_allowance(bucket, decided.cap)  # recorded before it is used
            else:  # lower now, never below what this window already used; recorded next sync
                governor.set_allowance(bucket, max(decided.cap, usage.sent_in_window))
            self.splits[(idp, bucket)] = decided

    async def _sweep(self, now: float) -> None:
        """Take back the users of instances that stopped heart-beating, then forget them."""
        store = self.db.store
        for gone in await self.db.call(self.service.gone_instances, self.ttl_s, now):
            if gone == self.instance:
                continue
            released = await self.db.call(store.queue.release_expired, now, owner=gone)
            log.warning("instance %s is gone: took back %d users it had in progress", gone, released)
            await self.db.call(self.service.leave, gone)
        released = await self.db.call(store.queue.release_expired, now)
        if released:
            log.info("took back %d users whose lease ran out", released)

    async def leave(self) -> None:
        """On shutdown, after the worker stopped: free this instance's shares at once."""
        for governor in self.governors.values():
            for bucket in governor.usage():
                governor.set_allowance(bucket, 0)
        await self.db.call(self.service.leave, self.instance)

    async def live_instances(self) -> list[str]:
        return await self.db.call(self.service.live_instances, self.ttl_s, time.time())
