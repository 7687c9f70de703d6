"""Who is calling, and whether they may: credentials become a `Principal` (domain/authz.py).

Credentials, in this order:

- `Authorization: Bearer <token>`: the installation's token (`service.api_token_env`, admin on
  every tenant, actor `config-token`), compared in constant time; or an API token made by
  `idsync tokens create` (its role on its tenants, actor `token:NAME`), found by its public id
  and compared by hash in constant time (adapters/store/features/tokens.py).
- On `/dashboard/...`: the sign-in cookie (web/dashboard/session.py).

Every route declares what it does with a guard, `Depends(require(Action.X))`: the caller must
hold the action's role on some tenant (`installation=True`: on every tenant). The route then
checks the tenant it acts on (`check_tenant`, 403 naming the tenant) or filters what it lists
(`Principal.tenants`); an object of a tenant the caller does not cover is answered 404, as if
it did not exist. A refused state-changing action is recorded in the audit trail. Nothing here
logs or answers anything of a presented credential.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import HTTPException, Request, status

from idsync.adapters.store.features.audit import Outcome, record_audit
from idsync.adapters.store.features.tokens import (
    TOKEN_PREFIX,
    TokenRow,
    authenticate_token,
    get_token,
    session_key,
)
from idsync.domain.authz import ACTIONS, ALL_TENANTS, Action, Principal, Role, denial, token_grants
from idsync.web.dashboard import session

__all__ = [
    "CONFIG_ACTOR",
    "audit",
    "authenticate",
    "check_tenant",
    "is_guard",
    "principal_of_token",
    "refuse",
    "require",
    "service_key",
]

CONFIG_ACTOR = "config-token"
_ADMIN_EVERYWHERE = {ALL_TENANTS: Role.ADMIN}
_UNAUTHORIZED = "missing or wrong bearer token"


def principal_of_token(row: TokenRow) -> Principal:
    return Principal(f"token:{row.name}", token_grants(row.role, row.tenants))


async def service_key(request: Request) -> bytes:
    """The key sessions are signed with (kept in the store; read once per app)."""
    key: bytes | None = getattr(request.app.state, "session_key", None)
    if key is None:
        rt = request.app.state.runtime
        key = request.app.state.session_key = await rt.db.call(session_key, rt.store)
    return key


async def _bearer(request: Request, presented: str) -> Principal | None:
    configured: str | None = request.app.state.api_token
    if configured is not None and hmac.compare_digest(presented.encode(), configured.encode()):
        return Principal(CONFIG_ACTOR, _ADMIN_EVERYWHERE)
    if presented.startswith(TOKEN_PREFIX):
        rt = request.app.state.runtime
        row = await rt.db.call(authenticate_token, rt.store, presented)
        if row is not None:
            return principal_of_token(row)
    return None


async def signed_in(request: Request) -> Principal | None:
    """The dashboard's sign-in cookie as a principal (None: none, or no longer valid)."""
    value = request.cookies.get(session.COOKIE)
    if not value:
        return None
    key = await service_key(request)
    found = session.read(key, value)
    if found is None:
        return None
    if found.kind == "config":
        configured: str | None = request.app.state.api_token
        if configured is None:
            return None
        expected = session.config_fingerprint(key, configured)
        ok = hmac.compare_digest(found.ref.encode(), expected.encode())
        return Principal(CONFIG_ACTOR, _ADMIN_EVERYWHERE) if ok else None
    if found.kind == "token":
        rt = request.app.state.runtime
        row = await rt.db.call(get_token, rt.store, found.ref)
        return principal_of_token(row) if row is not None and row.state(time.time()) == "active" else None
    try:
        grants = {t: Role.parse(r) for t, r in found.grants.items()}
    except ValueError:
        return None
    return Principal(found.actor, grants) if grants and found.actor.startswith("sso:") else None


async def authenticate(request: Request) -> Principal:
    """The caller (cached for the request), or 401. A bearer header decides when present;
    otherwise, on the dashboard's paths, the sign-in cookie."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    dashboard = header is None and request.url.path.startswith(session.PATH)
    principal: Principal | None = None
    if header is not None:
        scheme, _, presented = header.partition(" ")
        if scheme.lower() == "bearer" and presented.strip():
            principal = await _bearer(request, presented.strip())
    elif dashboard:
        principal = await signed_in(request)
    if principal is None:
        detail = "sign in at /dashboard first" if dashboard else _UNAUTHORIZED
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal
    return principal


async def audit(
    request: Request,
    principal: Principal,
    action: str,
    target: str,
    tenant: str | None,
    outcome: Outcome = "ok",
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record a state-changing action of this request in the audit trail."""
    rt = request.app.state.runtime
    await rt.db.call(
        record_audit,
        rt.store,
        actor=principal.actor,
        action=action,
        target=target,
        tenant=tenant,
        outcome=outcome,
        detail=detail,
    )


async def refuse(
    request: Request, principal: Principal, action: Action, reason: str, tenant: str | None
) -> None:
    """403 with the reason; a refused state-changing action goes to the audit trail first."""
    if ACTIONS[action].changes_state:
        target = f"{request.method} {request.url.path}"
        await audit(request, principal, action.value, target, tenant, "denied", {"reason": reason})
    raise HTTPException(status.HTTP_403_FORBIDDEN, detail=reason)


async def check_tenant(request: Request, principal: Principal, action: Action, tenant: str) -> None:
    """403 naming `tenant` unless the caller may do `action` for it."""
    reason = denial(principal, action, tenant)
    if reason is not None:
        await refuse(request, principal, action, reason, tenant)


Guard = Callable[[Request], Awaitable[Principal]]


def require(action: Action, *, installation: bool = False) -> Guard:
    """A route's guard: the caller must hold `action`'s role on some tenant (installation-wide
    actions: on every tenant). Answers the principal, for the route's own tenant checks."""

    async def guard(request: Request) -> Principal:
        principal = await authenticate(request)
        if installation:
            reason = denial(principal, action, None)
        elif principal.may_somewhere(action):
            reason = None
        else:
            rule = ACTIONS[action]
            reason = f"{rule.what}: needs the {rule.role.label} role ({principal.describe()})"
        if reason is not None:
            await refuse(request, principal, action, reason, None)
        return principal

    guard.__dict__["idsync_action"] = (action, installation)
    return guard


def is_guard(call: object) -> bool:
    return "idsync_action" in getattr(call, "__dict__", {})
