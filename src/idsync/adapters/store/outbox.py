"""The outbox: results and import progress to send back on the channel a change came in on
(the Kafka results publisher). Reads the store's `changes` and `imports`; marks what was sent.

Synchronous, like `Store` (the caller runs them through `AsyncStore.call`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from idsync.adapters.store.schema import changes, imports

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store
    from idsync.domain.records import ImportRecord

__all__ = ["PublishRow", "imports_to_report", "mark_published", "unpublished"]

_CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True)
class PublishRow:
    id: int
    tenant: str
    source: str
    key: str
    version: int | None
    import_id: str | None
    message_id: str | None
    status: str
    idp_id: str | None
    reason_code: str | None
    reason_message: str | None
    origin_ref: str | None
    activation_url: str | None = None


def unpublished(store: Store, origin: str, limit: int) -> list[PublishRow]:
    """Finished changes that came in on `origin` and whose result was not sent yet, oldest first."""
    c = changes.c
    q = (
        select(*(c[f.name] for f in fields(PublishRow)))
        .where(c.state == "done", c.published == False, c.origin == origin)  # noqa: E712
        .order_by(c.id)
        .limit(limit)
    )
    with store.engine.begin() as conn:
        return [PublishRow(**dict(r)) for r in conn.execute(q).mappings()]


def mark_published(store: Store, ids: Sequence[int]) -> None:
    with store.engine.begin() as conn:
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            conn.execute(update(changes).where(changes.c.id.in_(chunk)).values(published=True))


def imports_to_report(store: Store, origin: str, changed_since: float) -> list[ImportRecord]:
    """Imports that came in on `origin` and changed since the last report, or still have
    changes to do (a Kafka import without `import_end` stays running, but once all it
    received is done and nothing more comes, there is nothing new to say)."""
    q = select(imports.c.id).where(
        imports.c.origin == origin,
        or_(imports.c.state == "running", imports.c.updated_at >= changed_since),
    )
    with store.engine.begin() as conn:
        ids = list(conn.execute(q.order_by(imports.c.started_at)).scalars())
    records = [r for r in (store.imports.get(i) for i in ids) if r is not None]
    return [
        r
        for r in records
        if r.updated_at >= changed_since
        or r.progress().pending > 0
        or (r.total is not None and not r.input_done and r.counts["received"] >= r.total)
    ]
