"""Inbound sync's state in the store: integrations and links, the event queue, the execution log.

Tables: `idsync.adapters.store.features.inbound`. Each class is a `Repository` over the `Store`.
"""

from idsync.adapters.store.inbound.events import EventQueue, QueuedEvent
from idsync.adapters.store.inbound.integrations import InboundLink, InboundStore, Integration
from idsync.adapters.store.inbound.runlog import ExecutionLog, LogEntry, log_values

__all__ = [
    "EventQueue",
    "ExecutionLog",
    "InboundLink",
    "InboundStore",
    "Integration",
    "LogEntry",
    "QueuedEvent",
    "log_values",
]
