"""Where does a user log in? The tenant's routing rules over HTTP (see docs/login-flows.md).

Two endpoints, because a login page asks before anybody is authenticated:

- `GET /access/login-url` is **public** and answers only `{"login_url": ...}`: the URL the login
  starts at, which the browser is about to be sent to anyway. It does not name the external IdP,
  the rule that matched, or whether the user exists (idsync does not even look). Without `email`
  it answers the tenant's main login URL, the OpenID Connect issuer a relying party discovers.
- `GET /access/route` needs a credential that may read the tenant and answers everything: which
  IdP (Okta, or which external IdP), the login URL, and whether the user needs syncing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel

from idsync.access.routing import InvalidEmail, LoginRoute
from idsync.access.service import UnknownTenant, login_route, main_login_url
from idsync.domain.authz import Action, Principal
from idsync.web.auth import check_tenant, require

public = True  # /access/login-url only; /access/route has its guard
router = APIRouter(prefix="/access", tags=["access"])

_TENANT = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"
Tenant = Annotated[str, Query(pattern=_TENANT, description="The installation (tenant) the login is for")]
Email = Annotated[str, Query(min_length=3, max_length=254, description="The user's e-mail address")]


class LoginUrl(BaseModel):
    login_url: str


class RouteAnswer(BaseModel):
    """A `LoginRoute` (access/routing.py) as JSON: read from its attributes, `needs_sync` too."""

    tenant: str
    email: str
    domain: str
    idp: str
    external: bool
    login_url: str
    needs_sync: bool


def _emulator_urls(request: Request) -> dict[str, str]:
    runtime = getattr(request.app.state, "runtime", None)
    return dict(getattr(runtime, "emulator_urls", {}) or {})


def _route(request: Request, tenant: str, email: str) -> LoginRoute:
    try:
        answer = login_route(request.app.state.settings, tenant, email, _emulator_urls(request))
    except UnknownTenant as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except InvalidEmail:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail="email: not an e-mail address"
        ) from None
    if not answer.login_url:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"no login URL is configured for tenant {tenant!r}"
        )
    return answer


@router.get("/login-url", responses={404: {"description": "Unknown tenant"}})
async def get_login_url(
    request: Request, response: Response, tenant: Tenant, email: Email | None = None
) -> LoginUrl:
    """Where the login of `email` starts (public: the answer is only the URL)."""
    response.headers["Cache-Control"] = "no-store"
    if email is None:
        try:
            url = main_login_url(request.app.state.settings, tenant, _emulator_urls(request))
        except UnknownTenant as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        if not url:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"no login URL is configured for tenant {tenant!r}",
            )
        return LoginUrl(login_url=url)
    return LoginUrl(login_url=_route(request, tenant, email).login_url)


@router.get("/route", responses={404: {"description": "Unknown tenant"}})
async def get_route(
    request: Request,
    tenant: Tenant,
    email: Email,
    principal: Annotated[Principal, Depends(require(Action.READ))],
) -> RouteAnswer:
    """Which IdP `email` logs in at, its login URL, and whether the user is synced at all."""
    await check_tenant(request, principal, Action.READ, tenant)
    return RouteAnswer.model_validate(_route(request, tenant, email), from_attributes=True)
