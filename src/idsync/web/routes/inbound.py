"""Management of inbound integrations (Okta -> application): status, sync, pause, resume, remove,
event-hook registration and the execution log. Bearer-token protected like the rest of the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from idsync.errors import ConfigError, IdSyncError, ProviderError
from idsync.inbound.service import InboundService, Removed, UnknownIntegration

router = APIRouter(prefix="/inbound", tags=["inbound"])


class SyncRequest(BaseModel):
    mode: Literal["initial", "delta"] = "initial"
    since: str | None = None  # delta only: an Okta timestamp; default: the stored cursor


def _service(request: Request) -> InboundService:
    service: InboundService | None = getattr(request.app.state, "inbound", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="inbound sync is starting")
    return service


@asynccontextmanager
async def _errors() -> AsyncIterator[None]:
    try:
        yield
    except UnknownIntegration as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except Removed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except ConfigError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    except ProviderError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=str(exc)) from None
    except IdSyncError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, detail=str(exc)) from None


@router.get("")
async def list_integrations(request: Request) -> list[dict[str, Any]]:
    service = _service(request)
    return [await service.status(name) for name in service.contexts]


@router.get("/{name}")
async def get_integration(name: str, request: Request) -> dict[str, Any]:
    async with _errors():
        return await _service(request).status(name)


@router.post("/{name}/sync", status_code=status.HTTP_202_ACCEPTED)
async def sync(name: str, request: Request, body: SyncRequest | None = None) -> dict[str, Any]:
    """Queue an initial sync (re-runnable; deploys a removed integration again) or a delta sync."""
    body = body or SyncRequest()
    async with _errors():
        entry = await _service(request).request_sync(name, body.mode, requested_by="api", since=body.since)
    return entry.as_dict()


@router.post("/{name}/pause")
async def pause(name: str, request: Request) -> dict[str, Any]:
    async with _errors():
        await _service(request).pause(name)
        return await _service(request).status(name)


@router.post("/{name}/resume")
async def resume(name: str, request: Request) -> dict[str, Any]:
    async with _errors():
        _, entry = await _service(request).resume(name)
        return {**await _service(request).status(name), "catch_up": entry.as_dict() if entry else None}


@router.post("/{name}/remove")
async def remove(name: str, request: Request, keep_hook: bool = False) -> dict[str, Any]:
    """Clear the links (application users are not changed otherwise) and delete the Okta hook."""
    async with _errors():
        return await _service(request).remove(name, delete_hook=not keep_hook)


@router.post("/{name}/hook")
async def register_hook(name: str, request: Request) -> dict[str, Any]:
    """Create or update the Okta event hook, activate it and have Okta verify it."""
    async with _errors():
        return await _service(request).register_hook(name)


@router.get("/{name}/log")
async def execution_log(
    name: str,
    request: Request,
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
async def log_entry(name: str, entry_id: int, request: Request) -> dict[str, Any]:
    service = _service(request)
    async with _errors():
        ctx = service.context(name)
        entry = await ctx.db.call(ctx.runlog.get, entry_id)
    if entry is None or entry.integration != name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such log entry")
    return entry.as_dict()
