"""Receiving changes: every change is stored before anything acts on it, with its result when it
is decided at once; a redelivered message (same origin reference) is dropped."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from idsync.adapters.store.common import BUMP, CHUNK, ZERO_COUNTS, Part, bump_import, chunks, maybe_complete
from idsync.adapters.store.schema import changes, imports
from idsync.domain.records import IngestRow

__all__ = ["Inbox", "ReceiveHook"]

# Called inside `Inbox.receive`'s transaction with the newly stored rows and their ids.
ReceiveHook = Callable[[Connection, Sequence[tuple[IngestRow, int]], float], None]


class Inbox(Part):
    def open_user_keys(self, user_keys: Sequence[str]) -> set[str]:
        """Users with a change not yet done: a new change must queue behind them, never overtake.
        An idle queue (a re-import of unchanged users) answers from one indexed row, not a lookup
        per chunk of users."""
        out: set[str] = set()
        with self._tx() as conn:
            idle = conn.execute(select(changes.c.user_key).where(changes.c.state != "done").limit(1))
            if idle.first() is None:
                return out
            for chunk in chunks(list(set(user_keys)), CHUNK):
                out.update(
                    conn.execute(
                        select(changes.c.user_key).where(
                            changes.c.state != "done", changes.c.user_key.in_(chunk)
                        )
                    ).scalars()
                )
        return out

    def receive(
        self,
        rows: Sequence[IngestRow],
        *,
        import_id: str | None = None,
        cursor: int | None = None,
        now: float | None = None,
        unrecorded_unchanged: int = 0,
        after_insert: ReceiveHook | None = None,
    ) -> list[int | None]:
        """Store received changes in one transaction; rows seen before (same origin_ref) are dropped.

        Returns the new change ids in input order (None for a duplicate). With `import_id` and
        `cursor`, the import's input cursor moves in the same transaction, so a resumed file import
        neither skips nor repeats a line. `after_insert` sees the new rows with their ids inside
        the transaction (the safety threshold holds changes there: features/safety.py).
        """
        now = time.time() if now is None else now
        for attempt in range(3):
            try:
                with self._tx() as conn:
                    ids = self._receive(conn, rows, import_id, cursor, now, after_insert)
                    if unrecorded_unchanged and import_id is not None:
                        conn.execute(
                            BUMP,
                            {
                                **ZERO_COUNTS,
                                "n_received": unrecorded_unchanged,
                                "n_unchanged": unrecorded_unchanged,
                                "iid": import_id,
                                "at": now,
                            },
                        )
                        conn.execute(
                            update(imports)
                            .where(imports.c.id == import_id)
                            .values(
                                unchanged_unrecorded=imports.c.unchanged_unrecorded + unrecorded_unchanged
                            )
                        )
                        maybe_complete(conn, import_id, now)
                    return ids
            except IntegrityError:  # a concurrent instance stored the same origin_ref first
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _receive(
        self,
        conn: Connection,
        rows: Sequence[IngestRow],
        import_id: str | None,
        cursor: int | None,
        now: float,
        after_insert: ReceiveHook | None = None,
    ) -> list[int | None]:
        refs = [r.origin_ref for r in rows if r.origin_ref]
        seen: set[str] = set()
        for chunk in chunks(refs, CHUNK):
            seen.update(
                conn.execute(select(changes.c.origin_ref).where(changes.c.origin_ref.in_(chunk))).scalars()
            )
        fresh = [r for r in rows if not (r.origin_ref and r.origin_ref in seen)]
        ids: dict[int, int] = {}
        if fresh:
            values = [_change_values(r, now) for r in fresh]
            first_id = None
            if self.dialect == "sqlite":
                # The hottest write of a re-import (a million rows): straight to the driver's
                # executemany, which skips SQLAlchemy's per-row parameter processing (3x faster).
                # Ids are read back by rowid range: one writer inside BEGIN IMMEDIATE, so contiguous.
                conn.exec_driver_sql(
                    _INSERT_CHANGE_SQL, [tuple(v[c] for c in _CHANGE_COLUMNS) for v in values]
                )
                last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
                first_id = int(last) - len(values) + 1
                for i, r in enumerate(fresh):
                    ids[id(r)] = first_id + i
            else:
                result = conn.execute(
                    insert(changes).returning(changes.c.id, sort_by_parameter_order=True), values
                )
                for r, new_id in zip(fresh, result.scalars(), strict=True):
                    ids[id(r)] = int(new_id)
            if after_insert is not None:
                after_insert(conn, [(r, ids[id(r)]) for r in fresh], now)
        by_import: dict[str, Counter[str]] = {}
        for r in fresh:
            if r.import_id:
                c = by_import.setdefault(r.import_id, Counter())
                c["received"] += 1
                if r.result_status is not None:
                    c[r.result_status.value] += 1
        for imp, counts in sorted(by_import.items()):  # one lock order: no deadlock
            bump_import(conn, imp, counts, now)
        if import_id is not None and cursor is not None:
            conn.execute(
                update(imports).where(imports.c.id == import_id).values(input_cursor=cursor, updated_at=now)
            )
        return [ids.get(id(r)) for r in rows]


_CHANGE_COLUMNS = (
    "user_key",
    "tenant",
    "source",
    "key",
    "op",
    "version",
    "import_id",
    "message_id",
    "lane",
    "payload",
    "origin",
    "origin_ref",
    "state",
    "status",
    "idp_id",
    "reason_code",
    "reason_message",
    "attempts",
    "not_before",
    "received_at",
    "finished_at",
    "published",
    "line_fp",
)
_INSERT_CHANGE_SQL = (
    f"INSERT INTO changes ({', '.join(_CHANGE_COLUMNS)}) VALUES ({', '.join('?' for _ in _CHANGE_COLUMNS)})"
)


def _change_values(r: IngestRow, now: float) -> dict[str, object]:
    done = r.result_status is not None
    return {
        "user_key": r.user_key,
        "tenant": r.tenant,
        "source": r.source,
        "key": r.key,
        "op": r.op,
        "version": r.version,
        "import_id": r.import_id,
        "message_id": r.message_id,
        "lane": int(r.lane),
        "payload": r.payload,
        "origin": r.origin,
        "origin_ref": r.origin_ref,
        "state": "done" if done else "pending",
        "status": r.result_status.value if r.result_status else None,
        "idp_id": r.idp_id,
        "reason_code": r.reason.code if r.reason else None,
        "reason_message": r.reason.message if r.reason else None,
        "attempts": 0,
        "not_before": 0.0,
        "received_at": now,
        "finished_at": now if done else None,
        "published": False,
        "line_fp": r.line_fp,
    }
