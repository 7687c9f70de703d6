"""In-memory parts that pass the same conformance tests as the real ones, so engine and worker
tests run in milliseconds without a database or HTTP (tests/conformance, tests/engine).

- `MemoryStores`: the engine's state (`ports.Stores`: links, change queue, imports), rule for
  rule as the SQL store keeps it (stores.py, queue.py, link_table.py).
- `MemoryIdp` over a `MemoryOrg`: an Okta org's accounts, outbox and faults, and the
  `ports.IdentityProvider` that talks to it (org.py, idp.py); `MemoryPacing` for the worker.
- `FakeClock` (from idsync.clock): time that moves only when a test moves it.

What they leave out is listed in docs/architecture.md, "Testing without servers".
"""

from __future__ import annotations

from idsync.clock import FakeClock
from idsync.testing.idp import MemoryIdp, MemoryPacing
from idsync.testing.org import Account, Email, Fault, MemoryOrg
from idsync.testing.queue import MemoryChangeQueue
from idsync.testing.state import MemoryState
from idsync.testing.stores import MemoryImports, MemoryLinks, MemoryStores

__all__ = [
    "Account",
    "Email",
    "FakeClock",
    "Fault",
    "MemoryChangeQueue",
    "MemoryIdp",
    "MemoryImports",
    "MemoryLinks",
    "MemoryOrg",
    "MemoryPacing",
    "MemoryState",
    "MemoryStores",
]
