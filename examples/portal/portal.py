"""A small portal that logs people in the way the seed describes, through idsync's routing and Okta.

It plays an application instance (a "portal") after the migration:

- **Public pages** (`/`) never redirect to a login; **private pages** (`/private`) do.
- **One general URL.** Reached under another host name, a login moves to `public_url` first:
  that is where the redirect URI registered at Okta points, so every login ends there.
- **Routing before the redirect.** The login page asks for the e-mail and asks idsync where it
  logs in (`GET /access/login-url`, public). Okta users go to Okta with the e-mail as
  `login_hint`; a user whose domain is routed to the company's own IdP goes there instead.
- **Discovery through idsync.** The portal is not told Okta's URL: idsync's answer without an
  e-mail is the tenant's OpenID Connect issuer, whose discovery document Authlib reads.
- **OpenID Connect with Authlib**: authorization code + PKCE (S256), nonce and state, ID token
  checked against the issuer's keys. No protocol or crypto code here.
- **Its own session** (server-side; the cookie holds only a random id) lasts
  `session_lifetime_s`. When it ends, Okta's session decides: single sign-on or a new sign-in.
- **Logout** ends the Okta session (RP-initiated logout with the ID token as hint). A portal ends
  its own session too (the seed's portal behaviour); with `keep_session_on_logout` it behaves
  like EFS in the seed: logged out of Okta, still logged in here until the session expires.

Run it: `python examples/portal/portal.py` with the `PORTAL_*` variables of `PortalConfig.from_env`.
"""

from __future__ import annotations

import os
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

with warnings.catch_warnings():  # Authlib prefers the httpx2 package; httpx works the same
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, OAuthError

COOKIE = "portal_session"
Clock = Callable[[], float]


@dataclass(frozen=True)
class PortalConfig:
    idsync_url: str  # where idsync's HTTP API answers (only the public /access/login-url is used)
    tenant: str  # the installation this portal belongs to
    client_id: str  # the portal's OpenID Connect app (from `idsync portals sync --secrets-file`)
    client_secret: str
    public_url: str  # the general URL; `{public_url}/callback` is the registered redirect URI
    name: str = "Portal"
    session_lifetime_s: float = 1800.0
    keep_session_on_logout: bool = False
    post_logout_redirect_uri: str | None = None  # only if registered at Okta for this app

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PortalConfig:
        return cls(
            idsync_url=env["PORTAL_IDSYNC_URL"],
            tenant=env["PORTAL_TENANT"],
            client_id=env["PORTAL_CLIENT_ID"],
            client_secret=env["PORTAL_CLIENT_SECRET"],
            public_url=env["PORTAL_PUBLIC_URL"].rstrip("/"),
            name=env.get("PORTAL_NAME", "Portal"),
            session_lifetime_s=float(env.get("PORTAL_SESSION_LIFETIME_S", "1800")),
            keep_session_on_logout=env.get("PORTAL_KEEP_SESSION_ON_LOGOUT", "") == "1",
            post_logout_redirect_uri=env.get("PORTAL_POST_LOGOUT_REDIRECT_URI") or None,
        )


class ServerSessions:
    """`request.session` kept on the server; the cookie carries a random id and nothing else."""

    def __init__(self, app: ASGIApp, store: dict[str, dict[str, Any]]) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sid = Request(scope).cookies.get(COOKIE, "")
        scope["session"] = dict(self.store.get(sid, {}))

        async def send_with_cookie(message: Message) -> None:
            nonlocal sid
            if message["type"] == "http.response.start":
                data = scope["session"]
                if scope.get("session_rotate") or (data and sid not in self.store):
                    self.store.pop(sid, None)
                    sid = secrets.token_urlsafe(32)
                headers = MutableHeaders(scope=message)
                if data:
                    self.store[sid] = data
                    headers.append("Set-Cookie", f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax")
                elif sid:
                    self.store.pop(sid, None)
                    headers.append("Set-Cookie", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>",
        status_code=status_code,
    )


class Portal:
    def __init__(self, config: PortalConfig, clock: Clock = time.time) -> None:
        self.config, self.clock = config, clock
        self.general = urlsplit(config.public_url).netloc
        self.oauth = OAuth()
        self.issuer: str | None = None

    async def ask_idsync(self, email: str | None = None) -> str:
        """The login URL idsync's routing gives for `email` (none: the tenant's issuer)."""
        params = {"tenant": self.config.tenant, **({"email": email} if email else {})}
        async with httpx.AsyncClient(base_url=self.config.idsync_url, timeout=10) as client:
            answer = await client.get("/access/login-url", params=params)
        answer.raise_for_status()
        return str(answer.json()["login_url"])

    async def okta(self) -> Any:
        """The OIDC client, registered on first use from the issuer idsync names (discovery)."""
        if self.issuer is None:
            self.issuer = await self.ask_idsync()
            self.oauth.register(
                "okta",
                client_id=self.config.client_id,
                client_secret=self.config.client_secret,
                server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
                client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
            )
        return self.oauth.create_client("okta")

    def user(self, request: Request) -> dict[str, Any] | None:
        """The signed-in user while the portal's own session lasts."""
        session = request.session
        if session.get("user") and self.clock() < float(session.get("expires_at", 0)):
            user: dict[str, Any] = session["user"]
            return user
        for key in ("user", "id_token", "expires_at"):
            session.pop(key, None)
        return None

    def at_general_url(self, request: Request, path: str) -> Response | None:
        if request.url.netloc == self.general:
            return None
        return RedirectResponse(f"{self.config.public_url}{path}", status_code=302)

    async def public(self, request: Request) -> Response:
        user = self.user(request)
        who = f"Signed in as {escape(user.get('email', ''))}." if user else "You are not signed in."
        body = f"<p>This public page never asks you to sign in. {who}</p><a href=/private>Private page</a>"
        return _page(f"{self.config.name}: welcome", body)

    async def private(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse(f"{self.config.public_url}/login?{urlencode({'next': '/private'})}", 302)
        body = (
            f"<p id=greeting>Hello {escape(user.get('name', ''))} ({escape(user.get('email', ''))})</p>"
            "<form method=post action=/logout><button id=logout>Sign out</button></form>"
        )
        return _page(f"{self.config.name}: private page", body)

    async def login(self, request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        moved = self.at_general_url(request, f"/login{query}")
        if moved is not None:
            return moved
        if request.method == "GET":
            return self.login_page(request.query_params.get("next", "/private"))
        form = await request.form()
        email, target = str(form.get("email", "")).strip(), str(form.get("next", "/private"))
        target = target if target.startswith("/") and not target.startswith("//") else "/private"
        try:
            login_url = await self.ask_idsync(email)
            okta = await self.okta()
        except httpx.HTTPError:
            return self.login_page(target, "This e-mail address cannot sign in here.", email, 400)
        if login_url != self.issuer:  # routed to the company's own IdP
            return RedirectResponse(f"{login_url}?{urlencode({'login_hint': email})}", status_code=302)
        request.session["next"] = target
        response: Response = await okta.authorize_redirect(
            request, f"{self.config.public_url}/callback", login_hint=email
        )
        return response

    def login_page(
        self, target: str, error: str = "", email: str = "", status_code: int = 200
    ) -> HTMLResponse:
        message = f"<p role=alert>{escape(error)}</p>" if error else ""
        body = (
            f"{message}<form method=post action=/login><input type=hidden name=next value='{escape(target)}'>"
            f"<label for=email>E-mail address</label> <input id=email name=email type=email "
            f"value='{escape(email)}' required> <button id=continue>Continue</button></form>"
        )
        return _page(f"{self.config.name}: sign in", body, status_code)

    async def callback(self, request: Request) -> Response:
        okta = await self.okta()
        try:
            token = await okta.authorize_access_token(request)
        except OAuthError as exc:
            return _page("Sign-in failed", f"<p role=alert>{escape(exc.description or exc.error)}</p>", 400)
        target = request.session.pop("next", "/private")
        request.session.update(
            user=dict(token["userinfo"]),
            id_token=token["id_token"],
            expires_at=self.clock() + self.config.session_lifetime_s,
        )
        request.scope["session_rotate"] = True  # a new session id at sign-in (no fixation)
        return RedirectResponse(target, status_code=302)

    async def logout(self, request: Request) -> Response:
        id_token = request.session.get("id_token")
        if not self.config.keep_session_on_logout:
            request.session.clear()
        if not id_token:
            return RedirectResponse("/", status_code=302)
        okta = await self.okta()
        response: Response = await okta.logout_redirect(
            request, post_logout_redirect_uri=self.config.post_logout_redirect_uri, id_token_hint=id_token
        )
        return response


def create_app(config: PortalConfig, *, clock: Clock = time.time) -> Starlette:
    portal = Portal(config, clock)
    app = Starlette(
        routes=[
            Route("/", portal.public),
            Route("/private", portal.private),
            Route("/login", portal.login, methods=["GET", "POST"]),
            Route("/callback", portal.callback),
            Route("/logout", portal.logout, methods=["POST"]),
        ]
    )
    app.add_middleware(ServerSessions, store={})
    app.state.portal = portal
    return app


if __name__ == "__main__":
    import uvicorn

    settings = PortalConfig.from_env(os.environ)
    port = urlsplit(settings.public_url).port or 8500
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port)
