"""API tokens (`idsync tokens`) and the key that signs dashboard sessions.

A token is `idsync_<id>_<secret>`: `id` (12 hex characters) is public, shown by `idsync tokens
list` and used to find the row; `secret` is 32 random bytes. The store keeps only the SHA-256 of
the whole token. A plain hash is enough here because the token is random with 256 bits of
entropy: nobody can guess it from the hash, so the slow, salted hashes that protect
human-chosen passwords would add cost and nothing else. The presented token's hash is compared
with `hmac.compare_digest` (constant time). The token itself is printed once, at creation.

Token names are unique among tokens not revoked, so `token:NAME` names one caller in the audit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Float, Index, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError

from idsync.adapters.store import schema
from idsync.adapters.store.features.rows import from_row
from idsync.domain.authz import Role

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = [
    "TOKEN_PREFIX",
    "DuplicateName",
    "TokenRow",
    "api_tokens",
    "authenticate_token",
    "create_token",
    "get_token",
    "list_tokens",
    "revoke_token",
    "session_key",
]

TOKEN_PREFIX = "idsync_"
_FORMAT = re.compile(r"^idsync_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")

api_tokens = Table(
    "api_tokens",
    schema.metadata,
    Column("id", String(12), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("hash", String(64), nullable=False),  # sha256 hex of the whole token
    Column("role", String(16), nullable=False),
    Column("tenants", Text, nullable=False),  # JSON list; [] = every tenant
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("revoked_by", String(200)),
)
Index("ix_api_tokens_name", api_tokens.c.name)

# Random keys the service signs with (the dashboard's session cookies), shared by every instance
# on the store and kept across restarts.
service_keys = Table(
    "service_keys",
    schema.metadata,
    Column("name", String(50), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
)


def _create(conn: Connection) -> None:
    for table in (api_tokens, service_keys):
        table.create(conn, checkfirst=True)


schema.register(
    "tokens_0001", "api_tokens (hashes of scoped API tokens) and service_keys (the session key)", _create
)


class DuplicateName(ValueError):
    """A token of that name exists and is not revoked."""


@dataclass(frozen=True)
class TokenRow:
    id: str
    name: str
    role: Role
    tenants: tuple[str, ...]  # empty: every tenant
    created_at: float
    created_by: str
    expires_at: float | None
    revoked_at: float | None
    revoked_by: str | None

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _row(r: object) -> TokenRow:
    m = r._mapping  # type: ignore[attr-defined]
    return from_row(TokenRow, m, role=Role.parse(m["role"]), tenants=tuple(json.loads(m["tenants"])))


def create_token(
    store: Store,
    *,
    name: str,
    role: Role,
    tenants: tuple[str, ...],
    created_by: str,
    expires_at: float | None = None,
    now: float | None = None,
) -> tuple[TokenRow, str]:
    """A new token: its row and the token itself (shown once; only its hash is stored)."""
    now = time.time() if now is None else now
    with store.engine.begin() as conn:
        taken = conn.execute(
            select(api_tokens.c.id).where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        ).first()
        if taken is not None:
            raise DuplicateName(
                f"name: a token named {name!r} exists ({taken[0]}); revoke it or choose another"
            )
        while True:
            token_id = secrets.token_hex(6)
            token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(api_tokens).values(
                            id=token_id,
                            name=name,
                            hash=_digest(token),
                            role=role.label,
                            tenants=json.dumps(list(tenants)),
                            created_at=now,
                            created_by=created_by,
                            expires_at=expires_at,
                        )
                    )
                break
            except IntegrityError:  # 1 in 2**48 per existing token: draw another id
                continue
    row = TokenRow(token_id, name, role, tenants, now, created_by, expires_at, None, None)
    return row, token


def list_tokens(store: Store, *, include_revoked: bool = False) -> list[TokenRow]:
    q = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
    if not include_revoked:
        q = q.where(api_tokens.c.revoked_at.is_(None))
    with store.engine.begin() as conn:
        return [_row(r) for r in conn.execute(q)]


def get_token(store: Store, token_id: str) -> TokenRow | None:
    with store.engine.begin() as conn:
        r = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    return _row(r) if r is not None else None


def revoke_token(store: Store, token_id: str, *, by: str, now: float | None = None) -> TokenRow | None:
    """Revoke a token (idempotent); None when there is no such token."""
    now = time.time() if now is None else now
    with store.engine.begin() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=by)
        )
        r = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    return _row(r) if r is not None else None


def authenticate_token(store: Store, presented: str, now: float | None = None) -> TokenRow | None:
    """The active token `presented` is, or None. Found by its public id, then its hash compared
    in constant time; a revoked or expired token is refused like a wrong one."""
    match = _FORMAT.match(presented)
    if match is None:
        return None
    with store.engine.begin() as conn:
        r = conn.execute(select(api_tokens).where(api_tokens.c.id == match.group(1))).first()
    if r is None or not hmac.compare_digest(_digest(presented).encode(), str(r._mapping["hash"]).encode()):
        return None
    row = _row(r)
    return row if row.state(time.time() if now is None else now) == "active" else None


def session_key(store: Store, name: str = "dashboard-session") -> bytes:
    """The named random key, made on first use; every instance on the store reads the same one."""
    with store.engine.begin() as conn:
        found = conn.execute(select(service_keys.c.secret).where(service_keys.c.name == name)).first()
        if found is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(service_keys).values(
                            name=name, secret=secrets.token_hex(32), created_at=time.time()
                        )
                    )
            except IntegrityError:  # another instance made it first: use theirs
                pass
            found = conn.execute(select(service_keys.c.secret).where(service_keys.c.name == name)).first()
    assert found is not None
    return bytes.fromhex(found[0])
