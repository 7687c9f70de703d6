"""The emulator's hosted sign-in: the sign-in page, the activation link's password set-up, the
Okta session cookie, and admin endpoints to look at sessions and activation links.

Why it exists: the migration is only done when people can log in. Phase 2 (`activate`,
`sendEmail=false`) gives an activation URL; here that URL opens a page where the user sets a
password (Okta's default password policy), which makes them ACTIVE. The sign-in page then checks
that password and starts an Okta session (`sid` cookie, 2 h idle by default, on the emulator's
clock), which the authorize endpoint (`oidc`) turns into single sign-on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from idsync.emulator.okta.login_pages import (
    activated_page,
    activation_page,
    home_page,
    message_page,
    sign_in_page,
)
from idsync.emulator.okta.models import UserRecord
from idsync.emulator.okta.oidc import SESSION_COOKIE, provider
from idsync.emulator.okta.oidc_state import password_problem

__all__ = ["login_routes"]

HOME = "/app/UserHome"
_SAFE_TARGETS = ("/oauth2/", "/app/")
_UNABLE = "Unable to sign in"


def _safe_from_uri(value: str) -> str:
    """Only paths of this org (authorize requests, the home page): no open redirect."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(_SAFE_TARGETS) or value.startswith("//"):
        return HOME
    return value


def _login_hint(from_uri: str) -> str:
    return parse_qs(urlsplit(from_uri).query).get("login_hint", [""])[0]


def _name(user: UserRecord) -> str:
    return f"{user.profile.get('firstName') or ''} {user.profile.get('lastName') or ''}".strip() or user.login


async def sign_in(request: Request) -> Response:
    p = provider(request)
    if request.method == "GET":
        from_uri = _safe_from_uri(request.query_params.get("fromURI", HOME))
        if p.state.session(request.cookies.get(SESSION_COOKIE)) is not None and from_uri == HOME:
            return RedirectResponse(HOME, status_code=302)
        return sign_in_page(_login_hint(from_uri), from_uri)
    form = await request.form()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    from_uri = _safe_from_uri(str(form.get("fromURI", HOME)))
    user = p.emulator.org.state.user_by_login(username) if username else None
    if user is None or user.status != "ACTIVE" or not p.state.check_password(user, password):
        return sign_in_page(username, from_uri, error=_UNABLE, status_code=401)
    p.state.end_session(request.cookies.get(SESSION_COOKIE))
    session = p.state.start_session(user)
    response = RedirectResponse(from_uri, status_code=302)
    response.set_cookie(SESSION_COOKIE, session.id, path="/", httponly=True, samesite="lax")
    return response


async def home(request: Request) -> Response:
    found = provider(request).state.session(request.cookies.get(SESSION_COOKIE))
    if found is None:
        return RedirectResponse(f"/login/login.htm?fromURI={HOME}", status_code=302)
    return home_page(_name(found[1]), found[1].login)


async def signed_out(request: Request) -> Response:
    return message_page("Signed out", "You have been signed out of Okta.")


def _pending_user(request: Request) -> UserRecord | None:
    token = request.path_params["token"]
    for user in provider(request).emulator.org.state.users.values():
        if user.activation_token == token and user.status == "PROVISIONED":
            return user
    return None


async def activate(request: Request) -> Response:
    """The activation link: set a password, become ACTIVE (as following Okta's e-mail does)."""
    p = provider(request)
    user = _pending_user(request)
    if user is None:
        text = "This activation link is no longer valid. Ask your administrator for a new one."
        return message_page("Activation link expired", text, status_code=404)
    action = request.url.path
    if request.method == "GET":
        return activation_page(_name(user), user.login, action)
    form = await request.form()
    password, confirm = str(form.get("password", "")), str(form.get("confirm", ""))
    problem = password_problem(password, user) or (
        None if password == confirm else "The passwords do not match."
    )
    if problem:
        return activation_page(_name(user), user.login, action, error=problem)
    p.state.set_password(user, password)
    org = p.emulator.org
    now = org.now()
    user.status, user.status_changed, user.last_updated, user.activated = "ACTIVE", now, now, now
    user.has_password, user.password_changed, user.activation_token = True, now, None
    with org.state.journal.batch():
        org.state.save_user(user)
    return activated_page(user.login)


# --- admin (not Okta's; no token, like every /__emulator endpoint) ----------------------------


def _matches(user: UserRecord, request: Request) -> bool:
    login, user_id = request.query_params.get("login"), request.query_params.get("user_id")
    return (login is None or user.login.casefold() == login.casefold()) and (
        user_id is None or user.id == user_id
    )


async def sessions(request: Request) -> Response:
    """GET: the live Okta sessions (no session ids); DELETE: end them (filter: login, user_id)."""
    state = provider(request).state
    live = [(s, u) for s, u in state.live_sessions() if _matches(u, request)]
    if request.method == "DELETE":
        for session, _ in live:
            state.end_session(session.id)
        return JSONResponse({"ended": len(live)})
    return JSONResponse([state.session_json(s, u) for s, u in live])


async def set_password(request: Request) -> Response:
    """Give a user a password the sign-in page accepts (tests that skip the activation page)."""
    p = provider(request)
    user = p.emulator.org.state.users.get(request.path_params["user_id"])
    if user is None:
        return JSONResponse({"error": "no such user"}, status_code=404)
    body: Any = await request.json()
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(password, str):
        return JSONResponse({"error": 'body must be {"password": "..."}'}, status_code=400)
    problem = password_problem(password, user)
    if problem:
        return JSONResponse({"error": problem}, status_code=400)
    p.state.set_password(user, password)
    return JSONResponse({"user_id": user.id, "login": user.login, "status": user.status})


async def activation_links(request: Request) -> Response:
    """Pending activation links: what `activate?sendEmail=false` answered (or the e-mail held)."""
    p = provider(request)
    org = p.emulator.org
    org_url = p.org_url(request)
    links = [
        {
            "user_id": u.id,
            "login": u.login,
            "status": u.status,
            "activationUrl": org.activation_url(org_url, u.activation_token),
            "activationToken": u.activation_token,
        }
        for u in org.state.iter_users()
        if u.activation_token and u.status == "PROVISIONED" and _matches(u, request)
    ]
    return JSONResponse(links)


def login_routes() -> list[Route]:
    return [
        Route("/login/login.htm", sign_in, methods=["GET", "POST"]),
        Route("/login/signout", signed_out, methods=["GET"]),
        Route(HOME, home, methods=["GET"]),
        Route("/tokens/{token}/verify", activate, methods=["GET", "POST"]),
        Route("/welcome/{token}", activate, methods=["GET", "POST"]),
        Route("/__emulator/sessions", sessions, methods=["GET", "DELETE"]),
        Route("/__emulator/users/{user_id}/password", set_password, methods=["POST"]),
        Route("/__emulator/activation-links", activation_links, methods=["GET"]),
    ]
