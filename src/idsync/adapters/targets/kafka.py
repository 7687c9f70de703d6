"""A Kafka topic as the target: one message per change (`change_message`), keyed by Okta user id.

The key keeps one user's changes in one partition, in order. `acks="all"`: a change counts as
written only when the broker has it durably. Each message carries the user's full mapped state,
so a consumer that sees a message twice (a retried send) applies the same state twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from idsync.config.inbound import KafkaTargetSettings
from idsync.domain.inbound import AppUser, TargetChange, change_message
from idsync.errors import TargetError

__all__ = ["KafkaTarget"]


class KafkaTarget:
    readable = False

    def __init__(self, settings: KafkaTargetSettings, *, where: str = "target") -> None:
        self.settings = settings
        self.where = where
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        async with self._lock:
            if self._producer is not None:
                return
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers,
                client_id=self.settings.client_id,
                acks="all",
                request_timeout_ms=int(self.settings.send_timeout_s * 1000),
            )
            try:
                await producer.start()
            except KafkaError as exc:
                await producer.stop()
                raise TargetError(f"{self.where}: cannot reach Kafka: {type(exc).__name__}") from exc
            self._producer = producer

    async def aclose(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def find(self, match: Sequence[tuple[str, str]]) -> AppUser | None:
        return None

    async def get(self, key: str) -> AppUser | None:
        return None

    async def apply(self, change: TargetChange) -> str:
        await self._send(change.okta_id, change_message(change, "upsert"))
        return change.key or change.okta_id

    async def unlink(self, key: str, okta_id: str) -> None:
        change = TargetChange(integration="", okta_id=okta_id, login="", key=key)
        await self._send(okta_id, {**change_message(change, "unlink"), "integration": None})

    async def _send(self, okta_id: str, message: dict[str, Any]) -> None:
        await self.open()
        value = json.dumps(message, sort_keys=True, default=str).encode()
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(self.settings.topic, value=value, key=okta_id.encode()),
                timeout=self.settings.send_timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            raise TargetError(
                f"{self.where}: send to {self.settings.topic} failed: {type(exc).__name__}"
            ) from exc
