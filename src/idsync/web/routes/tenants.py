"""Tenants over HTTP: `GET /tenants` (mode in force, who set it and when, users by status) and
`PUT /tenants/{tenant}/mode` (an admin's: switch the sync mode now; every instance applies it
within `service.mode_refresh_s`). A switch to sync_and_activate answers the activation estimate
and starts the activation job; `dry_run` answers the estimate only. Audited (lifecycle/modes.py)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from idsync.domain.authz import Action, Principal
from idsync.domain.policy import SyncMode
from idsync.lifecycle.modes import ModeConflict, UnknownTenant, estimate_switch, set_mode
from idsync.lifecycle.report import estimate_json
from idsync.lifecycle.tenants import TenantInfo, list_tenants
from idsync.runtime import Runtime
from idsync.web.auth import check_tenant, require

router = APIRouter(tags=["tenants"])
_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"
Reader = Annotated[Principal, Depends(require(Action.READ))]


class TenantView(BaseModel):
    tenant: str
    mode: SyncMode  # in force
    configured_mode: SyncMode  # the configuration file's
    set_by: str | None  # who made the last switch (`config`: the file)
    changed_at: float | None
    previous_mode: SyncMode | None
    activation_job: str | None
    users: dict[str, int]  # identity links by IdP status (`none`: no account)
    linked: int
    staged: int
    active: int
    deprovisioned: int


class ModeRequest(BaseModel):
    mode: SyncMode
    dry_run: bool = False  # only the estimate of what the switch would start


class ActivationPlan(BaseModel):
    staged: int
    emails: int
    estimate: dict[str, Any]  # API calls and duration at the known limits (as POST /activations)


class ModeAnswer(BaseModel):
    tenant: str
    mode: SyncMode  # in force after the call
    previous_mode: SyncMode | None
    switched: bool  # False: a dry run
    activation: ActivationPlan | None  # a switch to sync_and_activate: what it activates
    activation_job: str | None  # the job it started (None: dry run, or no staged user)


def _view(t: TenantInfo) -> TenantView:
    return TenantView(**t.as_dict())


@router.get("/tenants")
async def tenants(
    request: Request, principal: Reader, tenant: Annotated[str | None, Query(pattern=_ID)] = None
) -> list[TenantView]:
    """The tenants the credential covers, with their sync mode and users."""
    rt: Runtime = request.app.state.runtime
    if tenant is not None:
        await check_tenant(request, principal, Action.READ, tenant)
    covered = principal.tenants(Action.READ)
    only = frozenset({tenant}) if tenant is not None else covered
    return [_view(t) for t in await list_tenants(rt, only)]


@router.put(
    "/tenants/{tenant}/mode",
    responses={404: {"description": "No such tenant"}, 409: {"description": "In that mode already"}},
)
async def switch_mode(
    tenant: str,
    body: ModeRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.MODE))],
) -> ModeAnswer:
    """Switch the tenant's sync mode now (to sync_and_activate: its staged users are activated)."""
    rt: Runtime = request.app.state.runtime
    if not re.match(_ID, tenant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no tenant {tenant[:100]!r}")
    await check_tenant(request, principal, Action.MODE, tenant)
    try:
        plan = await estimate_switch(rt, tenant, body.mode)
        activation = (
            ActivationPlan(staged=plan.staged, emails=plan.emails, estimate=estimate_json(plan.estimate))
            if plan is not None
            else None
        )
        if body.dry_run:
            current = rt.policies(tenant)
            return ModeAnswer(
                tenant=tenant,
                mode=current.mode if current is not None else body.mode,
                previous_mode=None,
                switched=False,
                activation=activation,
                activation_job=None,
            )
        done = await set_mode(rt, tenant, body.mode, actor=principal.actor)
    except UnknownTenant as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except ModeConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    return ModeAnswer(
        tenant=tenant,
        mode=SyncMode(done.new),
        previous_mode=SyncMode(done.old) if done.old else None,
        switched=True,
        activation=activation,
        activation_job=done.job_id,
    )
