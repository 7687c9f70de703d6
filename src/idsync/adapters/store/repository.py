"""What the store's per-concern query modules share: one transaction per call, and the INSERT of
the store's dialect (SQLite and PostgreSQL both speak ON CONFLICT, but SQLAlchemy builds the
statement per dialect)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = ["Repository", "dialect_insert"]


def dialect_insert(dialect: str, table: Table) -> Any:
    """`INSERT` with `on_conflict_do_nothing` / `on_conflict_do_update` for `dialect`."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


class Repository:
    """Synchronous and domain-level like `Store`; callers run the methods through
    `AsyncStore.call` (inline on SQLite, in a thread on PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self.dialect = store.dialect

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        return dialect_insert(self.dialect, table)
