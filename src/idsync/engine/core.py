"""What the engine runs on, handed in by the composition root (idsync/runtime.py): the stores,
the IdPs with their pacing, the tenants' policies, the clock, and the worker and ingestor built
over them. The engine imports no adapter: everything that does I/O comes in through here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from idsync.clock import Clock
from idsync.domain.policy import TenantPolicy
from idsync.engine.ingest import Ingestor
from idsync.engine.worker import Worker
from idsync.ports import IdentityProvider, Pacing, Stores

__all__ = ["Engine"]


@dataclass
class Engine:
    stores: Stores
    idps: Mapping[str, IdentityProvider]
    pacing: Mapping[str, Pacing]
    policies: Callable[[str], TenantPolicy | None]
    clock: Clock
    worker: Worker
    ingestor: Ingestor
    api_calls: Callable[[], int]  # calls sent to every IdP so far (the governors count them)
