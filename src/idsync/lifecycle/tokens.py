"""API tokens as the CLI (`idsync tokens`) and the HTTP API (`/tokens`) make and revoke them:
the request checked (name, role, tenants, expiry), the token made, the action audited.

The rules: a name is an identifier unique among tokens not revoked; the role is viewer,
operator or admin; tenants must be configured ones (any name when a `*` tenant is configured);
a token that names no tenant covers every tenant and must be an admin's; an expiry is `90d`,
`12h` or `30m` from now (none: the token lives until revoked).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from idsync.adapters.store import Store
from idsync.adapters.store.features.audit import record_audit
from idsync.adapters.store.features.tokens import DuplicateName, TokenRow, create_token, revoke_token
from idsync.config import Settings
from idsync.domain.authz import Role, token_scope_problem

__all__ = ["NewToken", "TokenRequestError", "make_token", "parse_expiry", "revoke"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")
_EXPIRY = re.compile(r"^(\d{1,6})([dhm])$")
_UNIT_S = {"d": 86400, "h": 3600, "m": 60}


class TokenRequestError(ValueError):
    """A token request that cannot be served; the message names the field and the reason."""


@dataclass(frozen=True)
class NewToken:
    row: TokenRow
    token: str  # shown once


def parse_expiry(value: str | None) -> float | None:
    """Seconds from now for `90d`, `12h`, `30m`; None for no expiry."""
    if value is None or value.strip().lower() in ("", "never"):
        return None
    match = _EXPIRY.match(value.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise TokenRequestError(f"expires: {value!r} is not a duration like 90d, 12h or 30m")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def make_token(
    store: Store,
    settings: Settings,
    *,
    name: str,
    role: str,
    tenants: Sequence[str],
    expires_in_s: float | None,
    actor: str,
    now: float | None = None,
) -> NewToken:
    """Check the request, make the token, record it in the audit trail (never the token)."""
    now = time.time() if now is None else now
    if not _NAME.match(name):
        raise TokenRequestError(f"name: {name!r} is not a name (letters, digits, . _ : @ -; up to 100)")
    try:
        parsed = Role.parse(role)
    except ValueError as exc:
        raise TokenRequestError(f"role: {exc}") from None
    names = tuple(dict.fromkeys(t.strip() for t in tenants))
    known = settings.tenant_names()
    for tenant in names:
        if not _NAME.match(tenant) or (known is not None and tenant not in known):
            raise TokenRequestError(f"tenant: no tenant named {tenant!r} is configured")
    problem = token_scope_problem(parsed, names)
    if problem is not None:
        raise TokenRequestError(f"tenant: {problem}")
    expires_at = now + expires_in_s if expires_in_s is not None else None
    try:
        row, token = create_token(
            store, name=name, role=parsed, tenants=names, created_by=actor, expires_at=expires_at, now=now
        )
    except DuplicateName as exc:
        raise TokenRequestError(str(exc)) from None
    detail = {"name": name, "role": parsed.label, "tenants": list(names) or ["*"], "expires_at": expires_at}
    record_audit(
        store,
        actor=actor,
        action="token.create",
        target=f"token:{row.id}",
        tenant=names[0] if len(names) == 1 else None,
        outcome="ok",
        detail=detail,
        now=now,
    )
    return NewToken(row, token)


def revoke(store: Store, token_id: str, *, actor: str) -> TokenRow | None:
    """Revoke a token and record it; None (and nothing recorded) when there is no such token."""
    row = revoke_token(store, token_id.strip(), by=actor)
    if row is None:
        return None
    record_audit(
        store,
        actor=actor,
        action="token.revoke",
        target=f"token:{row.id}",
        tenant=row.tenants[0] if len(row.tenants) == 1 else None,
        outcome="ok",
        detail={"name": row.name},
    )
    return row
