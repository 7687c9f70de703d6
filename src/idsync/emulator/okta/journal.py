"""Durable storage of the org: every accepted write is committed before its answer is sent.

Why SQLite in WAL mode: a commit is in the operating system's hands before the HTTP answer
leaves, so a SIGKILL of the emulator loses nothing that a client was told had happened; the
in-memory indexes are rebuilt from it at start. `MemoryJournal` keeps nothing (the default).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Journal", "MemoryJournal", "SqliteJournal", "open_journal"]


class Journal(Protocol):
    def put(self, kind: str, key: str, doc: dict[str, Any]) -> None: ...
    def delete(self, kind: str, key: str) -> None: ...
    def clear(self) -> None: ...
    def load(self, kinds: tuple[str, ...] = ()) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every stored object in write order; only those of `kinds` if given."""
        ...

    def batch(self) -> Any:
        """A context manager grouping the writes of one request into one commit."""
        ...

    def close(self) -> None: ...


class MemoryJournal:
    def put(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        pass

    def delete(self, kind: str, key: str) -> None:
        pass

    def clear(self) -> None:
        pass

    def load(self, kinds: tuple[str, ...] = ()) -> Iterator[tuple[str, str, dict[str, Any]]]:
        return iter(())

    @contextmanager
    def batch(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass


class SqliteJournal:
    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The server's event loop is the only writer; it may run in another thread than the creator.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )
        self._depth = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        if self._depth == 0:
            self._db.execute("BEGIN")
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def put(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO objects (kind, key, doc) VALUES (?, ?, ?)",
            (kind, key, json.dumps(doc, separators=(",", ":"))),
        )

    def delete(self, kind: str, key: str) -> None:
        self._db.execute("DELETE FROM objects WHERE kind = ? AND key = ?", (kind, key))

    def clear(self) -> None:
        with self.batch():
            self._db.execute("DELETE FROM objects")

    def load(self, kinds: tuple[str, ...] = ()) -> Iterator[tuple[str, str, dict[str, Any]]]:
        where = f" WHERE kind IN ({', '.join('?' * len(kinds))})" if kinds else ""
        query = f"SELECT kind, key, doc FROM objects{where} ORDER BY rowid"
        for kind, key, doc in self._db.execute(query, kinds):
            yield kind, key, json.loads(doc)

    def close(self) -> None:
        self._db.close()


def open_journal(state_file: str | None) -> Journal:
    return SqliteJournal(state_file) if state_file else MemoryJournal()
