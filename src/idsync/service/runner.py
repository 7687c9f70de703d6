"""The background parts of `idsync serve` next to the worker, and their orderly stop.

Started with the web app (see web/routes/service.py): the budget coordinator when the store is
PostgreSQL, and the Kafka transport when `[kafka]` is configured. On SIGTERM (the app's stop
event) the order is what makes the stop safe:

1. the consumer stops taking messages; the batch in hand is stored and its offsets committed;
2. the worker finishes the users it holds (the app gives it a few seconds, then cancels it);
3. users still held are given back to the queue (marked interrupted: the next try looks before
   it writes), so another instance takes them at once instead of after the lease;
4. the results of everything finished are published, then the producer flushes;
5. this instance leaves the group: its budget shares are free for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from idsync.adapters.kafka.controls import ImportControlRequest
from idsync.runtime import Runtime
from idsync.service.coordinator import Coordinator
from idsync.service.fleet import status_report
from idsync.service.rates import ImportRates

log = logging.getLogger("idsync.service")


ControlHandler = Callable[[ImportControlRequest], Awaitable[None]]


class Service:
    def __init__(self, runtime: Runtime, *, on_control: ControlHandler | None = None) -> None:
        """`on_control` applies the Kafka controls that cancel, pause or resume an import
        (lifecycle/controls.py, handed in by the web layer that builds the service)."""
        self.runtime = runtime
        settings = runtime.settings
        self.instance = runtime.worker.owner
        self.started_at = time.time()
        self.coordinator: Coordinator | None = None
        if runtime.store.dialect == "postgresql":
            self.coordinator = Coordinator(
                runtime.db,
                runtime.governors,
                self.instance,
                interval_s=settings.service.coordination_interval_s,
                ttl_s=settings.service.instance_ttl_s,
            )
            self.coordinator.start()  # before the worker's first IdP call
            self.coordinator.status = lambda: status_report(self)  # the fleet view (Kafka lag)
        self.kafka: Any = None
        if settings.kafka is not None:
            from idsync.adapters.kafka.transport import KafkaTransport

            self.kafka = KafkaTransport(
                settings.kafka,
                runtime.engine,
                runtime.db,
                self.instance,
                lease_ttl_s=settings.service.instance_ttl_s,
                on_control=on_control,
            )
        self.rates = ImportRates(runtime, self.instance, ttl_s=settings.service.instance_ttl_s)

    async def run(
        self, stop: asyncio.Event, worker_task: Callable[[], asyncio.Task[Any] | None] = lambda: None
    ) -> None:
        """Until `stop`, then the orderly stop; `worker_task` names the worker's task to wait for."""
        coord_stop = asyncio.Event()
        coord = (
            asyncio.create_task(self.coordinator.run(coord_stop), name="coordinator")
            if self.coordinator
            else None
        )
        rates = asyncio.create_task(self.rates.run(stop), name="import-rates")
        kafka = asyncio.create_task(self.kafka.run(stop), name="kafka") if self.kafka else None
        await stop.wait()
        log.info("%s stopping: no new work taken", self.instance)
        if kafka is not None:
            await self.kafka.stop_consuming(kafka)
        worker = worker_task()
        if worker is not None:
            await asyncio.wait([worker])
        await self._give_back()
        with contextlib.suppress(Exception):
            await rates
        if kafka is not None:
            await self.kafka.close()
        if coord is not None and self.coordinator is not None:
            coord_stop.set()
            await coord
            with contextlib.suppress(Exception):
                await self.coordinator.leave()
        log.info("%s stopped", self.instance)

    async def _give_back(self) -> None:
        stores = self.runtime.stores
        try:
            returned = await stores.queue.release_expired(owner=self.instance)
        except Exception as exc:
            log.warning("could not give back held users (%s); their leases will expire", type(exc).__name__)
            return
        if returned:
            log.info("gave back %d users still in progress", returned)
