"""One import's failed and skipped users, filtered by status, reason code and a search text.

The one reading of failure rows: the CLI's report, the HTTP API and the dashboard all page through
`failure_page`, so a file downloaded from the page and one written by the CLI read the same.
Filtering happens in SQL (the store's `(import_id, status)` index narrows it first) so a search in
a million-user import's failures does not pull them all into Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import RowMapping, or_, select

from idsync.adapters.store.schema import changes

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = ["FailureFilter", "FailureRow", "FailureStatus", "failure_page"]

FailureStatus = Literal["failed", "skipped"]


@dataclass(frozen=True)
class FailureRow:
    """One failed or skipped user (the columns of the failure report)."""

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


@dataclass(frozen=True)
class FailureFilter:
    statuses: tuple[str, ...] = ("failed", "skipped")
    code: str | None = None  # reason code, exact
    text: str | None = None  # part of the key, the login/e-mail/name, or the reason (any case)


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
        return [_failure_row(r) for r in conn.execute(q).mappings()]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _failure_row(r: RowMapping) -> FailureRow:
    return FailureRow(
        status=str(r["status"]),
        reason_code=str(r["reason_code"] or ""),
        reason=str(r["reason_message"] or ""),
        tenant=str(r["tenant"]),
        source=str(r["source"]),
        key=str(r["key"]),
        op=str(r["op"]),
        login=_login(r["payload"]),
        idp_id=str(r["idp_id"] or ""),
        change_id=int(r["id"]),
    )


def _login(payload: object) -> str:
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
