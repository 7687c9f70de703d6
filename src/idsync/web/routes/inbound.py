"""Management of inbound integrations (Okta -> application): status, sync, pause, resume, remove,
event-hook registration and the execution log. An integration serves the whole installation, not
a tenant, so every route needs its role on every tenant: reading a viewer's, sync/pause/resume an
operator's, hook registration and removal an admin's. Actions go to the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from idsync.domain.authz import Action, Principal
from idsync.errors import ConfigError, IdSyncError, ProviderError
from idsync.inbound.safety import NoSuchRun, discard_run, release_run, runs_of
from idsync.inbound.service import InboundService, Removed, UnknownIntegration
from idsync.web.auth import audit, require

router = APIRouter(prefix="/inbound", tags=["inbound"])
Reader = Annotated[Principal, Depends(require(Action.READ, installation=True))]
Runner = Annotated[Principal, Depends(require(Action.INBOUND_RUN, installation=True))]
Setup = Annotated[Principal, Depends(require(Action.INBOUND_SETUP, installation=True))]
Forcer = Annotated[Principal, Depends(require(Action.FORCE, installation=True))]
Discarder = Annotated[Principal, Depends(require(Action.DISCARD, installation=True))]


class SyncRequest(BaseModel):
    mode: Literal["initial", "delta"] = "initial"
    since: str | None = None  # delta only: an Okta timestamp; default: the stored cursor


def _service(request: Request) -> InboundService:
    service: InboundService | None = getattr(request.app.state, "inbound", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="inbound sync is starting")
    return service


_STATUS: list[tuple[type[IdSyncError], int]] = [
    (UnknownIntegration, status.HTTP_404_NOT_FOUND),
    (NoSuchRun, status.HTTP_404_NOT_FOUND),
    (Removed, status.HTTP_409_CONFLICT),
    (ConfigError, status.HTTP_400_BAD_REQUEST),
    (ProviderError, status.HTTP_502_BAD_GATEWAY),
]


@asynccontextmanager
async def _errors(
    request: Request | None = None, principal: Principal | None = None, action: str = "", name: str = ""
) -> AsyncIterator[None]:
    """Map the service's errors to HTTP; with a principal, record the action and its outcome."""
    try:
        yield
    except IdSyncError as exc:
        if request is not None and principal is not None:
            await audit(request, principal, action, name, None, "failed", {"error": str(exc)[:300]})
        code = next(
            (c for kind, c in _STATUS if isinstance(exc, kind)), status.HTTP_500_INTERNAL_SERVER_ERROR
        )
        raise HTTPException(code, detail=str(exc)) from None
    if request is not None and principal is not None:
        await audit(request, principal, action, name, None, "ok")


@router.get("")
async def list_integrations(request: Request, principal: Reader) -> list[dict[str, Any]]:
    service = _service(request)
    return [await service.status(name) for name in service.contexts]


@router.get("/{name}")
async def get_integration(name: str, request: Request, principal: Reader) -> dict[str, Any]:
    async with _errors():
        return await _service(request).status(name)


@router.post("/{name}/sync", status_code=status.HTTP_202_ACCEPTED)
async def sync(
    name: str, request: Request, principal: Runner, body: SyncRequest | None = None
) -> dict[str, Any]:
    """Queue an initial sync (re-runnable; deploys a removed integration again) or a delta sync."""
    body = body or SyncRequest()
    async with _errors(request, principal, f"inbound.sync.{body.mode}", name):
        entry = await _service(request).request_sync(name, body.mode, requested_by="api", since=body.since)
    return entry.as_dict()


@router.post("/{name}/pause")
async def pause(name: str, request: Request, principal: Runner) -> dict[str, Any]:
    async with _errors(request, principal, "inbound.pause", name):
        await _service(request).pause(name)
    async with _errors():
        return await _service(request).status(name)


@router.post("/{name}/resume")
async def resume(name: str, request: Request, principal: Runner) -> dict[str, Any]:
    async with _errors(request, principal, "inbound.resume", name):
        _, entry = await _service(request).resume(name)
    async with _errors():
        return {**await _service(request).status(name), "catch_up": entry.as_dict() if entry else None}


@router.post("/{name}/remove")
async def remove(name: str, request: Request, principal: Setup, keep_hook: bool = False) -> dict[str, Any]:
    """Clear the links (application users are not changed otherwise) and delete the Okta hook."""
    async with _errors(request, principal, "inbound.remove", name):
        removed = await _service(request).remove(name, delete_hook=not keep_hook)
    return removed


@router.post("/{name}/hook")
async def register_hook(name: str, request: Request, principal: Setup) -> dict[str, Any]:
    """Create or update the Okta event hook, activate it and have Okta verify it."""
    async with _errors(request, principal, "inbound.hook", name):
        hook = await _service(request).register_hook(name)
    return hook


@router.get("/{name}/safety")
async def safety_runs(name: str, request: Request, principal: Reader) -> list[dict[str, Any]]:
    """Runs that deactivated or stripped roles from users (newest first); `tripped` ones hold
    the users listed in `held_users` (docs/inbound.md, "Safety")."""
    async with _errors():
        return await runs_of(_service(request).context(name))


@router.post("/{name}/safety/{run_id}/release")
async def release_safety_run(name: str, run_id: str, request: Request, principal: Forcer) -> dict[str, Any]:
    """Bring the held users in line with Okta now and let the run through (an admin's)."""
    async with _errors(request, principal, "inbound.safety.release", f"{name}/{run_id}"):
        done = await release_run(_service(request).context(name), run_id)
    return {**done.run.as_dict(), "applied": dict(done.tally.counts), "errors": done.tally.errors}


@router.post("/{name}/safety/{run_id}/discard")
async def discard_safety_run(
    name: str, run_id: str, request: Request, principal: Discarder
) -> dict[str, Any]:
    """Drop what the run holds: those users stay as they are; the run stays tripped."""
    async with _errors(request, principal, "inbound.safety.discard", f"{name}/{run_id}"):
        found, dropped = await discard_run(_service(request).context(name), run_id)
    return {**found.as_dict(), "discarded_users": [h.okta_id for h in dropped]}


@router.get("/{name}/log")
async def execution_log(
    name: str,
    request: Request,
    principal: Reader,
    kind: str | None = None,
    status_: str | None = Query(None, alias="status"),
    ref: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; page with `before=<smallest id seen>`."""
    service = _service(request)
    async with _errors():
        ctx = service.context(name)
        entries = await ctx.db.call(
            ctx.runlog.entries, name, kind=kind, status=status_, ref=ref, limit=limit, before=before
        )
    return [e.as_dict() for e in entries]


@router.get("/{name}/log/{entry_id}")
async def log_entry(name: str, entry_id: int, request: Request, principal: Reader) -> dict[str, Any]:
    service = _service(request)
    async with _errors():
        ctx = service.context(name)
        entry = await ctx.db.call(ctx.runlog.get, entry_id)
    if entry is None or entry.integration != name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such log entry")
    return entry.as_dict()
