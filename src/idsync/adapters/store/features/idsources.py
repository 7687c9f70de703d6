"""Tables of bulk import sessions (Okta identity sources); queries: adapters/store/sessions.py.

- `idsource_sessions`: every session idsync opened, with its state (domain/sessions.py), so a
  restarted run knows which session to wait for and which to delete and redo.
- `idsource_entries`: which user went into which upload of a session, written before the upload
  is sent, and what reading the user back showed once the session was done.
- `idsource_members`: identities whose account an identity source masters (it created or
  updated them): their profile updates go through the source, since Okta refuses them on
  /api/v1/users (403 E0000023).
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, Float, Index, Integer, String, Table, Text

from idsync.adapters.store import schema

__all__ = ["idsource_entries", "idsource_members", "idsource_sessions"]

idsource_sessions = Table(
    "idsource_sessions",
    schema.metadata,
    Column("id", String(100), primary_key=True),
    Column("idp", String(100), nullable=False),
    Column("source_id", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created", String(40), nullable=False),  # the IdP's timestamp of the session
    Column("started", String(40)),  # the IdP's timestamp of start-import
    Column("uploads", Integer, nullable=False, default=0),
    Column("triggered_at", Float),
    Column("updated_at", Float, nullable=False),
)
Index("ix_idsource_sessions_state", idsource_sessions.c.idp, idsource_sessions.c.state)

idsource_entries = Table(
    "idsource_entries",
    schema.metadata,
    Column("session_id", String(100), primary_key=True),
    Column("user_key", String(420), primary_key=True),
    Column("tenant", String(100), nullable=False),
    Column("source", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("external_id", String(300), nullable=False),
    Column("login", String(200), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("profile", Text, nullable=False),  # JSON: the IdP profile the session carries
    Column("profile_hash", String(64), nullable=False),
    Column("upload", Integer, nullable=False),
    Column("idp_id", String(100)),
    Column("result", String(16)),
    Column("idp_status", String(32)),
)
Index("ix_idsource_entries_user", idsource_entries.c.user_key)

idsource_members = Table(
    "idsource_members",
    schema.metadata,
    Column("idp", String(100), primary_key=True),
    Column("user_key", String(420), primary_key=True),
    Column("source_id", String(100), nullable=False),
    Column("external_id", String(300), nullable=False),
    Column("idp_id", String(100)),
    Column("updated_at", Float, nullable=False),
)


def _create(conn: Connection) -> None:
    for table in (idsource_sessions, idsource_entries, idsource_members):
        table.create(conn, checkfirst=True)


schema.register(
    "idsources_0001",
    "identity-source import sessions, their users by upload, and the users a source masters",
    _create,
)
