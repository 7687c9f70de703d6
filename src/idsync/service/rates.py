"""Rate and ETA of imports that came in over HTTP (Kafka imports get theirs from the results
publisher, file imports from the CLI's job runner). One instance at a time measures them (a
lease in the store), so every instance's `GET /imports/{id}` shows the same rate and ETA."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from idsync.adapters.store.instances import ServiceStore
from idsync.domain.models import ImportState
from idsync.engine.jobs import RateMeter
from idsync.runtime import Runtime

log = logging.getLogger("idsync.service.rates")
LEASE = "import-rates"


class ImportRates:
    def __init__(self, runtime: Runtime, instance: str, *, every_s: float = 2.0, ttl_s: float = 15.0) -> None:
        self.runtime = runtime
        self.instance = instance
        self.every_s = every_s
        self.ttl_s = ttl_s
        self.service = ServiceStore(runtime.store)
        self._meters: dict[str, RateMeter] = {}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.measure_once()
            except Exception as exc:
                log.warning("measuring import rates failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)
        with contextlib.suppress(Exception):
            await self.runtime.db.call(self.service.drop_lease, LEASE, self.instance)

    async def measure_once(self) -> None:
        db = self.runtime.db
        stores = self.runtime.stores
        if not await db.call(self.service.hold_lease, LEASE, self.instance, self.ttl_s, time.time()):
            return
        running = [
            r
            for r in await stores.imports.recent(limit=200)
            if r.origin == "http" and r.state is ImportState.RUNNING
        ]
        for record in running:
            done = record.progress().done
            rate = self._meters.setdefault(record.id, RateMeter()).add(time.monotonic(), done)
            await stores.imports.set_rate(record.id, rate)
        live = {r.id for r in running}
        for gone in set(self._meters) - live:
            del self._meters[gone]
