"""`GET /audit`: the audit trail (who did what, when, to what, and the outcome), newest first.

A caller sees the entries of the tenants it may read; entries of no tenant (tokens, inbound
integrations, sign-ins) only a caller who covers every tenant. `idsync audit` reads the same.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from idsync.adapters.store.features.audit import list_audit
from idsync.domain.authz import Action, Principal
from idsync.web.auth import check_tenant, require
from idsync.web.dashboard.views import AuditItem, AuditPage

router = APIRouter(tags=["audit"])
_NAME = r"^[A-Za-z0-9*][A-Za-z0-9._:@*?-]{0,199}$"


@router.get("/audit")
async def audit_trail(
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.READ))],
    tenant: Annotated[str | None, Query(max_length=100, description="Only this tenant")] = None,
    action: Annotated[
        str | None, Query(max_length=50, description="An action or its prefix: `safety`, `token.create`")
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=200, description="e.g. token:efs-app, sso:ann@example.com")
    ] = None,
    before: Annotated[int | None, Query(ge=1, description="Continue before this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """The audit trail of the tenants this credential covers, newest first."""
    rt = request.app.state.runtime
    if tenant is not None:
        await check_tenant(request, principal, Action.READ, tenant)
    covered = principal.tenants(Action.READ)
    entries = await rt.db.call(
        list_audit,
        rt.store,
        tenants=covered,
        installation=covered is None and tenant is None,
        tenant=tenant,
        action=action,
        actor=actor,
        before=before,
        limit=limit,
    )
    return AuditPage(
        items=[AuditItem(**e.as_dict()) for e in entries],
        next_before=entries[-1].id if len(entries) == limit else None,
    )
