"""Identity links in SQL: reading them (shared accounts resolved), writing them, finding who holds
an IdP account or a login, and the org's accounts listed for `--link-existing`.

The rule "one IdP account, one identity" is the unique index `ux_links_account` (schema.py);
identities that share an account under merge_sources hold no idp_id of their own but point to
the link that holds it (`via_source`, `via_key`, same tenant), and read through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    and_,
    bindparam,
    delete,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import UpdateBase

from idsync.adapters.store.common import execute_many
from idsync.adapters.store.link_rows import link_from_tuple
from idsync.adapters.store.schema import link_conflicts, links, org_accounts
from idsync.domain.links import IdpStatus, Link, PendingOp
from idsync.domain.text import login_key
from idsync.errors import LinkConflict
from idsync.ports import IdpUser

__all__ = [
    "LINK_FIELDS",
    "conflicts",
    "drop_org_account",
    "holder_by_login",
    "holder_of",
    "is_link_conflict",
    "link_from_row",
    "link_from_tuple",
    "org_account",
    "resolve",
    "save_org_accounts",
    "upsert_links",
]

Key = tuple[str, str, str]

LINK_FIELDS = (
    "tenant",
    "source",
    "key",
    "idp",
    "idp_id",
    "login",
    "profile_hash",
    "idp_status",
    "version",
    "pending_op",
    "last_error_code",
    "last_error_message",
    "via_source",
    "via_key",
)
_STATUSES = {s.value: s for s in IdpStatus}
_PENDING = {p.value: p for p in PendingOp}
_WRITTEN = (
    "idp",
    "idp_id",
    "login",
    "login_key",
    "profile_hash",
    "idp_status",
    "version",
    "pending_op",
    "last_error_code",
    "last_error_message",
    "via_source",
    "via_key",
    "updated_at",
    "line_mark",  # always cleared: only a proof made against the link as written marks it
)


def link_from_row(r: RowMapping) -> Link:
    return link_from_tuple([r[f] for f in LINK_FIELDS])


# ---- reading: shared accounts resolved ------------------------------------------------------------


def resolve(conn: Connection, found: dict[Key, Link]) -> dict[Key, Link]:
    """Fill in shared accounts: an identity that reaches its account through another link gets
    that link's idp_id, login and status; every identity of a shared account learns the sources
    of the others (`sharers`). Costs one indexed probe when no account is shared."""
    if not found or not _any_shared(conn):
        return found
    holders = {(lk.tenant, *lk.via): lk for lk in found.values() if lk.via is not None}
    holder_rows = _by_keys(conn, [k for k in holders if k not in found])
    primaries = {**{k: v for k, v in found.items() if v.via is None}, **holder_rows}
    members = _members(conn, list(primaries))
    out: dict[Key, Link] = {}
    for key, link in found.items():
        if link.via is None:
            shared = tuple(s for s, _ in members.get(key, ()))
            out[key] = _with(link, sharers=shared) if shared else link
            continue
        pkey = (link.tenant, *link.via)
        primary = primaries.get(pkey)
        if primary is None or primary.idp_id is None:  # the holder gave the account up
            out[key] = _with(link, via=None)
            continue
        others = [primary.source, *(s for s, k in members.get(pkey, ()) if (s, k) != (link.source, link.key))]
        out[key] = _with(
            link,
            idp_id=primary.idp_id,
            login=primary.login,
            idp_status=primary.idp_status,
            sharers=tuple(others),
        )
    return out


def _with(link: Link, **changes: Any) -> Link:
    return replace(link, **changes)


# Statements run per user, built once: building a SQLAlchemy statement costs more than running it.
_ANY_SHARED = select(links.c.via_key).where(links.c.via_key.isnot(None)).limit(1)
_LINK_COLUMNS = [links.c[f] for f in LINK_FIELDS]
_HOLDER_OF = select(*_LINK_COLUMNS).where(links.c.idp == bindparam("idp"), links.c.idp_id == bindparam("iid"))
_HOLDER_BY_LOGIN = (
    select(*_LINK_COLUMNS)
    .where(
        links.c.idp == bindparam("idp"),
        links.c.login_key == bindparam("lk"),
        links.c.via_key.is_(None),
        (links.c.idp_id.isnot(None)) | (links.c.pending_op == PendingOp.CREATE.value),
    )
    .order_by(links.c.idp_id.is_(None), links.c.updated_at)
)
_ORG_ACCOUNT = select(
    org_accounts.c.idp_id, org_accounts.c.login, org_accounts.c.status, org_accounts.c.profile
).where(org_accounts.c.idp == bindparam("idp"), org_accounts.c.login_key == bindparam("lk"))


def _any_shared(conn: Connection) -> bool:
    return conn.execute(_ANY_SHARED).first() is not None


def _by_keys(conn: Connection, keys: list[Key]) -> dict[Key, Link]:
    if not keys:
        return {}
    rows = conn.execute(
        select(*[links.c[f] for f in LINK_FIELDS]).where(
            tuple_(links.c.tenant, links.c.source, links.c.key).in_(keys)
        )
    ).all()
    return {(r[0], r[1], r[2]): link_from_tuple(r) for r in rows}


def _members(conn: Connection, primaries: list[Key]) -> dict[Key, list[tuple[str, str]]]:
    """(source, key) of the identities that reach each primary's account through it."""
    out: dict[Key, list[tuple[str, str]]] = {}
    for i in range(0, len(primaries), 500):
        chunk = primaries[i : i + 500]
        rows = conn.execute(
            select(links.c.tenant, links.c.via_source, links.c.via_key, links.c.source, links.c.key).where(
                links.c.via_key.isnot(None),
                tuple_(links.c.tenant, links.c.via_source, links.c.via_key).in_(chunk),
            )
        ).all()
        for t, vs, vk, s, k in rows:
            out.setdefault((t, vs, vk), []).append((s, k))
    return out


def holder_of(conn: Connection, idp: str, idp_id: str) -> Link | None:
    """The identity that holds this IdP account (sharers filled in), or None."""
    row = conn.execute(_HOLDER_OF, {"idp": idp, "iid": idp_id}).first()
    if row is None:
        return None
    link = link_from_tuple(row)
    return resolve(conn, {(link.tenant, link.source, link.key): link})[(link.tenant, link.source, link.key)]


def holder_by_login(conn: Connection, idp: str, login: str, *, besides: Key) -> Link | None:
    """Another identity that holds an account with this login, or has a create of it in flight
    (its write-ahead intent), as the IdP compares logins."""
    rows = conn.execute(_HOLDER_BY_LOGIN, {"idp": idp, "lk": login_key(login)}).all()
    for row in rows:
        link = link_from_tuple(row)
        key = (link.tenant, link.source, link.key)
        if key != besides:
            return resolve(conn, {key: link})[key]
    return None


# ---- writing ---------------------------------------------------------------------------------------


def upsert_links(conn: Connection, saved: Sequence[Link], now: float) -> None:
    """Insert or update links; an identity that gives a shared account up hands it over first.
    Raises LinkConflict when a link would make a second identity hold an account."""
    for link in saved:
        if link.handover:
            _hand_over(conn, link)
    stmt = _upsert(conn.dialect.name)
    try:
        with conn.begin_nested():
            execute_many(conn, stmt, [_values(link, now) for link in saved])
    except IntegrityError as exc:
        if is_link_conflict(exc):
            raise LinkConflict(_conflict_message(conn, saved)) from None
        raise
    for link in saved:  # what an identity learnt of a shared account belongs to its holder's row
        if link.via is None or link.idp_id is None or link.handover:
            continue
        via_source, via_key = link.via
        conn.execute(
            update(links)
            .where(
                links.c.tenant == link.tenant,
                links.c.source == via_source,
                links.c.key == via_key,
                links.c.idp_id == link.idp_id,
            )
            .values(
                idp_status=link.idp_status.value if link.idp_status else None,
                login=link.login,
                login_key=login_key(link.login) if link.login else None,
                updated_at=now,
                line_mark=None,
            )
        )


_UPSERTS: dict[str, UpdateBase] = {}


def _upsert(dialect: str) -> UpdateBase:
    """The dialect's insert-or-update of links, built once (it runs for every batch of results)."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
        ins = dialect_insert(links)
        stmt = _UPSERTS[dialect] = ins.on_conflict_do_update(
            index_elements=["tenant", "source", "key"], set_={c: ins.excluded[c] for c in _WRITTEN}
        )
    return stmt


def is_link_conflict(exc: IntegrityError) -> bool:
    text = str(exc.orig)
    return "ux_links_account" in text or "links.idp, links.idp_id" in text


def _conflict_message(conn: Connection, saved: Sequence[Link]) -> str:
    for link in saved:
        if link.idp_id is None or link.via is not None:
            continue
        holder = holder_of(conn, link.idp, link.idp_id)
        if holder is not None and (holder.tenant, holder.source, holder.key) != (
            link.tenant,
            link.source,
            link.key,
        ):
            return f"IdP account {link.idp_id} is already linked to another identity ({holder.tenant})"
    return "an IdP account is already linked to another identity"


def _hand_over(conn: Connection, link: Link) -> None:
    """`link`'s identity leaves a shared account: the first identity reaching it through `link`
    becomes its holder, the others follow it. The account itself is not touched."""
    me = and_(links.c.tenant == link.tenant, links.c.source == link.source, links.c.key == link.key)
    row = conn.execute(select(links.c.idp_id, links.c.login, links.c.idp_status).where(me)).first()
    members = conn.execute(
        select(links.c.source, links.c.key)
        .where(
            links.c.tenant == link.tenant,
            links.c.via_source == link.source,
            links.c.via_key == link.key,
        )
        .order_by(links.c.source, links.c.key)
    ).all()
    if row is None or row[0] is None or not members:
        return
    conn.execute(
        update(links)
        .where(me)
        .values(idp_id=None, login=None, login_key=None, idp_status=None, line_mark=None)
    )
    (new_source, new_key), rest = members[0], members[1:]
    conn.execute(
        update(links)
        .where(links.c.tenant == link.tenant, links.c.source == new_source, links.c.key == new_key)
        .values(
            idp_id=row[0],
            login=row[1],
            login_key=login_key(row[1]) if row[1] else None,
            idp_status=row[2],
            via_source=None,
            via_key=None,
            line_mark=None,
        )
    )
    for s, k in rest:
        conn.execute(
            update(links)
            .where(links.c.tenant == link.tenant, links.c.source == s, links.c.key == k)
            .values(via_source=new_source, via_key=new_key, line_mark=None)
        )


def _values(link: Link, now: float) -> dict[str, object]:
    shared = link.via is not None and not link.handover
    return {
        "tenant": link.tenant,
        "source": link.source,
        "key": link.key,
        "idp": link.idp,
        # An identity sharing an account holds none itself: its holder's row does.
        "idp_id": None if shared else link.idp_id,
        "login": None if shared else link.login,
        "login_key": login_key(link.login) if (link.login and not shared) else None,
        "profile_hash": link.profile_hash,
        "idp_status": None if shared else (link.idp_status.value if link.idp_status else None),
        "version": link.version,
        "pending_op": link.pending_op.value if link.pending_op else None,
        "last_error_code": link.last_error_code,
        "last_error_message": link.last_error_message,
        "via_source": link.via[0] if shared and link.via else None,
        "via_key": link.via[1] if shared and link.via else None,
        "updated_at": now,
        "line_mark": None,
    }


# ---- the org's accounts, listed once for --link-existing -------------------------------------------


def save_org_accounts(conn: Connection, idp: str, users: Iterable[IdpUser], now: float) -> int:
    rows = [
        {
            "idp": idp,
            "login_key": login_key(u.login),
            "idp_id": u.id,
            "login": u.login,
            "status": u.status.value,
            "profile": json.dumps(dict(u.profile), separators=(",", ":")),
            "listed_at": now,
        }
        for u in users
    ]
    if not rows:
        return 0
    keys = [r["login_key"] for r in rows]
    conn.execute(delete(org_accounts).where(org_accounts.c.idp == idp, org_accounts.c.login_key.in_(keys)))
    conn.execute(insert(org_accounts), rows)
    return len(rows)


def org_account(conn: Connection, idp: str, login: str) -> IdpUser | None:
    row = conn.execute(_ORG_ACCOUNT, {"idp": idp, "lk": login_key(login)}).first()
    if row is None:
        return None
    profile: Mapping[str, Any] = json.loads(row[3])
    return IdpUser(id=row[0], login=row[1], status=IdpStatus(row[2]), profile=profile)


def drop_org_account(conn: Connection, idp: str, login: str) -> None:
    """A listed account is linked or gone: the listing no longer speaks for it."""
    conn.execute(
        delete(org_accounts).where(org_accounts.c.idp == idp, org_accounts.c.login_key == login_key(login))
    )


def conflicts(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(select(link_conflicts).order_by(link_conflicts.c.id)).mappings().all()
    return [dict(r) for r in rows]
