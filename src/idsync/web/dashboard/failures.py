"""One import's failed and skipped users, filtered by status, reason code and a search text.

The rows and the CSV are the failure report of `idsync.lifecycle.failures` (same columns, same
spreadsheet-formula guard), so a file downloaded from the page and one written by the CLI read
the same. Filtering happens in SQL (the store's `(import_id, status)` index narrows it first) so
a search in a million-user import's failures does not pull them all into Python. The CSV streams
page by page in constant memory and holds exactly the rows the filter shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import or_, select

from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.schema import changes
from idsync.adapters.store.sql import Store
from idsync.lifecycle.failures import FailureRow, csv_lines, login_of

__all__ = ["PAGE", "FailureFilter", "FailureStatus", "csv_chunks", "failure_page"]

FailureStatus = Literal["failed", "skipped"]
PAGE = 1000  # rows per store read while streaming the CSV


@dataclass(frozen=True)
class FailureFilter:
    statuses: tuple[FailureStatus, ...] = ("failed", "skipped")
    code: str | None = None  # reason code, exact
    text: str | None = None  # part of the key, the login/e-mail/name, or the reason (any case)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def failure_page(
    store: Store, import_id: str, filt: FailureFilter, *, after: int = 0, limit: int = 100
) -> list[FailureRow]:
    """Up to `limit` rows with change id above `after`, in arrival order."""
    c = changes.c
    q = (
        select(
            c.id,
            c.tenant,
            c.source,
            c.key,
            c.op,
            c.status,
            c.idp_id,
            c.reason_code,
            c.reason_message,
            c.payload,
        )
        .where(c.import_id == import_id, c.status.in_(filt.statuses), c.id > after)
        .order_by(c.id)
        .limit(limit)
    )
    if filt.code:
        q = q.where(c.reason_code == filt.code)
    if filt.text:
        pattern = _like(filt.text)
        q = q.where(
            or_(
                c.key.ilike(pattern, escape="\\"),
                c.reason_message.ilike(pattern, escape="\\"),
                c.payload.ilike(pattern, escape="\\"),
            )
        )
    with store.engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [
        FailureRow(
            status=str(r["status"]),
            reason_code=str(r["reason_code"] or ""),
            reason=str(r["reason_message"] or ""),
            tenant=str(r["tenant"]),
            source=str(r["source"]),
            key=str(r["key"]),
            op=str(r["op"]),
            login=login_of(r["payload"]),
            idp_id=str(r["idp_id"] or ""),
            change_id=int(r["id"]),
        )
        for r in rows
    ]


async def csv_chunks(db: AsyncStore, import_id: str, filt: FailureFilter) -> AsyncIterator[str]:
    """The CSV of every row the filter matches, one chunk per page read from the store."""
    after, header = 0, True
    while True:
        rows = await db.call(failure_page, db.store, import_id, filt, after=after, limit=PAGE)
        if rows or header:
            yield "".join(csv_lines(rows, header=header))
        header = False
        if len(rows) < PAGE:
            return
        after = rows[-1].change_id
