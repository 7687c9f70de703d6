"""OpenID Connect endpoints of the emulated org, as Okta serves them (docs/emulator.md, "Sign-in").

Two authorization servers, like every Okta org: the org authorization server (issuer = the org
URL; `/.well-known/openid-configuration`, `/oauth2/v1/{authorize,token,userinfo,keys,logout}`)
and the `default` custom one (issuer `{org}/oauth2/default`; `/oauth2/default/...`). Authlib
does the protocol (`oidc_server`); this module reads Starlette requests, looks at the browser's
Okta session (`sid` cookie) and sends a browser without one to the hosted sign-in page (`login`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import AccessDeniedError, OAuth2Error
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from idsync.emulator.okta.dpop import ALGS as DPOP_ALGS
from idsync.emulator.okta.emulator import Emulator
from idsync.emulator.okta.login_pages import message_page
from idsync.emulator.okta.oidc_adapters import SCOPES, EmulatorRequest, OktaClient, user_claims
from idsync.emulator.okta.oidc_server import OktaAuthorizationServer
from idsync.emulator.okta.oidc_state import OidcState
from idsync.emulator.okta.service_token import client_credentials

__all__ = ["SESSION_COOKIE", "OidcProvider", "oidc_routes", "provider"]

SESSION_COOKIE = "sid"
SERVERS = {"org": ("", "/oauth2/v1"), "default": ("/oauth2/default", "/oauth2/default/v1")}
"""Authorization server -> (issuer path, endpoint prefix)."""


class OidcProvider:
    """Everything sign-in needs, made once per app on first use."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.state = OidcState(emulator.org)
        self.servers = {name: OktaAuthorizationServer(name, self.state) for name in SERVERS}

    def org_url(self, request: Request) -> str:
        configured = self.emulator.settings.org_url
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        return (configured or f"{request.url.scheme}://{host}").rstrip("/")

    def issuer(self, request: Request, server: str) -> str:
        return self.org_url(request) + SERVERS[server][0]

    def assigned(self, client: OktaClient, user_id: str) -> bool:
        """Okta signs a user in to an app only if assigned: directly or through a group."""
        state, app_id = self.emulator.org.state, client.app.id
        if user_id in state.app_users.get(app_id, {}):
            return True
        groups = state.app_groups.get(app_id, {})
        return self.emulator.org.everyone_id in groups or any(
            g in groups for g in state.user_groups.get(user_id, set())
        )


def provider(request: Request) -> OidcProvider:
    found: OidcProvider | None = getattr(request.app.state, "oidc", None)
    if found is None:
        found = request.app.state.oidc = OidcProvider(request.app.state.emulator)
    return found


async def read_request(request: Request, issuer: str) -> EmulatorRequest:
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    return EmulatorRequest(
        request.method,
        str(request.url),
        request.headers,  # case-insensitive, as Authlib reads `Authorization`
        list(request.query_params.multi_items()),
        form,
        issuer=issuer,
        sid=request.cookies.get(SESSION_COOKIE),
    )


def metadata(issuer: str, base: str) -> dict[str, Any]:
    """Okta's discovery document, limited to what the emulator serves."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/keys",
        "end_session_endpoint": f"{base}/logout",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_supported": [
            *("iss", "ver", "sub", "aud", "iat", "exp", "jti", "auth_time", "amr", "idp", "nonce"),
            *("name", "given_name", "family_name", "preferred_username", "locale", "zoneinfo"),
            *("updated_at", "email", "email_verified"),
        ],
        "code_challenge_methods_supported": ["S256"],
        "request_parameter_supported": False,
    }


def _error_page(error: OAuth2Error) -> Response:
    text = f"{error.error}: {error.description or ''}".strip(": ")
    return message_page("Bad request", text, status_code=error.status_code or 400)


def _sign_in_url(request: Request) -> str:
    """The hosted sign-in page, returning to this authorize request (without `prompt=login`)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "prompt"]
    back = f"{request.url.path}?{urlencode(query)}"
    return "/login/login.htm?" + urlencode({"fromURI": back})


Handler = Callable[[Request], Awaitable[Response]]


def _endpoints(name: str) -> dict[str, Handler]:
    async def discovery(request: Request) -> Response:
        p = provider(request)
        body = metadata(p.issuer(request, name), p.org_url(request) + SERVERS[name][1])
        if name == "org":  # OAuth 2.0 service apps: client credentials, private_key_jwt, DPoP
            body["grant_types_supported"] = [*body["grant_types_supported"], "client_credentials"]
            body["token_endpoint_auth_methods_supported"].append("private_key_jwt")
            body["dpop_signing_alg_values_supported"] = list(DPOP_ALGS)
        return JSONResponse(body, headers={"Cache-Control": "max-age=86400"})

    async def authorize(request: Request) -> Response:
        p = provider(request)
        server = p.servers[name]
        req = await read_request(request, p.issuer(request, name))
        found = p.state.session(req.sid)
        forced = "login" in req.payload.data.get("prompt", "").split()
        user = None if forced or found is None else found[1]
        try:
            grant = server.get_consent_grant(req, end_user=user)
        except OAuth2Error as error:
            return server.error_response(req, error) if error.redirect_uri else _error_page(error)
        if user is None or found is None:
            return RedirectResponse(_sign_in_url(request), status_code=302)
        if not p.assigned(grant.client, user.id):
            denied = AccessDeniedError(
                "User is not assigned to the client application.", redirect_uri=grant.redirect_uri
            )
            denied.state = req.payload.state
            return server.error_response(req, denied)
        req.auth_time = found[0].auth_time
        response: Response = server.create_authorization_response(req, grant_user=user, grant=grant)
        return response

    async def token(request: Request) -> Response:
        p = provider(request)
        if name == "org" and (await request.form()).get("grant_type") == "client_credentials":
            return await client_credentials(p.emulator, request, p.issuer(request, name))  # service apps
        req = await read_request(request, p.issuer(request, name))
        response: Response = p.servers[name].create_token_response(req)
        return response

    async def userinfo(request: Request) -> Response:
        p = provider(request)
        server = p.servers[name]
        req = await read_request(request, p.issuer(request, name))
        try:
            issued = server.bearer_token(req, ["openid"])
        except OAuth2Error as error:
            return server.handle_response(*error())
        user = p.emulator.org.state.users.get(issued.user_id)
        if user is None or user.status != "ACTIVE":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(dict(user_claims(user, issued.scope)))

    async def keys(request: Request) -> Response:
        return JSONResponse(provider(request).state.jwks(name), headers={"Cache-Control": "max-age=3600"})

    async def logout(request: Request) -> Response:
        """RP-initiated logout: ends this browser's Okta session (Okta requires `id_token_hint`)."""
        p = provider(request)
        server = p.servers[name]
        req = await read_request(request, p.issuer(request, name))
        data = req.payload.data
        if not data.get("id_token_hint"):
            return message_page("Bad request", "The 'id_token_hint' parameter is required.", status_code=400)
        try:
            validated = server.validate_endpoint_request("end_session", req)
        except OAuth2Error as error:
            return _error_page(error)
        if data.get("post_logout_redirect_uri") and validated.redirect_uri is None:
            text = (
                "The 'post_logout_redirect_uri' parameter must be a Logout redirect URI "
                "in the client app settings."
            )
            return message_page("Bad request", text, status_code=400)
        response: Response = server.create_endpoint_response("end_session", validated) or RedirectResponse(
            "/login/signout", status_code=302
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return {
        "discovery": discovery,
        "authorize": authorize,
        "token": token,
        "userinfo": userinfo,
        "keys": keys,
        "logout": logout,
    }


def oidc_routes() -> list[Route]:
    routes: list[Route] = []
    for name, (issuer_path, prefix) in SERVERS.items():
        handlers = _endpoints(name)
        for doc in ("openid-configuration", "oauth-authorization-server"):
            routes.append(Route(f"{issuer_path}/.well-known/{doc}", handlers["discovery"], methods=["GET"]))
        routes += [
            Route(f"{prefix}/authorize", handlers["authorize"], methods=["GET"]),
            Route(f"{prefix}/token", handlers["token"], methods=["POST"]),
            Route(f"{prefix}/userinfo", handlers["userinfo"], methods=["GET", "POST"]),
            Route(f"{prefix}/keys", handlers["keys"], methods=["GET"]),
            Route(f"{prefix}/logout", handlers["logout"], methods=["GET", "POST"]),
        ]
    return routes
