"""The failure report of an import (every failed or skipped user, with the reason) and retries.

Read from the per-change results in the store, page by page, so a report of a million-user
import streams in constant memory. CSV cells that a spreadsheet would run as a formula
(=, +, -, @, tab, CR at the start) get a leading apostrophe: reasons quote user input.

Retry puts failed changes back in the queue. Lines rejected as invalid input (or for another
tenant) are not retried: the same line would fail the same way, and a line for another tenant
must never be synced into this one. They are fixed in the source and imported again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import asdict
from typing import IO

from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.failures import FailureFilter, FailureRow, failure_page
from idsync.adapters.store.sql import Store
from idsync.domain.models import Status

__all__ = [
    "COLUMNS",
    "NOT_RETRIED",
    "PAGE",
    "FailureFilter",
    "FailureRow",
    "csv_chunks",
    "csv_lines",
    "iter_failures",
    "retry_counts",
    "write_csv",
]

# Reason codes decided from the input alone: retrying cannot help (fix the input instead).
NOT_RETRIED = ("invalid", "tenant_mismatch")
COLUMNS = ("status", "reason_code", "reason", "tenant", "source", "key", "op", "login", "idp_id", "change_id")
PAGE = 1000  # rows per store read while streaming
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iter_failures(
    store: Store,
    import_id: str,
    *,
    statuses: Iterable[Status] = (Status.FAILED, Status.SKIPPED),
    page: int = PAGE,
    after: int = 0,
) -> Iterator[FailureRow]:
    """Rows in change order, after change id `after`, read `page` at a time."""
    filt = FailureFilter(statuses=tuple(s.value for s in statuses))
    while True:
        rows = failure_page(store, import_id, filt, after=after, limit=page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].change_id


async def csv_chunks(db: AsyncStore, import_id: str, filt: FailureFilter) -> AsyncIterator[str]:
    """The CSV of every row the filter matches, one chunk per page read from the store (each read
    like any store call), so a million-row report streams in constant memory."""
    after, header = 0, True
    while True:
        rows = await db.call(failure_page, db.store, import_id, filt, after=after, limit=PAGE)
        if rows or header:
            yield "".join(csv_lines(rows, header=header))
        header = False
        if len(rows) < PAGE:
            return
        after = rows[-1].change_id


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(rows: Iterable[FailureRow], *, header: bool = True) -> Iterator[str]:
    """The CSV text, one line at a time (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        values = asdict(row)
        writer.writerow([_cell(values[c]) for c in COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def write_csv(rows: Iterable[FailureRow], out: IO[str]) -> int:
    """Write the header and every row; returns the number of rows."""
    counted = [0]

    def count() -> Iterator[FailureRow]:
        for row in rows:
            counted[0] += 1
            yield row

    for line in csv_lines(count()):
        out.write(line)
    return counted[0]


def retry_counts(store: Store, import_id: str) -> tuple[int, int]:
    """(failed changes a retry would send again, failed lines it leaves for the input to be fixed)."""
    retried = kept = 0
    for status, code, n, _example in store.imports.reason_summary(import_id):
        if status != Status.FAILED.value:
            continue
        if code in NOT_RETRIED:
            kept += n
        else:
            retried += n
    return retried, kept
