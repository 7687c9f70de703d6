"""The dashboard's data: `/dashboard/api/*` (its JSON and the failures CSV). The HTML shells and
the sign-in are in routes/signin.py.

Every route on `api` has a reading guard (the sign-in cookie, or a bearer token); lists hold
only the tenants the caller covers, and an import of another tenant is answered 404. The rate
budget and the queue name no tenant or user, so every caller who may read sees them. See
docs/dashboard.md and `idsync.web.dashboard`.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from starlette.staticfiles import StaticFiles

from idsync.adapters.store.failures import FailureFilter, FailureRow, FailureStatus, failure_page
from idsync.adapters.store.features.audit import list_audit
from idsync.domain.authz import ALL_TENANTS, Action, Principal
from idsync.domain.models import ImportControl, Lane
from idsync.domain.records import ImportRecord
from idsync.lifecycle.failures import csv_chunks
from idsync.lifecycle.tenants import list_tenants
from idsync.runtime import Runtime
from idsync.service.fleet import FleetView, fleet_view
from idsync.web.auth import require
from idsync.web.dashboard.pages import NO_STORE
from idsync.web.dashboard.sampler import DashboardState, run_sampler
from idsync.web.dashboard.views import (
    AuditPage,
    FailurePage,
    ImportDetail,
    ImportRow,
    LimitsView,
    Me,
    Overview,
    QueueView,
    ReasonRow,
    bucket_views,
    import_row,
)
from idsync.web.routes.controls import control_route
from idsync.web.routes.tenants import TenantView
from idsync.web.tenancy import recent_imports

public = True  # the static files; every route on `api` has its guard
router = APIRouter(tags=["dashboard"])
api = APIRouter(prefix="/dashboard/api")
Reader = Annotated[Principal, Depends(require(Action.READ))]

DASHBOARD_HEADER = "X-Idsync-Dashboard"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")


def setup(app: FastAPI) -> None:
    app.state.dashboard = DashboardState()
    app.state.background.append(("dashboard-sampler", run_sampler))
    app.mount(
        "/dashboard/static", StaticFiles(packages=[("idsync.web.dashboard", "static")]), name="dashboard"
    )


# ---- JSON and CSV (login cookie or bearer token) --------------------------------------------------


def _state(request: Request) -> tuple[Runtime, DashboardState]:
    return request.app.state.runtime, request.app.state.dashboard


async def _record(request: Request, import_id: str, principal: Principal) -> ImportRecord:
    rt, _ = _state(request)
    record = await rt.stores.imports.get(import_id) if _ID.match(import_id) else None
    if record is None or not principal.may(Action.READ, record.tenant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no import {import_id}")
    return record


@api.get("/overview")
async def overview(request: Request, response: Response, principal: Reader) -> Overview:
    """Imports and activation jobs (newest first) with progress, rate and ETA; the queue."""
    rt, state = _state(request)
    records = await recent_imports(request, rt, principal, limit=50)
    history = state.history
    if history.queue:
        last = history.queue[-1]
        queue = QueueView(interactive=last.interactive, bulk=last.bulk, sampled_at=last.t)
    else:  # before the first sample
        depth = await rt.stores.queue.queue_depth()
        queue = QueueView(interactive=depth[Lane.INTERACTIVE], bulk=depth[Lane.BULK], sampled_at=None)
    response.headers.update(NO_STORE)
    rows = [_controls(import_row(r, history), principal) for r in records]
    return Overview(generated_at=time.time(), imports=rows, queue=queue)


@api.get("/limits")
async def limits(
    request: Request,
    response: Response,
    principal: Reader,
    since: Annotated[float, Query(ge=0, description="Only chart points after this time")] = 0.0,
) -> LimitsView:
    """Per IdP and rate-limit bucket: limit, budget, calls, 429s, and calls per minute over time."""
    rt, state = _state(request)
    shares = {name: idp.governor.budget_share for name, idp in rt.settings.idps.items()}
    response.headers.update(NO_STORE)
    return LimitsView(
        generated_at=time.time(),
        interval_s=state.interval_s,
        idps=bucket_views(rt.governors, shares, state.history, since=since),
    )


@api.get("/imports/{import_id}", responses={404: {"description": "No such import"}})
async def import_detail(
    import_id: str, request: Request, response: Response, principal: Reader
) -> ImportDetail:
    """One import or activation job: counts, rate, ETA, and its failures and skips by reason."""
    record = await _record(request, import_id, principal)
    rt, state = _state(request)
    reasons = await rt.stores.imports.reason_summary(import_id)
    response.headers.update(NO_STORE)
    return ImportDetail(
        item=_controls(import_row(record, state.history), principal),
        reasons=[ReasonRow(status=s, code=c, count=n, example=e) for s, c, n, e in reasons],
    )


def _controls(row: ImportRow, principal: Principal) -> ImportRow:
    """The buttons the page may show for this row: none for a viewer of its tenant."""
    if principal.may(Action.CONTROL, row.tenant):
        row.controls = [c for c in ImportControl if c.refusal(row.state) is None]
    return row


Operator = Annotated[Principal, Depends(require(Action.CONTROL))]


async def _button(
    request: Request, response: Response, principal: Principal, import_id: str, control: ImportControl
) -> ImportDetail:
    """The page's Pause / Resume / Cancel buttons: POST /imports/{id}/... of the API, with the
    sign-in cookie. A cookie-borne call must carry the page's `X-Idsync-Dashboard` header: a
    form of another site cannot set it (the cookie is SameSite=Strict as well)."""
    if "authorization" not in request.headers and request.headers.get(DASHBOARD_HEADER) != "1":
        detail = f"a dashboard action needs the {DASHBOARD_HEADER} header"
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)
    await control_route(request, principal, import_id, control)
    return await import_detail(import_id, request, response, principal)


_BUTTON: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such import"},
    409: {"description": "Its state does not allow it"},
}


@api.post("/imports/{import_id}/pause", responses=_BUTTON)
async def pause_button(
    import_id: str, request: Request, response: Response, principal: Operator
) -> ImportDetail:
    """Pause the import (the page's button)."""
    return await _button(request, response, principal, import_id, ImportControl.PAUSE)


@api.post("/imports/{import_id}/resume", responses=_BUTTON)
async def resume_button(
    import_id: str, request: Request, response: Response, principal: Operator
) -> ImportDetail:
    """Resume the import (the page's button)."""
    return await _button(request, response, principal, import_id, ImportControl.RESUME)


@api.post("/imports/{import_id}/cancel", responses=_BUTTON)
async def cancel_button(
    import_id: str, request: Request, response: Response, principal: Operator
) -> ImportDetail:
    """Cancel the import (the page's button, after the page asked to confirm)."""
    return await _button(request, response, principal, import_id, ImportControl.CANCEL)


def _filter(status_: list[FailureStatus] | None, code: str | None, q: str | None) -> FailureFilter:
    return FailureFilter(
        statuses=tuple(dict.fromkeys(status_ or ["failed", "skipped"])),
        code=code or None,
        text=(q or "").strip() or None,
    )


StatusQuery = Annotated[list[FailureStatus] | None, Query(alias="status")]
CodeQuery = Annotated[str | None, Query(max_length=64, description="Reason code")]
TextQuery = Annotated[str | None, Query(max_length=200, description="Part of key, login or reason")]


@api.get("/imports/{import_id}/failures", responses={404: {"description": "No such import"}})
async def failures(
    import_id: str,
    request: Request,
    response: Response,
    principal: Reader,
    status_: StatusQuery = None,
    code: CodeQuery = None,
    q: TextQuery = None,
    after: Annotated[int, Query(ge=0, description="change_id to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FailurePage:
    """Failed and skipped users with their reasons, filtered, in arrival order, a page at a time."""
    await _record(request, import_id, principal)
    rt, _ = _state(request)
    rows: list[FailureRow] = await rt.db.call(
        failure_page, rt.store, import_id, _filter(status_, code, q), after=after, limit=limit
    )
    response.headers.update(NO_STORE)
    return FailurePage(
        items=rows,
        next_after=rows[-1].change_id if len(rows) == limit else None,
    )


@api.get("/imports/{import_id}/failures.csv", responses={404: {"description": "No such import"}})
async def failures_csv(
    import_id: str,
    request: Request,
    principal: Reader,
    status_: StatusQuery = None,
    code: CodeQuery = None,
    q: TextQuery = None,
) -> StreamingResponse:
    """The same rows as CSV (the columns of `idsync`'s failure report), streamed."""
    await _record(request, import_id, principal)
    rt, _ = _state(request)
    return StreamingResponse(
        csv_chunks(rt.db, import_id, _filter(status_, code, q)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="idsync-failures-{import_id}.csv"',
            **NO_STORE,
        },
    )


@api.get("/fleet")
async def fleet(request: Request, response: Response, principal: Reader) -> FleetView:
    """Every instance on the store: alive, budget shares, Kafka partitions with their lag (no
    tenant or user named, so any caller who may read sees it)."""
    response.headers.update(NO_STORE)
    return await fleet_view(request.app.state.service)


@api.get("/tenants")
async def tenants(request: Request, response: Response, principal: Reader) -> list[TenantView]:
    """The caller's tenants: the sync mode in force, who switched it and when, the users."""
    rt, _ = _state(request)
    response.headers.update(NO_STORE)
    return [TenantView(**t.as_dict()) for t in await list_tenants(rt, principal.tenants(Action.READ))]


@api.get("/me")
async def me(response: Response, principal: Reader) -> Me:
    """Who is signed in, with which roles on which tenants (the page's header)."""
    response.headers.update(NO_STORE)
    return Me(
        actor=principal.actor,
        access=principal.describe(),
        grants={t: r.label for t, r in principal.grants.items()},
        everywhere=ALL_TENANTS in principal.grants,
    )


@api.get("/audit")
async def audit_trail(
    request: Request,
    response: Response,
    principal: Reader,
    before: Annotated[int | None, Query(ge=1, description="id to continue before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """The audit trail of the caller's tenants, newest first (installation-wide entries too for
    a caller who covers every tenant)."""
    rt, _ = _state(request)
    covered = principal.tenants(Action.READ)
    entries = await rt.db.call(
        list_audit, rt.store, tenants=covered, installation=covered is None, before=before, limit=limit
    )
    response.headers.update(NO_STORE)
    return AuditPage(
        items=[e.as_dict() for e in entries],
        next_before=entries[-1].id if len(entries) == limit else None,
    )


router.include_router(api)
