"""Signing in to the dashboard: `/dashboard` (the page, or the sign-in form), the API token form,
the sign-in through the IdP (`/dashboard/sso/login` → the IdP → `/dashboard/sso/callback`), and
signing out. Public: these are how a browser gets its credential; the page itself is an empty
shell whose data comes from `/dashboard/api/*`, which needs the sign-in (routes/dashboard.py).

A sign-in with the installation's token or an API token keeps a reference to it in the cookie
(web/dashboard/session.py); a sign-in through the IdP keeps the login and the roles its groups
gave (`service.sso.groups`). Sign-ins through the IdP are recorded in the audit trail, refused
ones too.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from idsync.adapters.store.features.audit import Outcome, record_audit
from idsync.adapters.store.features.tokens import TOKEN_PREFIX, authenticate_token
from idsync.runtime import Runtime
from idsync.web.auth import service_key, signed_in
from idsync.web.dashboard import session
from idsync.web.dashboard.pages import page
from idsync.web.dashboard.sso import SignInRefused, SsoClient, clear_pending

public = True
router = APIRouter(tags=["dashboard"])


async def _sso(request: Request) -> SsoClient | None:
    """The IdP sign-in, when `service.sso` is configured (built once per app)."""
    settings = request.app.state.settings.service.sso
    if settings is None:
        return None
    client: SsoClient | None = getattr(request.app.state, "sso", None)
    if client is None:
        client = request.app.state.sso = SsoClient(settings, await service_key(request))
    return client


def _form(request: Request, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    sso = request.app.state.settings.service.sso
    return page("login.html", status_code, sso_label=sso.label if sso else None, error=error)


def _signed_in_response(request: Request, value: str, *, interstitial: bool = False) -> Response:
    """Set the session cookie. After the IdP's redirect, a page of ours leads on to /dashboard:
    the browser sends a SameSite=Strict cookie only on a navigation that starts on this site."""
    response: Response
    if interstitial:
        response = page("signed_in.html")
    else:
        response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        session.COOKIE,
        value,
        max_age=session.LIFETIME_S,
        path=session.PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/dashboard", include_in_schema=False)
async def dashboard(request: Request) -> HTMLResponse:
    """The page, or the sign-in form when there is no valid sign-in cookie."""
    principal = await signed_in(request)
    if principal is None:
        return _form(request)
    return page("dashboard.html", actor=principal.actor, access=principal.describe())


@router.post("/dashboard/login", include_in_schema=False)
async def login(request: Request, token: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """The token form: the installation's token or an API token of `idsync tokens`."""
    presented = token.strip()
    key = await service_key(request)
    configured: str | None = request.app.state.api_token
    if session.token_matches(configured, presented):
        assert configured is not None
        sign_in = session.SignIn("config", ref=session.config_fingerprint(key, configured))
        return _signed_in_response(request, session.issue(key, sign_in))
    if presented.startswith(TOKEN_PREFIX):
        rt = request.app.state.runtime
        row = await rt.db.call(authenticate_token, rt.store, presented)
        if row is not None:
            return _signed_in_response(request, session.issue(key, session.SignIn("token", ref=row.id)))
    return _form(request, status.HTTP_401_UNAUTHORIZED, "That is not a valid API token.")


@router.post("/dashboard/logout", include_in_schema=False)
async def logout() -> Response:
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(session.COOKIE, path=session.PATH, httponly=True, samesite="strict")
    return response


@router.get("/dashboard/sso/login", include_in_schema=False)
async def sso_login(request: Request) -> Response:
    """Off to the IdP (authorization code with PKCE)."""
    client = await _sso(request)
    if client is None:
        return _form(request, status.HTTP_404_NOT_FOUND, "Sign-in through the IdP is not configured.")
    try:
        return await client.start(request)
    except (httpx.HTTPError, ValueError, RuntimeError) as exc:  # discovery failed
        error = f"The IdP does not answer ({type(exc).__name__}); sign in with an API token meanwhile."
        return _form(request, status.HTTP_502_BAD_GATEWAY, error)


async def _audit_sso(rt: Runtime, actor: str, outcome: Outcome, detail: dict[str, Any]) -> None:
    """A sign-in through the IdP, let in or refused, in the audit trail."""
    await rt.db.call(
        record_audit,
        rt.store,
        actor=actor,
        action="dashboard.signin",
        target="sso",
        tenant=None,
        outcome=outcome,
        detail=detail,
    )


@router.get("/dashboard/sso/callback", include_in_schema=False)
async def sso_callback(request: Request) -> Response:
    """The IdP's answer: a session for the roles the ID token's groups give, or the form again."""
    client = await _sso(request)
    if client is None:
        return _form(request, status.HTTP_404_NOT_FOUND, "Sign-in through the IdP is not configured.")
    rt = request.app.state.runtime
    try:
        done = await client.finish(request)
    except SignInRefused as exc:
        await _audit_sso(rt, exc.actor, "denied", {"reason": str(exc)})
        response: Response = _form(request, status.HTTP_403_FORBIDDEN, f"Not signed in: {exc}")
        clear_pending(response)
        return response
    grants = {t: r.label for t, r in done.grants.items()}
    await _audit_sso(rt, done.actor, "ok", {"subject": done.subject, "grants": grants})
    value = session.issue(await service_key(request), session.SignIn("sso", actor=done.actor, grants=grants))
    response = _signed_in_response(request, value, interstitial=True)
    clear_pending(response)
    return response
