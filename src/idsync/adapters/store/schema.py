"""Tables of the state store and their versioned migrations.

A fresh database gets the current tables and every migration name stamped; an older one gets the
migrations it has not seen, in order, in one transaction (`idsync db upgrade`, and every start).
To change the schema: edit the tables AND append a migration that brings old databases to the
same shape. Never edit a shipped one.

Why not alembic: each feature module owns its tables and registers its own migration here
(`register`), several instances starting on one PostgreSQL database serialise on an advisory lock
(sql.py), and a data migration (core_0004 reports links that hold one account twice) needs the
domain's rules; alembic's single revision chain in a migrations folder would split each feature's
schema from its code and add a second way to create tables, for no step this list cannot take.
An upgrade from the previous release's schema, data included, is tested
(tests/identity/test_store_integrity.py, with a fixture made by that release).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    bindparam,
    func,
    inspect,
    select,
    update,
)

from idsync.domain.text import login_key

log = logging.getLogger("idsync.store")
metadata = MetaData()
# SQLite makes INTEGER PRIMARY KEY the rowid (fast, autoincrementing); PostgreSQL wants BIGINT.
_ID = BigInteger().with_variant(Integer, "sqlite")

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_at", Float, nullable=False),
)

links = Table(
    "links",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("source", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("idp", String(100), nullable=False),
    Column("idp_id", String(100)),
    Column("login", String(200)),
    Column("profile_hash", String(64)),
    Column("idp_status", String(32)),
    Column("version", BigInteger),
    Column("pending_op", String(16)),
    Column("last_error_code", String(64)),
    Column("last_error_message", Text),
    Column("updated_at", Float, nullable=False),
    # The login as the IdP compares it (domain/text.login_key): finds who holds a login.
    Column("login_key", String(200)),
    # merge_sources: the identity of the same tenant whose link holds the shared account.
    Column("via_source", String(100)),
    Column("via_key", String(200)),
    # The mark of the line last found at rest against this link (domain/marks.py); every other
    # write of the link clears it.
    Column("line_mark", String(48)),
)
Index("ix_links_tenant_status", links.c.tenant, links.c.idp_status)
# One IdP account, one identity: the store refuses a second link to an account, whatever the
# code path (identities that share an account under merge_sources reach it through `via_*`).
Index("ux_links_account", links.c.idp, links.c.idp_id, unique=True)
Index("ix_links_login", links.c.idp, links.c.login_key)
_marked = links.c.line_mark.isnot(None)
Index("ix_links_line_mark", links.c.tenant, links.c.line_mark, sqlite_where=_marked, postgresql_where=_marked)
_shared = links.c.via_key.isnot(None)
Index(
    "ix_links_via",
    links.c.tenant,
    links.c.via_source,
    links.c.via_key,
    sqlite_where=_shared,
    postgresql_where=_shared,
)

# Links that migration core_0004 found holding an account another identity also held: detached
# (their idp_id cleared) and kept here so `idsync links conflicts` can report them by key.
link_conflicts = Table(
    "link_conflicts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("idp", String(100), nullable=False),
    Column("idp_id", String(100), nullable=False),
    Column("tenant", String(100), nullable=False),
    Column("source", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("kept", String(520), nullable=False),  # tenant/source/key of the identity that kept it
    Column("found_at", Float, nullable=False),
)

# The org's accounts as listed once for `--link-existing`: matched by login before any create.
org_accounts = Table(
    "org_accounts",
    metadata,
    Column("idp", String(100), primary_key=True),
    Column("login_key", String(200), primary_key=True),
    Column("idp_id", String(100), nullable=False),
    Column("login", String(200), nullable=False),
    Column("status", String(32), nullable=False),
    Column("profile", Text, nullable=False),
    Column("listed_at", Float, nullable=False),
)

changes = Table(
    "changes",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("user_key", String(420), nullable=False),
    Column("tenant", String(100), nullable=False),
    Column("source", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("op", String(16), nullable=False),
    Column("version", BigInteger),
    Column("import_id", String(100)),
    Column("message_id", String(200)),
    Column("lane", SmallInteger, nullable=False),
    Column("payload", Text),
    Column("origin", String(16), nullable=False),
    Column("origin_ref", String(300), unique=True),
    Column("state", String(10), nullable=False),
    Column("status", String(16)),
    Column("idp_id", String(100)),
    Column("reason_code", String(64)),
    Column("reason_message", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", Float, nullable=False, default=0.0),
    Column("received_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("published", Boolean, nullable=False, default=False),
    # When the tenant sends no activation e-mail, the link the user needs (a one-time credential):
    # handed to the application with the result, never logged.
    Column("activation_url", Text),
    # The line's fingerprint (domain/marks.py), for the worker to mark the link it leaves at rest.
    Column("line_fp", String(32)),
)
_pending = changes.c.state == "pending"
_open = changes.c.state != "done"
Index("ix_changes_pending", changes.c.lane, changes.c.id, sqlite_where=_pending, postgresql_where=_pending)
Index("ix_changes_open_user", changes.c.user_key, sqlite_where=_open, postgresql_where=_open)
Index("ix_changes_import_status", changes.c.import_id, changes.c.status)
_unpublished = (changes.c.state == "done") & (changes.c.published == False)  # noqa: E712
Index(
    "ix_changes_unpublished",
    changes.c.origin,
    changes.c.id,
    sqlite_where=_unpublished,
    postgresql_where=_unpublished,
)

imports = Table(
    "imports",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("tenant", String(100), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("input_name", Text),
    Column("state", String(16), nullable=False),
    Column("total", BigInteger),
    Column("received", BigInteger, nullable=False, default=0),
    Column("created", BigInteger, nullable=False, default=0),
    Column("updated", BigInteger, nullable=False, default=0),
    Column("unchanged", BigInteger, nullable=False, default=0),
    Column("skipped", BigInteger, nullable=False, default=0),
    Column("failed", BigInteger, nullable=False, default=0),
    Column("activated", BigInteger, nullable=False, default=0),
    Column("deactivated", BigInteger, nullable=False, default=0),
    Column("deleted", BigInteger, nullable=False, default=0),
    Column("cancelled", BigInteger, nullable=False, default=0),
    Column("input_cursor", BigInteger, nullable=False, default=0),
    # Unchanged users of file imports are counted, not stored one row each (see Ingestor).
    Column("unchanged_unrecorded", BigInteger, nullable=False, default=0),
    Column("input_done", Boolean, nullable=False, default=False),
    Column("rate", Float, nullable=False, default=0.0),
    # IdP calls made for the import (its changes' and its account listing), on every way in.
    Column("api_calls", BigInteger, nullable=False, default=0),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
)
# Paused imports are looked up on every claim (their changes are not claimed): a short list.
Index("ix_imports_state", imports.c.state)

# One row per user being worked on: who holds it and until when (a lease; expired leases are
# taken back, so a killed worker's users are retried and no two workers touch one user at once).
claims = Table(
    "claims",
    metadata,
    Column("user_key", String(420), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("lease_until", Float, nullable=False),
)

Migration = Callable[[Connection], None]
# (name, description, function), applied in this order. A fresh database gets every table from
# `metadata` and all names stamped. Features that add tables define them in their own module on
# this `metadata` (imported below) and append a migration that creates them on older databases,
# e.g. ("inbound_0001", "...", lambda conn: my_table.create(conn)).
MIGRATIONS: list[tuple[str, str, Migration | None]] = [
    ("core_0001", "initial schema: links, changes, imports, claims", None),
    (
        "core_0002",
        "imports.unchanged_unrecorded",
        lambda conn: _add_column(conn, "imports", "unchanged_unrecorded BIGINT NOT NULL DEFAULT 0"),
    ),
    ("core_0003", "changes.activation_url", lambda conn: _add_column(conn, "changes", "activation_url TEXT")),
    (
        "core_0004",
        "links: one IdP account, one identity (login_key, via, unique account)",
        lambda c: _core_0004(c),
    ),
    (
        "core_0005",
        "imports.cancelled and ix_imports_state: imports can be paused, resumed and cancelled",
        lambda c: _core_0005(c),
    ),
    (
        "core_0006",
        "links.line_mark and changes.line_fp: a re-import passes over lines proved unchanged",
        lambda c: _core_0006(c),
    ),
]


def _core_0006(conn: Connection) -> None:
    _add_column(conn, "links", "line_mark VARCHAR(48)")
    _add_column(conn, "changes", "line_fp VARCHAR(32)")
    for index in links.indexes:
        if index.name == "ix_links_line_mark":
            index.create(conn)


def _core_0005(conn: Connection) -> None:
    _add_column(conn, "imports", "cancelled BIGINT NOT NULL DEFAULT 0")
    for index in imports.indexes:
        if index.name == "ix_imports_state":
            index.create(conn)


def _core_0004(conn: Connection) -> None:
    """Columns for logins and shared accounts, then the unique account index. Links that already
    hold one account twice (made before this rule) are reported, not silently dropped: the
    identity that created the account keeps it, the others are detached with `link_conflict` as
    their last error and listed in link_conflicts (`idsync links conflicts`)."""
    for column in ("login_key VARCHAR(200)", "via_source VARCHAR(100)", "via_key VARCHAR(200)"):
        _add_column(conn, "links", column)
    rows = conn.execute(select(links.c.tenant, links.c.source, links.c.key, links.c.login)).all()
    keyed = [{"t": t, "s": s, "k": k, "lk": login_key(login)} for t, s, k, login in rows if login is not None]
    if keyed:
        conn.execute(
            update(links)
            .where(
                links.c.tenant == bindparam("t"),
                links.c.source == bindparam("s"),
                links.c.key == bindparam("k"),
            )
            .values(login_key=bindparam("lk")),
            keyed,
        )
    for table in (link_conflicts, org_accounts):
        table.create(conn)
    for idp, idp_id in conn.execute(
        select(links.c.idp, links.c.idp_id)
        .where(links.c.idp_id.isnot(None))
        .group_by(links.c.idp, links.c.idp_id)
        .having(func.count() > 1)
    ).all():
        _detach_duplicates(conn, idp, idp_id)
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_links_idp_user")
    for index in links.indexes:
        if index.name in ("ux_links_account", "ix_links_login", "ix_links_via"):
            index.create(conn)


def _detach_duplicates(conn: Connection, idp: str, idp_id: str) -> None:
    holders = conn.execute(
        select(links.c.tenant, links.c.source, links.c.key).where(
            links.c.idp == idp, links.c.idp_id == idp_id
        )
    ).all()
    first = conn.execute(  # the identity whose change created the account, else the first to reach it
        select(changes.c.tenant, changes.c.source, changes.c.key)
        .where(changes.c.idp_id == idp_id)
        .order_by((changes.c.status != "created"), changes.c.id)
        .limit(1)
    ).first()
    holder_keys = [tuple(h) for h in holders]
    kept = tuple(first) if first is not None and tuple(first) in holder_keys else min(holder_keys)
    now = time.time()
    for t, s, k in holder_keys:
        if (t, s, k) == kept:
            continue
        log.warning(
            "store migration core_0004: IdP account %s (%s) was linked to %s/%s/%s and to %s; "
            "%s/%s/%s is detached (last error link_conflict): see idsync links conflicts",
            idp_id,
            idp,
            t,
            s,
            k,
            "/".join(kept),
            t,
            s,
            k,
        )
        conn.execute(
            update(links)
            .where(links.c.tenant == t, links.c.source == s, links.c.key == k)
            .values(
                idp_id=None,
                idp_status=None,
                login=None,
                login_key=None,
                profile_hash=None,
                pending_op=None,
                last_error_code="link_conflict",
                last_error_message=f"IdP account {idp_id} is linked to {'/'.join(kept)}; this link was "
                "detached by the store upgrade (core_0004)",
            )
        )
        conn.execute(
            link_conflicts.insert().values(
                idp=idp, idp_id=idp_id, tenant=t, source=s, key=k, kept="/".join(kept), found_at=now
            )
        )


def _add_column(conn: Connection, table: str, definition: str) -> None:
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {definition}")


def register(name: str, description: str, step: Migration | None) -> None:
    """Add a feature's migration (called at import time by the feature's table module)."""
    if all(existing != name for existing, _, _ in MIGRATIONS):
        MIGRATIONS.append((name, description, step))


def migration_status(conn: Connection) -> tuple[list[tuple[str, str, float]], list[tuple[str, str]]]:
    """(applied: name, description, when), (pending: name, description), without changing anything."""
    if "schema_migrations" not in set(inspect(conn).get_table_names()):
        return [], [(n, d) for n, d, _ in MIGRATIONS]
    rows = conn.execute(
        select(schema_migrations.c.name, schema_migrations.c.description, schema_migrations.c.applied_at)
    ).all()
    applied = {r[0] for r in rows}
    order = {n: i for i, (n, _, _) in enumerate(MIGRATIONS)}
    done = sorted(((r[0], r[1], float(r[2])) for r in rows), key=lambda r: order.get(r[0], len(order)))
    return done, [(n, d) for n, d, _ in MIGRATIONS if n not in applied]


def migrate(conn: Connection) -> list[str]:
    """Bring the database up to date; returns the names of the migrations it applied."""
    existing = set(inspect(conn).get_table_names())
    if "schema_migrations" not in existing:
        metadata.create_all(conn)
        conn.execute(
            schema_migrations.insert(),
            [{"name": n, "description": d, "applied_at": time.time()} for n, d, _ in MIGRATIONS],
        )
        return []
    applied = set(conn.execute(select(schema_migrations.c.name)).scalars())
    done: list[str] = []
    for name, description, step in MIGRATIONS:
        if name in applied:
            continue
        if step is not None:
            step(conn)
        conn.execute(
            schema_migrations.insert(), {"name": name, "description": description, "applied_at": time.time()}
        )
        done.append(name)
    return done
