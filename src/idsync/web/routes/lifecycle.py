"""The migration workflow over HTTP: activation jobs, portals, failure reports and retries.

Thin: each route calls `idsync.lifecycle`; the service's worker does the IdP calls at the
governor's pace. Each route has its guard (web/auth.py); actions are recorded in the audit trail.

- `POST /activations` {tenant, source?, dry_run?}: the estimate (dry run, 200) or a started or
  resumed job (202); `GET /activations[?tenant=]`, `GET /activations/{job_id}`: progress, ETA.
- `POST /portals`: a `portal_upsert` message (lifecycle/messages.py); `GET /portals[?tenant=]`.
- `GET /imports/{id}/failures?format=json|csv`, `POST /imports/{id}/retry` {dry_run?}.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, SecretStr

from idsync.adapters.store.failures import failure_page
from idsync.adapters.store.features.activation import get_job, list_jobs
from idsync.adapters.store.features.portals import PortalRow, list_portals
from idsync.domain.authz import Action, Principal
from idsync.errors import ConfigError
from idsync.lifecycle.activation import estimate_activation, start_in_service
from idsync.lifecycle.failures import NOT_RETRIED, FailureFilter, FailureRow, csv_chunks, retry_counts
from idsync.lifecycle.messages import handle_portal_upsert
from idsync.lifecycle.portals import PortalSpec
from idsync.lifecycle.report import estimate_json
from idsync.ports import OidcApp
from idsync.runtime import Runtime
from idsync.web.auth import audit, check_tenant, require
from idsync.web.tenancy import each_tenant

log = logging.getLogger("idsync.web.lifecycle")
router = APIRouter(tags=["migration"])
LIMITS_EVERY_S = 60.0
_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"
Reader = Annotated[Principal, Depends(require(Action.READ))]


class ActivationRequest(BaseModel):
    tenant: Annotated[str, Field(pattern=_ID)]
    source: Annotated[str, Field(pattern=_ID)] | None = None
    dry_run: bool = False


class RetryRequest(BaseModel):
    dry_run: bool = False


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _progress(rt: Runtime, record: Any) -> dict[str, Any]:
    p = record.progress()
    if p.state.value == "running" and not p.eta_s and p.done and record.updated_at > record.started_at:
        # No recent rate known (the job runs elsewhere): the average since the start.
        p.rate = p.done / (time.time() - record.started_at)
        p.eta_s = p.pending / p.rate if p.rate > 0 else None
    body: dict[str, Any] = p.model_dump(mode="json")
    return body | {"done": p.done, "pending": p.pending}


# ---- activation jobs ---------------------------------------------------------------------------


@router.post("/activations", responses={202: {"description": "Started or resumed"}, 404: {}, 409: {}})
async def start_activation(
    request: Request,
    body: ActivationRequest,
    principal: Annotated[Principal, Depends(require(Action.ACTIVATE))],
) -> JSONResponse:
    """Activate the tenant's staged users (the IdP e-mails each); `dry_run` only estimates."""
    rt = _rt(request)
    await check_tenant(request, principal, Action.ACTIVATE, body.tenant)
    policy = rt.settings.policy(body.tenant)
    if policy is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"tenant {body.tenant!r} is not configured")
    live = rt.governors.get(policy.idp)  # what this service learned so far
    plan = await rt.db.call(estimate_activation, rt.store, rt.settings, body.tenant, body.source, live=live)
    summary = {
        "tenant": plan.tenant,
        "source": plan.source,
        "mode": plan.policy.mode.value,
        "staged": plan.staged,
        "emails": plan.emails,
        "estimate": estimate_json(plan.estimate),
    }
    if body.dry_run:
        resumes = plan.resumable.id if plan.resumable else None
        return JSONResponse({"dry_run": True, **summary, "resumes_job": resumes})
    try:
        job = await start_in_service(
            rt, body.tenant, body.source, trigger="api", tasks=request.app.state.lifecycle_tasks
        )
    except ConfigError as exc:
        await audit(
            request, principal, "activation.start", body.tenant, body.tenant, "failed", {"error": str(exc)}
        )
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    detail = {"job_id": job.job_id, "resumed": job.resumed, "staged": plan.staged}
    await audit(request, principal, "activation.start", job.job_id, body.tenant, "ok", detail)
    return JSONResponse(
        {"job_id": job.job_id, "resumed": job.resumed, **summary, "url": f"/activations/{job.job_id}"},
        status_code=status.HTTP_202_ACCEPTED,
    )


@router.get("/activations")
async def activations(
    request: Request, principal: Reader, tenant: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    """Recent activation jobs (newest first) with their progress."""
    rt = _rt(request)

    async def fetch(name: str | None) -> list[Any]:
        return list(await rt.db.call(list_jobs, rt.store, name))

    found = await each_tenant(request, principal, tenant, fetch)
    jobs = sorted(found, key=lambda j: j.created_at, reverse=True)
    out = []
    for job in jobs[:50]:
        record = await rt.stores.imports.get(job.id)
        out.append(
            {"job_id": job.id, "tenant": job.tenant, "source": job.source, "trigger": job.trigger}
            | ({"progress": _progress(rt, record)} if record else {})
        )
    return out


@router.get("/activations/{job_id}", responses={404: {"description": "No such activation job"}})
async def activation(request: Request, job_id: str, principal: Reader) -> dict[str, Any]:
    rt = _rt(request)
    job = await rt.db.call(get_job, rt.store, job_id)
    record = await rt.stores.imports.get(job_id)
    if job is None or record is None or not principal.may(Action.READ, job.tenant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no activation job {job_id!r}")
    return {"job_id": job.id, "tenant": job.tenant, "source": job.source, "trigger": job.trigger} | {
        "progress": _progress(rt, record)
    }


# ---- portals ------------------------------------------------------------------------------------

_PORTAL_STATUS = {"failed": status.HTTP_502_BAD_GATEWAY, "busy": status.HTTP_409_CONFLICT}
_FAILED_CODES = {
    "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "unknown_tenant": status.HTTP_404_NOT_FOUND,
    "unsupported": status.HTTP_409_CONFLICT,
}


@router.post(
    "/portals", responses={200: {"description": "The portal_upsert result"}, 409: {}, 422: {}, 502: {}}
)
async def upsert_portal(
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.PORTAL))],
    message: Annotated[dict[str, Any], Body(description="A portal_upsert message (lifecycle/messages.py)")],
    return_secret: Annotated[bool, Query(description="Answer a new app's client secret (once)")] = False,
) -> JSONResponse:
    """Register one portal as an OpenID Connect app (idempotent: an existing app is reused)."""
    caught: list[SecretStr] = []

    def sink(tenant: str, spec: PortalSpec, app: OidcApp, secret: SecretStr) -> None:
        caught.append(secret)

    message.setdefault("op", "portal_upsert")
    tenant = message.get("tenant")
    if isinstance(tenant, str):  # else the message is invalid: handle_portal_upsert answers why
        await check_tenant(request, principal, Action.PORTAL, tenant)
    result = await handle_portal_upsert(_rt(request), message, sink=sink if return_secret else None)
    body: dict[str, Any] = result.model_dump(mode="json")
    if result.tenant is not None and isinstance(tenant, str):
        await audit(
            request,
            principal,
            "portal.register",
            f"{result.tenant}/{result.portal or '?'}",
            result.tenant,
            "failed" if result.status in _PORTAL_STATUS else "ok",
            {
                "status": result.status,
                "app_id": result.app_id,
                "reason": result.reason.code if result.reason else None,
            },
        )
    code = status.HTTP_200_OK
    if result.status in _PORTAL_STATUS:
        code = _FAILED_CODES.get(result.reason.code if result.reason else "", _PORTAL_STATUS[result.status])
    if caught:
        body["client_secret"] = caught[0].get_secret_value()  # asked for; shown once, never stored
    return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})


@router.get("/portals")
async def portals(
    request: Request, principal: Reader, tenant: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    """Registered portals with their app and client ids (never a secret)."""
    rt = _rt(request)

    async def fetch(name: str | None) -> list[PortalRow]:
        return list(await rt.db.call(list_portals, rt.store, name))

    return [
        {
            "tenant": r.tenant,
            "portal": r.name,
            "state": r.state,
            "label": r.label,
            "base_url": r.base_url,
            "redirect_uris": list(r.redirect_uris),
            "app_id": r.app_id,
            "client_id": r.client_id,
            "last_error": r.last_error,
        }
        for r in await each_tenant(request, principal, tenant, fetch)
    ]


# ---- failures and retries -----------------------------------------------------------------------


def _row(r: FailureRow) -> dict[str, Any]:
    return {
        "status": r.status,
        "reason": {"code": r.reason_code, "message": r.reason},
        "tenant": r.tenant,
        "source": r.source,
        "key": r.key,
        "op": r.op,
        "login": r.login or None,
        "idp_id": r.idp_id or None,
        "change_id": r.change_id,
    }


@router.get("/imports/{import_id}/failures", responses={404: {"description": "No such import"}})
async def failures(
    request: Request,
    import_id: str,
    principal: Reader,
    only: Annotated[Literal["failed", "skipped"] | None, Query(alias="status")] = None,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after: Annotated[int, Query(ge=0, description="Page after this change id")] = 0,
) -> Any:
    """Every failed or skipped user with the reason: JSON pages, or the whole list as CSV."""
    rt = _rt(request)
    record = await rt.stores.imports.get(import_id)
    if record is None or not principal.may(Action.READ, record.tenant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no import {import_id!r}")
    filt = FailureFilter(statuses=(only,)) if only else FailureFilter()
    if fmt == "csv":
        return StreamingResponse(
            csv_chunks(rt.db, import_id, filt),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{import_id}-failures.csv"'},
        )
    page = await rt.db.call(failure_page, rt.store, import_id, filt, after=after, limit=limit)
    summary = await rt.stores.imports.reason_summary(import_id)
    return {
        "import_id": import_id,
        "progress": _progress(rt, record),  # a retry in progress: its users are pending, not failed
        "summary": [
            {"status": s, "code": c, "users": n, "example": m} for s, c, n, m in summary if s in filt.statuses
        ],
        "items": [_row(r) for r in page],
        "next_after": page[-1].change_id if len(page) == limit else None,
    }


@router.post("/imports/{import_id}/retry", responses={202: {"description": "Queued again"}, 404: {}})
async def retry(
    request: Request,
    import_id: str,
    principal: Annotated[Principal, Depends(require(Action.RETRY))],
    body: RetryRequest | None = None,
) -> JSONResponse:
    """Queue an import's failed users again (not lines rejected as invalid input)."""
    rt = _rt(request)
    record = await rt.stores.imports.get(import_id)
    if record is None or not principal.may(Action.READ, record.tenant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no import {import_id!r}")
    await check_tenant(request, principal, Action.RETRY, record.tenant)
    retried, kept = await rt.db.call(retry_counts, rt.store, import_id)
    if body is not None and body.dry_run:
        return JSONResponse({"dry_run": True, "would_retry": retried, "not_retried": kept})
    requeued = await rt.stores.imports.requeue_failed(import_id, except_codes=NOT_RETRIED)
    await audit(request, principal, "import.retry", import_id, record.tenant, "ok", {"requeued": requeued})
    rt.worker.notify()
    return JSONResponse(
        {"import_id": import_id, "requeued": requeued, "not_retried": kept, "url": f"/imports/{import_id}"},
        status_code=status.HTTP_202_ACCEPTED,
    )


# ---- background: learned limits, interrupted activation jobs -------------------------------------


def setup(app: FastAPI) -> None:
    app.state.lifecycle_tasks = set()
    app.state.background.append(("lifecycle", _background))


async def _background(app: FastAPI) -> None:
    """Resume activation jobs whose queuing a stopped service left unfinished; save the learned
    rate limits every minute (for estimates without an IdP call)."""
    rt: Runtime = app.state.runtime
    for job in await rt.db.call(list_jobs, rt.store, None):
        record = await rt.stores.imports.get(job.id)
        if record is not None and record.state.value == "running" and not record.input_done:
            with contextlib.suppress(ConfigError):
                await start_in_service(
                    rt, job.tenant, job.source, trigger=job.trigger, tasks=app.state.lifecycle_tasks
                )
    stop: asyncio.Event = app.state.stop
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LIMITS_EVERY_S)
        await rt.db.call(rt.remember_limits)
