"""The base of inbound sync's repositories: transactions and the dialect's INSERT (for ON CONFLICT)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from idsync.adapters.store import Store


class Repository:
    """Synchronous and domain-level like `idsync.adapters.store.Store`; callers run the methods
    through `AsyncStore.call` (inline on SQLite, in a thread on PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        self.dialect = store.dialect

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _insert(self, table: Any) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
        return dialect_insert(table)
