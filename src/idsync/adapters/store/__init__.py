"""The state store: identity links, imports with their counters, the durable two-lane queue."""

from idsync.adapters.store.sql import ClaimedUser, ImportRecord, IngestRow, Store

__all__ = ["ClaimedUser", "ImportRecord", "IngestRow", "Store"]
