"""The state store: identity links, imports with their counters, the durable two-lane queue."""

from idsync.adapters.store.sql import Store
from idsync.domain.records import ClaimedUser, Finished, ImportRecord, IngestRow, Outcome

__all__ = ["ClaimedUser", "Finished", "ImportRecord", "IngestRow", "Outcome", "Store"]
