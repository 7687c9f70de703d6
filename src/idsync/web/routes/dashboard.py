"""The dashboard: `/dashboard` (HTML), `/dashboard/api/*` (its JSON and the failures CSV).

The module is `public` only so that the HTML shells (the login form, the empty page) and the
static script can load before a login; every route on `api` depends on `require_session`
(the login cookie, or the API's bearer token), so no data leaves without it. See
docs/dashboard.md and `idsync.web.dashboard`.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.staticfiles import StaticFiles

from idsync import __version__
from idsync.adapters.store.failures import FailureFilter, FailureRow, FailureStatus, failure_page
from idsync.domain.models import Lane
from idsync.domain.records import ImportRecord
from idsync.lifecycle.failures import csv_chunks
from idsync.runtime import Runtime
from idsync.web.dashboard import session
from idsync.web.dashboard.sampler import DashboardState, run_sampler
from idsync.web.dashboard.views import (
    FailurePage,
    ImportDetail,
    LimitsView,
    Overview,
    QueueView,
    ReasonRow,
    bucket_views,
    import_row,
)

public = True
router = APIRouter(tags=["dashboard"])
api = APIRouter(prefix="/dashboard/api", dependencies=[Depends(session.require_session)])

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")
_templates = Environment(
    loader=PackageLoader("idsync.web.dashboard", "templates"), autoescape=select_autoescape(default=True)
)
# The page runs only its own script and styles and talks only to this origin.
_HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_NO_STORE = {"Cache-Control": "no-store"}


def setup(app: FastAPI) -> None:
    app.state.dashboard = DashboardState()
    app.state.background.append(("dashboard-sampler", run_sampler))
    app.mount(
        "/dashboard/static", StaticFiles(packages=[("idsync.web.dashboard", "static")]), name="dashboard"
    )


def _page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(version=__version__, **context)
    return HTMLResponse(html, status_code=status_code, headers=_HTML_HEADERS)


# ---- HTML (public shells: no data in them) -------------------------------------------------------


@router.get("/dashboard", include_in_schema=False)
async def dashboard(request: Request) -> HTMLResponse:
    """The page, or the login form when there is no valid login cookie."""
    api_token: str | None = request.app.state.api_token
    if session.valid(api_token, request.cookies.get(session.COOKIE)):
        return _page("dashboard.html")
    return _page("login.html", configured=api_token is not None)


@router.post("/dashboard/login", include_in_schema=False)
async def login(request: Request, token: Annotated[str, Form(max_length=1000)] = "") -> Response:
    api_token: str | None = request.app.state.api_token
    if not session.token_matches(api_token, token.strip()):
        error = "That is not the API token." if api_token else "No API token is configured."
        return _page(
            "login.html", status.HTTP_401_UNAUTHORIZED, configured=api_token is not None, error=error
        )
    assert api_token is not None
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        session.COOKIE,
        session.issue(api_token),
        max_age=session.LIFETIME_S,
        path=session.PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/dashboard/logout", include_in_schema=False)
async def logout() -> Response:
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(session.COOKIE, path=session.PATH, httponly=True, samesite="strict")
    return response


# ---- JSON and CSV (login cookie or bearer token) --------------------------------------------------


def _state(request: Request) -> tuple[Runtime, DashboardState]:
    return request.app.state.runtime, request.app.state.dashboard


async def _record(request: Request, import_id: str) -> ImportRecord:
    rt, _ = _state(request)
    record = await rt.stores.imports.get(import_id) if _ID.match(import_id) else None
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no import {import_id}")
    return record


@api.get("/overview")
async def overview(request: Request, response: Response) -> Overview:
    """Imports and activation jobs (newest first) with progress, rate and ETA; the queue."""
    rt, state = _state(request)
    records = await rt.stores.imports.recent(limit=50)
    history = state.history
    if history.queue:
        last = history.queue[-1]
        queue = QueueView(interactive=last.interactive, bulk=last.bulk, sampled_at=last.t)
    else:  # before the first sample
        depth = await rt.stores.queue.queue_depth()
        queue = QueueView(interactive=depth[Lane.INTERACTIVE], bulk=depth[Lane.BULK], sampled_at=None)
    response.headers.update(_NO_STORE)
    return Overview(generated_at=time.time(), imports=[import_row(r, history) for r in records], queue=queue)


@api.get("/limits")
async def limits(
    request: Request,
    response: Response,
    since: Annotated[float, Query(ge=0, description="Only chart points after this time")] = 0.0,
) -> LimitsView:
    """Per IdP and rate-limit bucket: limit, budget, calls, 429s, and calls per minute over time."""
    rt, state = _state(request)
    shares = {name: idp.governor.budget_share for name, idp in rt.settings.idps.items()}
    response.headers.update(_NO_STORE)
    return LimitsView(
        generated_at=time.time(),
        interval_s=state.interval_s,
        idps=bucket_views(rt.governors, shares, state.history, since=since),
    )


@api.get("/imports/{import_id}", responses={404: {"description": "No such import"}})
async def import_detail(import_id: str, request: Request, response: Response) -> ImportDetail:
    """One import or activation job: counts, rate, ETA, and its failures and skips by reason."""
    record = await _record(request, import_id)
    rt, state = _state(request)
    reasons = await rt.stores.imports.reason_summary(import_id)
    response.headers.update(_NO_STORE)
    return ImportDetail(
        item=import_row(record, state.history),
        reasons=[ReasonRow(status=s, code=c, count=n, example=e) for s, c, n, e in reasons],
    )


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
    status_: StatusQuery = None,
    code: CodeQuery = None,
    q: TextQuery = None,
    after: Annotated[int, Query(ge=0, description="change_id to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FailurePage:
    """Failed and skipped users with their reasons, filtered, in arrival order, a page at a time."""
    await _record(request, import_id)
    rt, _ = _state(request)
    rows: list[FailureRow] = await rt.db.call(
        failure_page, rt.store, import_id, _filter(status_, code, q), after=after, limit=limit
    )
    response.headers.update(_NO_STORE)
    return FailurePage(
        items=rows,
        next_after=rows[-1].change_id if len(rows) == limit else None,
    )


@api.get("/imports/{import_id}/failures.csv", responses={404: {"description": "No such import"}})
async def failures_csv(
    import_id: str,
    request: Request,
    status_: StatusQuery = None,
    code: CodeQuery = None,
    q: TextQuery = None,
) -> StreamingResponse:
    """The same rows as CSV (the columns of `idsync`'s failure report), streamed."""
    await _record(request, import_id)
    rt, _ = _state(request)
    return StreamingResponse(
        csv_chunks(rt.db, import_id, _filter(status_, code, q)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="idsync-failures-{import_id}.csv"',
            **_NO_STORE,
        },
    )


router.include_router(api)
