"""Identity links: one per tenant + source + key, with the IdP account it holds (see links.py
for the SQL of shared accounts and holders)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, func, select, tuple_

from idsync.adapters.store import links as link_sql
from idsync.adapters.store.common import CHUNK, Part, chunks
from idsync.adapters.store.line_marks import at_rest_lines, mark_if_unchanged
from idsync.adapters.store.schema import links
from idsync.domain.links import IdpStatus, Link
from idsync.ports import IdpUser

__all__ = ["LinkTable"]


class LinkTable(Part):
    def get(self, tenant: str, source: str, key: str) -> Link | None:
        return self.get_many([(tenant, source, key)]).get((tenant, source, key))

    def get_many(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], Link]:
        """Links by (tenant, source, key), asked per tenant and source so the primary key serves."""
        by_prefix: dict[tuple[str, str], list[str]] = {}
        for tenant, source, key in set(keys):
            by_prefix.setdefault((tenant, source), []).append(key)
        out: dict[tuple[str, str, str], Link] = {}
        with self._tx() as conn:
            for (tenant, source), prefix_keys in by_prefix.items():
                for chunk in chunks(prefix_keys, CHUNK):
                    if self.dialect == "sqlite":
                        # Hot on a re-import: the driver's cursor in this transaction, rows as
                        # tuples, without SQLAlchemy's per-row processing (a third of the cost).
                        sql = _LINKS_SQL.format(marks=", ".join("?" * len(chunk)))
                        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                        try:
                            for t in cursor.execute(sql, (tenant, source, *chunk)):
                                out[(t[0], t[1], t[2])] = link_sql.link_from_tuple(t)
                        finally:
                            cursor.close()
                        continue
                    rows = conn.execute(_LINKS_BY_KEYS, {"t": tenant, "s": source, "keys": chunk}).mappings()
                    for row in rows:
                        out[(row["tenant"], row["source"], row["key"])] = link_sql.link_from_row(row)
            return link_sql.resolve(conn, out)

    def at_rest_lines(self, tenant: str, marks: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(source, key) of the tenant's link that holds each of these line marks (domain/marks.py)."""
        with self._tx() as conn:
            return at_rest_lines(conn, tenant, marks)

    def mark_at_rest(self, proved: Sequence[tuple[Link, str]]) -> None:
        """Mark links the ingest found lines unchanged against, where each is still as read."""
        with self._tx() as conn:
            mark_if_unchanged(conn, proved)

    def save(self, link: Link) -> None:
        with self._tx() as conn:
            link_sql.upsert_links(conn, [link], time.time())

    def holder_of(self, idp: str, idp_id: str) -> Link | None:
        """The identity that holds this IdP account, or None."""
        with self._tx() as conn:
            return link_sql.holder_of(conn, idp, idp_id)

    def holder_by_login(self, idp: str, login: str, *, besides: tuple[str, str, str]) -> Link | None:
        """Another identity that holds (or is creating) an account with this login."""
        with self._tx() as conn:
            return link_sql.holder_by_login(conn, idp, login, besides=besides)

    def login_in_use(
        self, idp: str, login: str, *, besides: tuple[str, str, str]
    ) -> tuple[Link | None, IdpUser | None]:
        """`holder_by_login`, else `listed`, in one transaction (one per created user, not two)."""
        with self._tx() as conn:
            holder = link_sql.holder_by_login(conn, idp, login, besides=besides)
            return (holder, None) if holder is not None else (None, link_sql.org_account(conn, idp, login))

    def save_listed(self, idp: str, users: Sequence[IdpUser], now: float | None = None) -> int:
        with self._tx() as conn:
            return link_sql.save_org_accounts(conn, idp, users, time.time() if now is None else now)

    def listed(self, idp: str, login: str) -> IdpUser | None:
        """The org's account with this login as listed for --link-existing, if any."""
        with self._tx() as conn:
            return link_sql.org_account(conn, idp, login)

    def forget_listed(self, idp: str, login: str) -> None:
        with self._tx() as conn:
            link_sql.drop_org_account(conn, idp, login)

    def conflicts(self) -> list[dict[str, object]]:
        """Links the store upgrade found holding an account twice, and detached (by key)."""
        with self._tx() as conn:
            return link_sql.conflicts(conn)

    def by_status(
        self,
        tenant: str,
        statuses: Iterable[IdpStatus],
        *,
        source: str | None = None,
        after: tuple[str, str] = ("", ""),
        limit: int = 500,
    ) -> list[Link]:
        """Links of a tenant in the given IdP statuses, in (source, key) order, for resumable jobs."""
        q = select(links).where(
            links.c.tenant == tenant,
            links.c.idp_status.in_([s.value for s in statuses]),
            tuple_(links.c.source, links.c.key) > after,
        )
        if source is not None:
            q = q.where(links.c.source == source)
        q = q.order_by(links.c.source, links.c.key).limit(limit)
        with self._tx() as conn:
            return [link_sql.link_from_row(r) for r in conn.execute(q).mappings()]

    def count(
        self, tenant: str, statuses: Iterable[IdpStatus] | None = None, source: str | None = None
    ) -> int:
        q = select(func.count()).select_from(links).where(links.c.tenant == tenant)
        if statuses is not None:
            q = q.where(links.c.idp_status.in_([s.value for s in statuses]))
        if source is not None:
            q = q.where(links.c.source == source)
        with self._tx() as conn:
            return int(conn.execute(q).scalar_one())

    def status_counts(self, tenant: str) -> dict[str, int]:
        """The tenant's identity links by IdP status (`none`: no account yet or none any more)."""
        q = (
            select(links.c.idp_status, func.count())
            .where(links.c.tenant == tenant)
            .group_by(links.c.idp_status)
        )
        with self._tx() as conn:
            return {str(status or "none"): int(n) for status, n in conn.execute(q).all()}

    # ---- receiving changes ---------------------------------------------------------------------


_LINKS_SQL = (
    f"SELECT {', '.join(link_sql.LINK_FIELDS)} FROM links "
    "WHERE tenant = ? AND source = ? AND key IN ({marks})"
)
_LINKS_BY_KEYS = select(links).where(
    links.c.tenant == bindparam("t"),
    links.c.source == bindparam("s"),
    links.c.key.in_(bindparam("keys", expanding=True)),
)
