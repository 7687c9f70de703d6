"""Tables of the state store and their versioned migrations.

A fresh database gets the current tables and every migration name stamped; an older one gets the
migrations it has not seen, in order, in one transaction. To change the schema: edit the tables
AND append a migration that brings old databases to the same shape. Never edit a shipped one.
"""

from __future__ import annotations

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
    inspect,
    select,
)

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
)
Index("ix_links_tenant_status", links.c.tenant, links.c.idp_status)
Index("ix_links_idp_user", links.c.idp, links.c.idp_id)

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
    Column("input_cursor", BigInteger, nullable=False, default=0),
    # Unchanged users of file imports are counted, not stored one row each (see Ingestor).
    Column("unchanged_unrecorded", BigInteger, nullable=False, default=0),
    Column("input_done", Boolean, nullable=False, default=False),
    Column("rate", Float, nullable=False, default=0.0),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
)

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
]


def _add_column(conn: Connection, table: str, definition: str) -> None:
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {definition}")


def register(name: str, description: str, step: Migration | None) -> None:
    """Add a feature's migration (called at import time by the feature's table module)."""
    if all(existing != name for existing, _, _ in MIGRATIONS):
        MIGRATIONS.append((name, description, step))


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
