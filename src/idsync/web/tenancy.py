"""Lists filtered to the caller's tenants: the store is asked once per tenant the caller covers
(a credential names a few tenants), or once for all when it covers every tenant. A tenant the
caller names is checked here (403 unless covered), so no listing route can forget it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request

from idsync.domain.authz import Action, Principal
from idsync.domain.records import ImportRecord
from idsync.runtime import Runtime
from idsync.web.auth import check_tenant

__all__ = ["each_tenant", "recent_imports"]

T = TypeVar("T")


async def each_tenant(
    request: Request,
    principal: Principal,
    tenant: str | None,
    fetch: Callable[[str | None], Awaitable[list[T]]],
    action: Action = Action.READ,
) -> list[T]:
    """`fetch(tenant)` when a tenant is asked for (403 unless the caller may `action` for it) or
    every tenant is covered; else `fetch` of each covered tenant, concatenated."""
    if tenant is not None:
        await check_tenant(request, principal, action, tenant)
    covered = principal.tenants(action)
    if tenant is not None or covered is None:
        return await fetch(tenant)
    found: list[T] = []
    for name in sorted(covered):
        found += await fetch(name)
    return found


async def recent_imports(
    request: Request, rt: Runtime, principal: Principal, *, limit: int, tenant: str | None = None
) -> list[ImportRecord]:
    """The most recent imports (and activation jobs) of the tenants `principal` may read."""

    async def fetch(name: str | None) -> list[ImportRecord]:
        return await rt.stores.imports.recent(limit=limit, tenant=name)

    found = await each_tenant(request, principal, tenant, fetch)
    return sorted(found, key=lambda r: r.started_at, reverse=True)[:limit]
