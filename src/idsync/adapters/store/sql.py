"""idsync's state in SQL (SQLAlchemy Core; SQLite for the embedded default, PostgreSQL to scale
out), as four parts over one engine: `links` (identity links), `inbox` (received changes),
`queue` (claims, leases, results) and `imports` (import records and their results). Each part's
methods are synchronous and domain-level; `adapters/store/aio.py` offers them to the engine as
the async ports of idsync/ports."""

from __future__ import annotations

from sqlalchemy import text

from idsync.adapters.store import features
from idsync.adapters.store.engine import build_engine
from idsync.adapters.store.import_table import ImportTable
from idsync.adapters.store.inbox import Inbox
from idsync.adapters.store.link_table import LinkTable
from idsync.adapters.store.queue import ChangeQueue
from idsync.adapters.store.schema import migrate

__all__ = ["Store"]

_MIGRATION_LOCK = 0x1D5C  # PostgreSQL advisory lock held while the schema is brought up to date


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = build_engine(url)
        self.dialect = self.engine.dialect.name
        features.load()
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Several instances starting on one database: one migrates, the others wait.
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            migrate(conn)
        self.links = LinkTable(self.engine)
        self.inbox = Inbox(self.engine)
        self.queue = ChangeQueue(self.engine)
        self.imports = ImportTable(self.engine)

    def close(self) -> None:
        self.engine.dispose()
