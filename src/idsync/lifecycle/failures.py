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
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import IO

from idsync.adapters.store.sql import Store
from idsync.domain.models import Status

__all__ = [
    "COLUMNS",
    "NOT_RETRIED",
    "FailureRow",
    "csv_lines",
    "iter_failures",
    "retry_counts",
    "write_csv",
]

# Reason codes decided from the input alone: retrying cannot help (fix the input instead).
NOT_RETRIED = ("invalid", "tenant_mismatch")
COLUMNS = ("status", "reason_code", "reason", "tenant", "source", "key", "op", "login", "idp_id", "change_id")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class FailureRow:
    status: str
    reason_code: str
    reason: str
    tenant: str
    source: str
    key: str
    op: str
    login: str
    idp_id: str
    change_id: int


def login_of(payload: object) -> str:
    """The user's login from a stored change (empty for a line that was not even JSON)."""
    if not isinstance(payload, str) or not payload:
        return ""
    try:
        data = json.loads(payload)
    except ValueError:
        return ""
    user = data.get("user") if isinstance(data, dict) else None
    login = user.get("login") if isinstance(user, dict) else None
    return str(login)[:200] if login is not None else ""


def iter_failures(
    store: Store,
    import_id: str,
    *,
    statuses: Iterable[Status] = (Status.FAILED, Status.SKIPPED),
    page: int = 1000,
    after: int = 0,
) -> Iterator[FailureRow]:
    """Rows in change order, after change id `after`, read `page` at a time."""
    wanted = list(statuses)
    while True:
        rows = store.imports.results(import_id, statuses=wanted, limit=page, after_id=after)
        for r in rows:
            yield FailureRow(
                status=str(r["status"]),
                reason_code=str(r["reason_code"] or ""),
                reason=str(r["reason_message"] or ""),
                tenant=str(r["tenant"]),
                source=str(r["source"]),
                key=str(r["key"]),
                op=str(r["op"]),
                login=login_of(r["payload"]),
                idp_id=str(r["idp_id"] or ""),
                change_id=int(str(r["id"])),
            )
        if len(rows) < page:
            return
        after = int(str(rows[-1]["id"]))


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
