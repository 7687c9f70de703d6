"""Lists filtered to the caller's tenants: the store is asked once per tenant the caller covers
(a credential names a few tenants), or once for all when it covers every tenant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from idsync.domain.authz import Action, Principal
from idsync.domain.records import ImportRecord
from idsync.runtime import Runtime

__all__ = ["each_tenant", "recent_imports"]

T = TypeVar("T")


async def each_tenant(
    principal: Principal,
    tenant: str | None,
    fetch: Callable[[str | None], Awaitable[list[T]]],
    action: Action = Action.READ,
) -> list[T]:
    """`fetch(tenant)` when a tenant is asked for (checked by the caller) or every tenant is
    covered; else `fetch` of each covered tenant, concatenated."""
    covered = principal.tenants(action)
    if tenant is not None or covered is None:
        return await fetch(tenant)
    found: list[T] = []
    for name in sorted(covered):
        found += await fetch(name)
    return found


async def recent_imports(
    rt: Runtime, principal: Principal, *, limit: int, tenant: str | None = None
) -> list[ImportRecord]:
    """The most recent imports (and activation jobs) of the tenants `principal` may read."""

    async def fetch(name: str | None) -> list[ImportRecord]:
        return await rt.stores.imports.recent(limit=limit, tenant=name)

    found = await each_tenant(principal, tenant, fetch)
    return sorted(found, key=lambda r: r.started_at, reverse=True)[:limit]
