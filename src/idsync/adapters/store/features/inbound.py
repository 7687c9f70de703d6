"""Tables of inbound sync (Okta -> application); the queries live in `idsync.adapters.store.inbound`.

- `inbound_integrations`: one row per `[inbound.<name>]`: state (active/paused/removed), when it
  was paused, the delta cursor, the registered Okta event hook, and the lease of the one
  process that applies its changes (several service instances may share a PostgreSQL store).
- `inbound_links`: Okta user id <-> application user key, with what was last written (mapped
  fields, managed roles) and watermarks that tell an old event from a new one.
- `inbound_events`: every event received by the hook endpoint, stored before Okta gets its
  answer; the primary key (integration, uuid) makes a redelivery a no-op. Processed rows stay
  for `event_retention_s` so redeliveries are still recognised.
- `inbound_log`: the execution log (syncs, deliveries, events, pause/resume/remove, hooks).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Float, Index, Integer, String, Table, Text

from idsync.adapters.store import schema

_ID = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid

integrations = Table(
    "inbound_integrations",
    schema.metadata,
    Column("name", String(100), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("paused_at", Float),
    Column("delta_cursor", String(40)),
    Column("hook_id", String(100)),
    Column("lease_owner", String(100)),
    Column("lease_until", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

links = Table(
    "inbound_links",
    schema.metadata,
    Column("integration", String(100), primary_key=True),
    Column("okta_id", String(100), primary_key=True),
    Column("app_key", String(200), nullable=False),
    Column("login", String(200)),
    Column("okta_status", String(32)),
    Column("applied", Text),  # JSON: mapped field values last written
    Column("roles", Text),  # JSON list of managed roles held; NULL: never considered
    Column("profile_wm", Float),  # Okta clock: events published before this are reflected
    Column("roles_wm", Float),
    Column("as_of", Float),  # idsync clock: when the applied profile was fetched
    Column("roles_as_of", Float),
    Column("updated_at", Float, nullable=False),
)
Index("ux_inbound_links_app_key", links.c.integration, links.c.app_key, unique=True)

events = Table(
    "inbound_events",
    schema.metadata,
    Column("integration", String(100), primary_key=True),
    Column("uuid", String(100), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("published", String(40)),
    Column("published_ts", Float, nullable=False),
    Column("okta_user_id", String(100)),
    Column("login", String(200)),
    Column("group_id", String(100)),
    Column("group_name", String(300)),
    Column("delivery_id", String(100)),
    Column("state", String(10), nullable=False),  # queued, held, done, dropped
    Column("outcome", String(16)),
    Column("message", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", Float, nullable=False, default=0.0),
    Column("received_at", Float, nullable=False),
    Column("processed_at", Float),
)
Index("ix_inbound_events_due", events.c.integration, events.c.state, events.c.published_ts)

log = Table(
    "inbound_log",
    schema.metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("integration", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(16), nullable=False),
    Column("ref", String(200)),
    Column("okta_user_id", String(100)),
    Column("summary", Text),
    Column("detail", Text),  # JSON: counts, skipped users, errors, request
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
)
Index("ix_inbound_log_integration", log.c.integration, log.c.id)
Index("ix_inbound_log_kind_status", log.c.integration, log.c.kind, log.c.status)

TABLES = (integrations, links, events, log)


def _create(conn: Connection) -> None:
    for table in TABLES:
        table.create(conn, checkfirst=True)  # with its indexes


schema.register("inbound_0001", "inbound sync: integrations, links, events, execution log", _create)
