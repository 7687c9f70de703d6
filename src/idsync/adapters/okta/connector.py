"""The Okta connector: the `IdentityProvider` port over Okta's Management API.

Built with an injected transport (the governor wraps whatever reaches the network), so every
call is paced and retried by one governor per IdP.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from idsync.adapters.governed import IDEMPOTENT
from idsync.adapters.http import close_clients, governed_clients
from idsync.adapters.okta.buckets import okta_route
from idsync.adapters.okta.errors import okta_error
from idsync.adapters.okta.oauth import OAuthCredentials, ServiceTokens
from idsync.adapters.okta.oauth_http import OAuthAuth, OAuthStamp
from idsync.domain.links import IdpStatus
from idsync.domain.models import Lane
from idsync.engine.governor import Governor
from idsync.errors import IllegalTransition, InvalidRequest, NotFound
from idsync.ports import Activation, IdpUser, OidcApp

if TYPE_CHECKING:
    from idsync.adapters.okta.idsource import OktaIdentitySource

USER_AGENT = "idsync/0.1 (+https://github.com/idsync/idsync)"


def okta_literal(value: str) -> str:
    """A string literal for Okta's filter/search grammar: double-quoted with JSON escapes (the
    SCIM filter grammar Okta's follows), so quotes and backslashes in a login stay data."""
    return json.dumps(value, ensure_ascii=False)


def okta_user(body: Mapping[str, Any]) -> IdpUser:
    profile = body.get("profile") or {}
    return IdpUser(
        id=body["id"],
        login=profile.get("login", ""),
        status=IdpStatus(body["status"]),
        profile=profile,
        last_updated=body.get("lastUpdated"),
    )


_user = okta_user  # the name adapters/okta/inbound.py imports


@lru_cache(maxsize=256)
def _absolute_url(base: str, path: str, query: tuple[tuple[str, str], ...]) -> httpx.URL:
    """The whole URL of a call, parsed once for every create of an import (same path, same
    query): httpx parses a relative URL three times a request, its merge with the base included."""
    return httpx.URL(base + path, params=query or None)


class OktaConnector:
    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        governor: Governor,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        oauth: OAuthCredentials | None = None,
    ) -> None:
        self.name = name
        self.governor = governor
        self._base = base_url.rstrip("/")  # as governed_clients gives it to the clients
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        auth: httpx.Auth | None = None
        wrap = None
        self.tokens: ServiceTokens | None = None
        if oauth is None:
            headers["Authorization"] = f"SSWS {token}"
        else:  # an OAuth 2.0 service app (oauth.py); its token requests bypass the governor
            tokens = self.tokens = ServiceTokens(
                base_url,
                oauth,
                provider=name,
                transport=transport,
                timeout_s=timeout_s,
                user_agent=USER_AGENT,
            )
            auth = OAuthAuth(tokens)

            def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
                return OAuthStamp(inner, tokens)

        self._clients = governed_clients(
            base_url,
            governor,
            okta_route,
            headers=headers,
            timeout_s=timeout_s,
            transport=transport,
            wrap=wrap,
            auth=auth,
        )
        self._client = self._clients[Lane.BULK]

    def for_lane(self, lane: Lane) -> OktaConnector:
        """This connector with its calls paced in `lane` (ports.IdentityProvider)."""
        view = copy.copy(self)
        view._client = self._clients[lane]
        return view

    async def aclose(self) -> None:
        await close_clients(self._clients)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        extensions = {IDEMPOTENT: idempotent} if idempotent is not None else None
        if path.startswith("/") and "?" not in path:  # an API path: the client's base + path
            url = _absolute_url(self._base, path, tuple(params.items()) if params else ())
            response = await self._client.request(method, url, json=body, extensions=extensions)
        else:
            # `params or None`: httpx drops a URL's whole query string when given empty params, and
            # a `next` link carries its cursor in the query.
            response = await self._client.request(
                method, path, params=params or None, json=body, extensions=extensions
            )
        if response.status_code >= 400:
            raise okta_error(self.name, response)
        return response

    send = _call  # for the connector's companions (idsource.py): same client, lane and errors

    def identity_source(self, source_id: str) -> OktaIdentitySource:
        """Bulk import sessions of an identity source, through this IdP's bulk-lane client."""
        from idsync.adapters.okta.idsource import OktaIdentitySource

        return OktaIdentitySource(self.for_lane(Lane.BULK), source_id)

    async def read_raw(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        """A GET answered as it is, errors included (`idsync doctor` reads statuses and headers)."""
        return await self._client.get(path, params=params or None)

    # ---- users -------------------------------------------------------------------------------

    async def create_user(self, profile: Mapping[str, Any], *, activate: bool) -> IdpUser:
        r = await self._call(
            "POST",
            "/api/v1/users",
            params={"activate": str(activate).lower()},
            body={"profile": dict(profile)},
        )
        return okta_user(r.json())

    async def find_user(self, login: str) -> IdpUser | None:
        """By login through GET /users/{login} (Okta counts it in the larger lookup bucket). Okta also
        matches ids and login short names there, so the answer must carry exactly this login."""
        if "/" in login or login.startswith("00u") or len(login) < 5:
            return await self._search_login(login)
        try:
            r = await self._call("GET", f"/api/v1/users/{quote(login, safe='@')}")
        except NotFound:
            return None
        user = okta_user(r.json())
        return user if user.login.lower() == login.lower() else await self._search_login(login)

    async def _search_login(self, login: str) -> IdpUser | None:
        r = await self._call(
            "GET", "/api/v1/users", params={"search": f"profile.login eq {okta_literal(login)}"}
        )
        for body in r.json():
            user = okta_user(body)
            if user.login.lower() == login.lower():
                return user
        return None

    async def get_user(self, idp_id: str) -> IdpUser | None:
        try:
            r = await self._call("GET", f"/api/v1/users/{quote(idp_id, safe='')}")
        except NotFound:
            return None
        return okta_user(r.json())

    async def update_user(self, idp_id: str, profile: Mapping[str, Any]) -> IdpUser:
        # POST is Okta's partial update; it sets the same values again when repeated.
        r = await self._call(
            "POST",
            f"/api/v1/users/{quote(idp_id, safe='')}",
            body={"profile": dict(profile)},
            idempotent=True,
        )
        return okta_user(r.json())

    async def activate_user(self, idp_id: str, *, send_email: bool) -> Activation:
        r = await self._call(
            "POST",
            f"/api/v1/users/{quote(idp_id, safe='')}/lifecycle/activate",
            params={"sendEmail": str(send_email).lower()},
        )
        body = r.json() if r.content else {}
        return Activation(
            activation_url=body.get("activationUrl"), activation_token=body.get("activationToken")
        )

    async def deactivate_user(self, idp_id: str) -> None:
        try:
            await self._call(
                "POST", f"/api/v1/users/{quote(idp_id, safe='')}/lifecycle/deactivate", idempotent=True
            )
        except IllegalTransition:
            return  # already deprovisioned

    async def delete_user(self, idp_id: str, *, deprovisioned: bool) -> None:
        """Okta deletes only DEPROVISIONED users; on any other the first DELETE deactivates."""
        path = f"/api/v1/users/{quote(idp_id, safe='')}"
        try:
            await self._call("DELETE", path)
            if not deprovisioned:
                await self._call("DELETE", path)
        except NotFound:
            return

    async def list_users(
        self, *, page_size: int = 100, updated_since: str | None = None
    ) -> AsyncIterator[IdpUser]:
        params: dict[str, str] = {"limit": str(page_size)}
        if updated_since:
            params["filter"] = f"lastUpdated gt {okta_literal(updated_since)}"
        else:
            # The plain list omits DEPROVISIONED users; a filter naming every status returns all.
            params["filter"] = " or ".join(f'status eq "{s.value}"' for s in IdpStatus)
        url: str | None = "/api/v1/users"
        while url:
            r = await self._call("GET", url, params=params)
            for body in r.json():
                yield okta_user(body)
            next_link = r.links.get("next", {}).get("url")
            url, params = (next_link, {}) if next_link else (None, {})

    # ---- OpenID Connect apps (portals) -------------------------------------------------------

    async def create_oidc_app(self, label: str, redirect_uris: list[str], *, base_url: str = "") -> OidcApp:
        body = {
            "name": "oidc_client",
            "label": label,
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}},
            "settings": {
                "oauthClient": {
                    "redirect_uris": redirect_uris,
                    "response_types": ["code"],
                    "grant_types": ["authorization_code"],
                    "application_type": "web",
                    **({"initiate_login_uri": base_url} if base_url.startswith("https://") else {}),
                    **({"post_logout_redirect_uris": [base_url]} if base_url else {}),
                }
            },
        }
        r = await self._call("POST", "/api/v1/apps", params={"activate": "true"}, body=body)
        return _app(r.json())

    async def list_oidc_apps(self, q: str | None = None) -> list[OidcApp]:
        """Every OIDC app; with `q`, those whose name or label starts with it (Okta's `q`)."""
        apps: list[OidcApp] = []
        url: str | None = "/api/v1/apps"
        params: dict[str, str] = {"limit": "200", **({"q": q} if q else {})}
        while url:
            r = await self._call("GET", url, params=params)
            apps.extend(_app(a) for a in r.json() if a.get("signOnMode") == "OPENID_CONNECT")
            next_link = r.links.get("next", {}).get("url")
            url, params = (next_link, {}) if next_link else (None, {})
        return apps

    async def update_oidc_app(self, app_id: str, redirect_uris: list[str], *, base_url: str = "") -> OidcApp:
        """New redirect URIs (and login URI) for an app: Okta's PUT replaces the whole app, so
        the current one is read and sent back changed; the client keeps its id and secret."""
        path = f"/api/v1/apps/{quote(app_id, safe='')}"
        body = (await self._call("GET", path)).json()
        client = body.setdefault("settings", {}).setdefault("oauthClient", {})
        client["redirect_uris"] = redirect_uris
        if base_url.startswith("https://"):
            client["initiate_login_uri"] = base_url
        if base_url:
            client["post_logout_redirect_uris"] = [base_url]
        for read_only in ("_links", "_embedded", "created", "lastUpdated", "id", "status"):
            body.pop(read_only, None)
        r = await self._call("PUT", path, body=body, idempotent=True)
        return _app(r.json())

    async def assign_groups(self, app_id: str, group_names: list[str]) -> list[str]:
        """PUT /apps/{app}/groups/{group} for each named group: idempotent (Okta answers 200 for an
        assignment that exists). A name that matches no group is an error naming it."""
        ids = []
        for name in group_names:
            r = await self._call("GET", "/api/v1/groups", params={"q": name, "limit": "200"})
            match = [g["id"] for g in r.json() if (g.get("profile") or {}).get("name") == name]
            if not match:
                raise InvalidRequest(
                    f"{self.name}: no group named {name!r} to assign to the portal app", provider=self.name
                )
            await self._call(
                "PUT",
                f"/api/v1/apps/{quote(app_id, safe='')}/groups/{quote(match[0], safe='')}",
                body={},
                idempotent=True,
            )
            ids.append(match[0])
        return ids


def _app(body: Mapping[str, Any]) -> OidcApp:
    oauth = (body.get("credentials") or {}).get("oauthClient") or {}
    settings = ((body.get("settings") or {}).get("oauthClient")) or {}
    return OidcApp(
        id=body["id"],
        label=body.get("label", ""),
        client_id=oauth.get("client_id", ""),
        redirect_uris=tuple(settings.get("redirect_uris") or ()),
        client_secret=oauth.get("client_secret"),
    )
