"""Stop and steer an import over HTTP: `POST /imports/{id}/cancel|pause|resume` (an operator's,
on the import's tenant). The state is in the store, so every instance follows it at its next
claim; each action, done or refused, is in the audit trail (lifecycle/controls.py)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from idsync.domain.authz import Action, Principal
from idsync.domain.models import ImportControl, Lane
from idsync.lifecycle.controls import ControlRefused, UnknownImport, control_import
from idsync.runtime import Runtime
from idsync.service.views import ImportView, import_view
from idsync.web.auth import check_tenant, require

router = APIRouter(tags=["imports"])
_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"
_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such import"},
    409: {"description": "The import's state does not allow it (e.g. it completed)"},
}
Operator = Annotated[Principal, Depends(require(Action.CONTROL))]


async def control_route(
    request: Request, principal: Principal, import_id: str, control: ImportControl
) -> ImportView:
    """The import's tenant must be readable (else 404) and the caller an operator on it (else
    403); a state that does not allow the control is 409. Shared with the dashboard's buttons."""
    rt: Runtime = request.app.state.runtime
    record = await rt.stores.imports.get(import_id) if re.match(_ID, import_id) else None
    if record is None or not principal.may(Action.READ, record.tenant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no import {import_id}")
    await check_tenant(request, principal, Action.CONTROL, record.tenant)
    try:
        done = await control_import(rt.stores, rt.db, import_id, control, actor=principal.actor)
    except UnknownImport as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except ControlRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    if control is ImportControl.RESUME:
        rt.worker.notify(Lane.BULK)
    return import_view(done.record)


@router.post("/imports/{import_id}/cancel", responses=_ANSWERS)
async def cancel_import(import_id: str, request: Request, principal: Operator) -> ImportView:
    """Users not yet sent end `cancelled` in the results; those in flight finish."""
    return await control_route(request, principal, import_id, ImportControl.CANCEL)


@router.post("/imports/{import_id}/pause", responses=_ANSWERS)
async def pause_import(import_id: str, request: Request, principal: Operator) -> ImportView:
    """Nothing more of the import is sent until it is resumed (across restarts)."""
    return await control_route(request, principal, import_id, ImportControl.PAUSE)


@router.post("/imports/{import_id}/resume", responses=_ANSWERS)
async def resume_import(import_id: str, request: Request, principal: Operator) -> ImportView:
    """A paused import goes on where it stopped."""
    return await control_route(request, principal, import_id, ImportControl.RESUME)
