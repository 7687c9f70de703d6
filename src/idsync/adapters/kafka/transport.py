"""The Kafka transport of one instance: the producer shared by the consumer (dead letters) and
the publisher (results, progress), and the order in which they start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError

from idsync.adapters.kafka.clients import make_producer
from idsync.adapters.kafka.consumer import ChangeConsumer
from idsync.adapters.kafka.controls import ImportControlRequest
from idsync.adapters.kafka.publisher import ResultPublisher
from idsync.adapters.store.aio import AsyncStore
from idsync.config import KafkaSettings
from idsync.engine.core import Engine

log = logging.getLogger("idsync.kafka")


class KafkaTransport:
    def __init__(
        self,
        settings: KafkaSettings,
        engine: Engine,
        db: AsyncStore,
        instance: str,
        *,
        lease_ttl_s: float,
        on_control: Callable[[ImportControlRequest], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.producer = make_producer(settings)
        self.consumer = ChangeConsumer(settings, engine, self.producer, on_control=on_control)
        self.publisher = ResultPublisher(
            settings, db, engine.stores.imports, self.producer, instance, lease_ttl_s=lease_ttl_s
        )
        self.connected = False
        self._publisher_stop = asyncio.Event()
        self._publisher_task: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (retrying while the broker is away), then consume and publish until `stop`."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self.producer.start()
                break
            except KafkaError as exc:
                log.warning("cannot reach Kafka (%s); retrying in %.0f s", type(exc).__name__, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 30.0)
        else:
            return
        self.connected = True
        self._publisher_task = asyncio.create_task(self.publisher.run(self._publisher_stop))
        await self.consumer.run(stop)

    async def stop_consuming(self, task: asyncio.Task[Any]) -> None:
        """Wait until the consumer has stored and committed its last batch and left the group."""
        with contextlib.suppress(Exception):
            await task

    async def close(self) -> None:
        """After the worker stopped: publish the last results and progress, flush, disconnect."""
        self._publisher_stop.set()
        if self._publisher_task is not None:
            with contextlib.suppress(Exception):
                await self._publisher_task
        if self.connected:
            await self.publisher.close()
            with contextlib.suppress(Exception):
                await self.producer.stop()
            self.connected = False
