"""Imports over HTTP: stream NDJSON in (constant memory), follow progress, page through results.

An upload that breaks off can be sent again with the same `import_id`: the records already
stored are skipped (the import keeps its input cursor), so nothing is lost or counted twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from starlette.requests import ClientDisconnect

from idsync.adapters.files import RawRecord, received_from_file
from idsync.adapters.store.features.safety_ops import release_run
from idsync.adapters.store.instances import ServiceStore
from idsync.domain.authz import Action, Principal
from idsync.domain.models import ImportState, Lane, Status
from idsync.domain.records import ImportRecord
from idsync.engine.ingest import BATCH, Defaults
from idsync.engine.jobs import link_existing_accounts, new_import_id
from idsync.runtime import Runtime
from idsync.service.ndjson import ndjson_records
from idsync.service.views import ImportStarted, ImportView, ResultPage, import_view, result_item
from idsync.web.auth import audit, check_tenant, require
from idsync.web.tenancy import recent_imports

log = logging.getLogger("idsync.web.imports")
router = APIRouter(tags=["imports"])
# An upload holds its import for this long, renewed while the request lives: an upload cut off
# by a crash blocks a resend only this long (it was 120 s, renewed only per stored batch).
_UPLOAD_LEASE_S = 15.0
_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"
Reader = Annotated[Principal, Depends(require(Action.READ))]
_NDJSON_BODY = {
    "required": True,
    "content": {"application/x-ndjson": {"schema": {"type": "string", "format": "binary"}}},
    "description": "One change message per line (the import id and tenant are set from the query).",
}


@router.post(
    "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportStarted,
    openapi_extra={"requestBody": _NDJSON_BODY},
    responses={409: {"description": "The import exists for another tenant, or its input is complete"}},
)
async def start_import(
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.SUBMIT))],
    tenant: Annotated[str, Query(pattern=_ID, description="Every line must be for this tenant")],
    import_id: Annotated[str | None, Query(pattern=_ID, description="Default: a new id")] = None,
    force: Annotated[
        bool,
        Query(description="Deactivate/delete beyond the tenant's safety threshold (max_deprovision_share)"),
    ] = False,
    link_existing: Annotated[
        bool,
        Query(
            description="List the org's accounts first (200 a page) and match them by login under the "
            "tenant's existing_account policy (the request waits for the listing)"
        ),
    ] = False,
) -> Any:
    """Start (or resume) an import from an NDJSON body; returns once every line is stored.
    The users are then synced in the bulk lane: follow `url` for progress."""
    rt: Runtime = request.app.state.runtime
    await check_tenant(request, principal, Action.SUBMIT, tenant)
    if force:  # past the safety threshold: an admin's decision
        await check_tenant(request, principal, Action.FORCE, tenant)
    if rt.settings.policy(tenant) is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"tenant: {tenant!r} is not configured"
        )
    import_id = import_id or new_import_id()
    db = rt.db
    stores = rt.stores
    record: ImportRecord = await stores.imports.create(import_id, tenant, "http", input_name="upload")
    if record.tenant != tenant:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"import {import_id} is for another tenant")
    # One upload per import at a time, across instances: a second would store lines twice.
    uploads = ServiceStore(rt.store)
    lease, owner = f"upload:{import_id}", f"{rt.worker.owner}/{uuid.uuid4().hex[:8]}"
    if not await db.call(uploads.hold_lease, lease, owner, _UPLOAD_LEASE_S, time.time()):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"an upload of import {import_id} is in progress (one cut off by a crash "
            f"holds it at most {_UPLOAD_LEASE_S:.0f} s)",
        )
    keeper = asyncio.create_task(_keep_lease(rt, uploads, lease, owner))
    try:
        current: ImportRecord | None = await stores.imports.get(import_id)
        record = current or record  # its cursor, read under the lease
        if record.input_done or record.state is ImportState.CANCELLED:
            what = "was cancelled" if record.state is ImportState.CANCELLED else "has received all its input"
            raise HTTPException(status.HTTP_409_CONFLICT, detail=f"import {import_id} {what}")
        if force:  # a run this import tripped before is let through as well
            released = await db.call(release_run, rt.store, f"{tenant}/{import_id}")
            held = released[1] if released is not None else 0
            await audit(
                request, principal, "import.force", f"{tenant}/{import_id}", tenant, "ok", {"released": held}
            )
        if link_existing and record.input_cursor == 0:
            await link_existing_accounts(rt.engine, tenant, import_id)
        received = await _receive(rt, request, import_id, tenant, record.input_cursor, lease, owner, force)
    except ClientDisconnect:
        log.info("upload of import %s broke off; sending it again resumes it", import_id)
        return Response(status_code=499)  # nobody reads it: the client is gone
    finally:
        keeper.cancel()
        await db.call(uploads.drop_lease, lease, owner)
    await stores.imports.finish_input(import_id)
    return ImportStarted(
        import_id=import_id, received=received, resumed_after=record.input_cursor, url=f"/imports/{import_id}"
    )


async def _keep_lease(rt: Runtime, uploads: ServiceStore, lease: str, owner: str) -> None:
    """Renew the upload's lease while the request lives, however slowly the client sends."""
    while True:
        await asyncio.sleep(_UPLOAD_LEASE_S / 3)
        await rt.db.call(uploads.hold_lease, lease, owner, _UPLOAD_LEASE_S, time.time())


async def _receive(
    rt: Runtime,
    request: Request,
    import_id: str,
    tenant: str,
    cursor: int,
    lease: str,
    owner: str,
    force: bool = False,
) -> int:
    """Store the body's records in batches; the lease is renewed with every batch."""
    defaults = Defaults(origin="http", tenant=tenant, import_id=import_id, force=force)
    uploads = ServiceStore(rt.store)
    received, batch = 0, []

    async def store(records: list[RawRecord]) -> int:
        await rt.ingestor.receive(
            [received_from_file(r) for r in records], defaults, cursor=records[-1].number
        )
        rt.worker.notify(Lane.BULK)
        await rt.db.call(uploads.hold_lease, lease, owner, _UPLOAD_LEASE_S, time.time())
        return len(records)

    try:
        async for raw in ndjson_records(request.stream(), start_after=cursor):
            batch.append(raw)
            if len(batch) >= BATCH:
                received, batch = received + await store(batch), []
    except ClientDisconnect:
        if batch:  # whole lines: keep them, a resend of the body continues after them
            await store(batch)
        raise
    if batch:
        received += await store(batch)
    return received


@router.get("/imports")
async def list_imports(
    request: Request,
    principal: Reader,
    tenant: Annotated[str | None, Query(pattern=_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ImportView]:
    """The most recent imports first (of the tenants the credential covers)."""
    rt: Runtime = request.app.state.runtime
    records = await recent_imports(request, rt, principal, limit=limit, tenant=tenant)
    return [import_view(r) for r in records]


@router.get("/imports/{import_id}", responses={404: {"description": "No such import"}})
async def get_import(import_id: str, request: Request, principal: Reader) -> ImportView:
    """Counts by status, state, rate and ETA."""
    return import_view(await _record(request, import_id, principal))


@router.get("/imports/{import_id}/results", responses={404: {"description": "No such import"}})
async def import_results(
    import_id: str,
    request: Request,
    principal: Reader,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    after: Annotated[int, Query(ge=0, description="change_id to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> ResultPage:
    """Per-user results in arrival order, optionally only some statuses (e.g. `status=failed`)."""
    await _record(request, import_id, principal)
    rt: Runtime = request.app.state.runtime
    rows = await rt.stores.imports.results(import_id, statuses=status_, limit=limit, after_id=after)
    items = [result_item(r) for r in rows]
    return ResultPage(items=items, next_after=items[-1].change_id if len(items) == limit else None)


async def _record(request: Request, import_id: str, principal: Principal) -> ImportRecord:
    """The import, if the caller may read its tenant (else 404, as if it did not exist)."""
    rt: Runtime = request.app.state.runtime
    if not re.match(_ID, import_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such import")
    record = await rt.stores.imports.get(import_id)
    if record is None or not principal.may(Action.READ, record.tenant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no import {import_id}")
    return record
