"""Line marks in SQL (domain/marks.py): which lines of a batch their links hold marks for, and
marking the links a worker left at rest. Every other write of a link clears its mark (links.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, text, update

from idsync.adapters.store.common import CHUNK, chunks
from idsync.adapters.store.schema import links
from idsync.domain.links import Link
from idsync.domain.records import LineMark

__all__ = ["at_rest_lines", "mark_if_unchanged", "mark_lines"]

# A holder whose account other identities share is never passed over (its decision reads
# theirs), nor is an identity reaching an account through another's link.
_AT_REST_SQL = (
    "SELECT l.line_mark, l.source, l.key FROM links l "
    "WHERE l.tenant = ? AND l.line_mark IN ({marks}) AND l.via_key IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM links s "
    "WHERE s.tenant = l.tenant AND s.via_source = l.source AND s.via_key = l.key)"
)
_AT_REST = text(_AT_REST_SQL.replace("?", ":tenant", 1).replace("IN ({marks})", "IN :marks")).bindparams(
    bindparam("marks", expanding=True)
)

_MARK = (
    update(links)
    .where(
        links.c.tenant == bindparam("t"),
        links.c.source == bindparam("s"),
        links.c.key == bindparam("k"),
    )
    .values(line_mark=bindparam("m"))
)


# A link the ingest read and found a line unchanged against: marked only if it is still as read
# (what the planner reads of it), so a write in between (an activation, another way in) wins.
_MARK_IF_SAME = (
    update(links)
    .where(
        links.c.tenant == bindparam("t"),
        links.c.source == bindparam("s"),
        links.c.key == bindparam("k"),
        links.c.idp_id == bindparam("id"),
        links.c.profile_hash.is_not_distinct_from(bindparam("ph")),
        links.c.idp_status.is_not_distinct_from(bindparam("st")),
        links.c.version.is_not_distinct_from(bindparam("v")),
        links.c.pending_op.is_(None),
        links.c.via_key.is_(None),
        links.c.line_mark.is_distinct_from(bindparam("m")),
    )
    .values(line_mark=bindparam("m"))
)


def at_rest_lines(conn: Connection, tenant: str, marks: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(source, key) of the link that holds each mark found (of a tenant's links)."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in chunks(list(set(marks)), CHUNK):
        if conn.dialect.name == "sqlite":
            # Hot on a re-import (every line asks): the driver's cursor in this transaction, without
            # SQLAlchemy compiling the expanding IN for each batch (a third of the cost).
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                sql = _AT_REST_SQL.format(marks=", ".join("?" * len(chunk)))
                for mark, source, key in cursor.execute(sql, (tenant, *chunk)):
                    found[mark] = (source, key)
            finally:
                cursor.close()
            continue
        for mark, source, key in conn.execute(_AT_REST, {"tenant": tenant, "marks": chunk}):
            found[mark] = (source, key)
    return found


def mark_lines(conn: Connection, marks: Sequence[LineMark]) -> None:
    """Mark links, in the transaction that wrote them (which cleared any earlier mark)."""
    if marks:
        conn.execute(_MARK, [{"t": t, "s": s, "k": k, "m": m} for t, s, k, m in marks])


def mark_if_unchanged(conn: Connection, proved: Sequence[tuple[Link, str]]) -> None:
    """Mark each link (as the ingest read it) with its line's mark, where it is still as read.
    A link of a shared account or with a write in flight is never marked."""
    rows = [
        {
            "t": lk.tenant,
            "s": lk.source,
            "k": lk.key,
            "id": lk.idp_id,
            "ph": lk.profile_hash,
            "st": lk.idp_status.value if lk.idp_status else None,
            "v": lk.version,
            "m": mark,
        }
        for lk, mark in proved
        if lk.idp_id is not None and lk.via is None and not lk.sharers and lk.pending_op is None
    ]
    if rows:
        conn.execute(_MARK_IF_SAME, rows)
