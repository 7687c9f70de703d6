"""Everything one integration's sync, processor and operations share, built once per process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from idsync.adapters.okta.inbound import OktaInbound
from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.inbound import EventQueue, ExecutionLog, InboundStore
from idsync.clock import Clock
from idsync.config.inbound import DEFAULT_ACTIVE_STATUSES, InboundSettings
from idsync.domain.inbound import MappingRules
from idsync.domain.inbound_safety import InboundSafetyRules
from idsync.ports import Target

__all__ = ["Context", "UserLocks", "rules_from_settings", "safety_from_settings"]


def rules_from_settings(s: InboundSettings) -> MappingRules:
    return MappingRules(
        fields=dict(s.fields),
        active_field=s.active_field,
        required=tuple(s.required),
        match_on=tuple(s.match_on),
        active_statuses=frozenset(s.active_statuses or DEFAULT_ACTIVE_STATUSES),
        group_roles=dict(s.groups),
    )


def safety_from_settings(s: InboundSettings) -> InboundSafetyRules:
    return InboundSafetyRules(
        share=s.max_deprovision_share,
        count=s.max_deprovision_count,
        floor=s.deprovision_floor,
        window_s=s.safety_window_s,
    )


class UserLocks:
    """One asyncio lock per Okta user: a sync and the event processor never write one user at
    the same time, so the state fetched last is the state applied last."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, okta_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(okta_id, (asyncio.Lock(), 0))
        self._locks[okta_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[okta_id]
            if users <= 1:
                del self._locks[okta_id]
            else:
                self._locks[okta_id] = (lock, users - 1)


@dataclass
class Context:
    name: str
    settings: InboundSettings
    rules: MappingRules
    okta: OktaInbound
    target: Target
    db: AsyncStore
    links: InboundStore
    queue: EventQueue
    runlog: ExecutionLog
    clock: Clock
    safety: InboundSafetyRules = field(default_factory=InboundSafetyRules)
    locks: UserLocks = field(default_factory=UserLocks)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
