"""Driving the emulator's sign-in without a browser: an httpx client that keeps the `sid` cookie,
plus helpers to make a user with a password and an OIDC app, and to run one code flow."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from idsync.emulator.okta import EmulatorSettings, create_app
from idsync.emulator.okta.clock import Clock

ORG = "http://127.0.0.1:8089"  # loopback: Authlib accepts http:// there only
TOKEN = "oidc-test-token"
REDIRECT = "http://127.0.0.1:9000/callback"
AFTER_LOGOUT = "http://127.0.0.1:9000/bye"
PASSWORD = "Correct-Horse-7"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class App:
    id: str
    client_id: str
    client_secret: str | None


@dataclass
class Tokens:
    id_token: str
    access_token: str
    claims: dict[str, Any]
    body: dict[str, Any]


class Org:
    """One emulated org reached in-process (ASGI), as a browser and an admin would."""

    def __init__(self, clock: Clock, **settings: Any) -> None:
        self.app = create_app(EmulatorSettings(token=TOKEN, **settings), clock=clock)
        transport = httpx.ASGITransport(app=self.app)
        self.browser = httpx.AsyncClient(transport=transport, base_url=ORG)
        self.api = httpx.AsyncClient(
            transport=transport, base_url=ORG, headers={"Authorization": f"SSWS {TOKEN}"}
        )

    async def aclose(self) -> None:
        await self.browser.aclose()
        await self.api.aclose()

    async def user(self, login: str, *, password: str | None = PASSWORD) -> dict[str, Any]:
        """A user activated through the activation link, with `password` set there."""
        profile = {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"}
        r = await self.api.post("/api/v1/users", params={"activate": "false"}, json={"profile": profile})
        user: dict[str, Any] = r.raise_for_status().json()
        r = await self.api.post(
            f"/api/v1/users/{user['id']}/lifecycle/activate", params={"sendEmail": "false"}
        )
        link = r.raise_for_status().json()["activationUrl"]
        if password is not None:
            page = await self.browser.post(
                urlsplit(link).path, data={"password": password, "confirm": password}
            )
            assert page.status_code == 200, page.text
        return user

    async def oidc_app(self, *, auth: str = "client_secret_basic", assign: bool = True, **oauth: Any) -> App:
        body = {
            "name": "oidc_client",
            "label": "portal",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"token_endpoint_auth_method": auth, **oauth}},
            "settings": {
                "oauthClient": {
                    "redirect_uris": [REDIRECT],
                    "post_logout_redirect_uris": [AFTER_LOGOUT],
                    "response_types": ["code"],
                    "grant_types": ["authorization_code"],
                    "application_type": "web" if auth != "none" else "browser",
                }
            },
        }
        app = (await self.api.post("/api/v1/apps", json=body)).raise_for_status().json()
        if assign:
            everyone = (await self.api.get("/api/v1/groups", params={"q": "Everyone"})).json()[0]["id"]
            (await self.api.put(f"/api/v1/apps/{app['id']}/groups/{everyone}")).raise_for_status()
        oauth_client = app["credentials"]["oauthClient"]
        return App(app["id"], oauth_client["client_id"], oauth_client.get("client_secret"))

    def authorize_url(self, app: App, *, prefix: str = "/oauth2/v1", **extra: str) -> tuple[str, str, str]:
        """(url, state, code_verifier) of a code + PKCE request."""
        verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(8)
        params = {
            "client_id": app.client_id,
            "response_type": "code",
            "scope": "openid profile email",
            "redirect_uri": REDIRECT,
            "state": state,
            "nonce": "n-" + state,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{prefix}/authorize?{urlencode(params)}", state, verifier

    async def sign_in(self, authorize: str, login: str, password: str = PASSWORD) -> httpx.Response:
        """Follow authorize to the sign-in page and submit it; the answer of the authorize retry."""
        r = await self.browser.get(authorize)
        assert r.status_code == 302 and r.headers["location"].startswith("/login/login.htm"), r.text
        from_uri = query(r.headers["location"])["fromURI"]
        r = await self.browser.post(
            "/login/login.htm", data={"username": login, "password": password, "fromURI": from_uri}
        )
        assert r.status_code == 302, r.text
        return await self.browser.get(r.headers["location"])

    async def tokens(self, app: App, code: str, verifier: str, *, prefix: str = "/oauth2/v1") -> Tokens:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        data["code_verifier"] = verifier
        auth = (app.client_id, app.client_secret) if app.client_secret else None
        if auth is None:
            data["client_id"] = app.client_id
        r = await self.browser.post(f"{prefix}/token", data=data, auth=auth or httpx.USE_CLIENT_DEFAULT)
        assert r.status_code == 200, r.text
        body = r.json()
        keys = KeySet.import_key_set((await self.browser.get(f"{prefix}/keys")).json())
        claims = jwt.decode(body["id_token"], keys, algorithms=["RS256"]).claims
        return Tokens(body["id_token"], body["access_token"], claims, body)

    async def sessions(self, login: str | None = None) -> list[dict[str, Any]]:
        params = {"login": login} if login else {}
        result: list[dict[str, Any]] = (await self.browser.get("/__emulator/sessions", params=params)).json()
        return result
