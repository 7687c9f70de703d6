"""Authlib's view of the emulated org: requests read once from Starlette, apps as clients, claims.

Why separate from `oidc_server`: these adapters are the only place that knows both Authlib's
interfaces (`OAuth2Request`, `ClientMixin`, `UserInfo`) and the emulator's records
(`AppRecord`, `UserRecord`); the server module only wires Authlib's grants together.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oidc.core import UserInfo

from idsync.emulator.okta.models import AppRecord, UserRecord

__all__ = ["SCOPES", "EmulatorRequest", "OktaClient", "user_claims"]

SCOPES = ["openid", "profile", "email", "address", "phone", "offline_access", "groups"]


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._list: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._data.setdefault(key, value)
            self._list[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._list


class EmulatorRequest(OAuth2Request):  # type: ignore[misc]
    """A request read once from Starlette (query + form), plus what the emulator knows of it."""

    def __init__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        query: Sequence[tuple[str, str]],
        form: Sequence[tuple[str, str]],
        *,
        issuer: str,
        sid: str | None = None,
    ) -> None:
        super().__init__(method, url, headers=headers)
        self.payload = _Payload([*query, *form])
        self._args = dict(query)
        self._form = dict(form)
        self.issuer = issuer
        self.sid = sid
        self.auth_time: float | None = None

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class OktaClient(ClientMixin):  # type: ignore[misc]
    """An ACTIVE OpenID Connect app of the org, as Authlib sees a client."""

    def __init__(self, app: AppRecord) -> None:
        self.app = app
        self.oauth: dict[str, Any] = app.body["credentials"]["oauthClient"]
        self.settings: dict[str, Any] = app.body["settings"]["oauthClient"]
        self.client_id: str = self.oauth["client_id"]
        self.auth_method: str = self.oauth.get("token_endpoint_auth_method", "client_secret_basic")
        self.client_metadata = {
            "post_logout_redirect_uris": list(self.settings.get("post_logout_redirect_uris") or [])
        }

    @property
    def pkce_required(self) -> bool:
        return self.auth_method == "none" or bool(self.oauth.get("pkce_required"))

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # Okta requires `redirect_uri` on every authorize request

    def get_allowed_scope(self, scope: str | None) -> str | None:
        scopes = (scope or "").split()
        return " ".join(scopes) if "openid" in scopes else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.settings.get("redirect_uris") or [])

    def check_client_secret(self, client_secret: str) -> bool:
        secret = self.app.client_secret
        return secret is not None and hmac.compare_digest(secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return set(response_type.split()) <= set(self.settings.get("response_types") or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.settings.get("grant_types") or [])


def user_claims(user: UserRecord, scope: str) -> UserInfo:
    """The standard claims of `user` that `scope` allows (OIDC Core 5.4)."""
    profile = user.profile
    first, last = profile.get("firstName") or "", profile.get("lastName") or ""
    claims = UserInfo(
        sub=user.id,
        name=f"{first} {last}".strip(),
        given_name=first,
        family_name=last,
        preferred_username=user.login,
        locale=profile.get("locale") or "en_US",
        zoneinfo=profile.get("timezone") or "America/Los_Angeles",
        updated_at=int(user.last_updated),
        email=user.email,
        email_verified=user.status == "ACTIVE",
    )
    return claims.filter(scope)
