"""OpenID Connect for the emulator on Authlib's authorization server (no hand-written protocol).

Authlib does the protocol: request validation, redirect-URI and client checks, client
authentication (`client_secret_basic`, `client_secret_post`, `none`), the authorization code
grant, PKCE (RFC 7636), ID tokens (signed by joserfc), bearer tokens and RP-initiated logout.
This module only wires it to the org: clients, requests and claims come from `oidc_adapters`,
codes/tokens/sessions live in `OidcState`.

One `OktaAuthorizationServer` per Okta authorization server: `org` (issuer = the org URL,
`/oauth2/v1/...`) and `default` (issuer = `{org}/oauth2/default`), each with its own key.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.resource_protector import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from starlette.responses import Response

from idsync.emulator.okta.groups_claim import groups_claim
from idsync.emulator.okta.models import UserRecord
from idsync.emulator.okta.oidc_adapters import SCOPES, EmulatorRequest, OktaClient, user_claims
from idsync.emulator.okta.oidc_state import TOKEN_LIFETIME_S, AuthCode, IssuedToken, OidcState

__all__ = ["OktaAuthorizationServer"]


class _Pkce(CodeChallenge):  # type: ignore[misc]
    """Okta's PKCE: S256 only, the method must be named, and some clients must use it."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") and grant.request.client.pkce_required:
            raise InvalidRequestError("PKCE code challenge is required by this client application.")
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            raise InvalidRequestError("'code_challenge_method' is required, and must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: OktaAuthorizationServer

    def save_authorization_code(self, code: str, request: EmulatorRequest) -> None:
        data = request.payload.data
        self.server.state.new_code(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=data["redirect_uri"],
            scope=request.scope,
            user_id=request.user.id,
            issuer=request.issuer,
            auth_time=request.auth_time or self.server.state.org.now(),
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: OktaClient) -> AuthCode | None:
        found = self.server.state.take_code(code, client.get_client_id())
        return found if found is not None and found.issuer == self.request.issuer else None

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        self.server.state.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthCode) -> UserRecord | None:
        user = self.server.state.org.state.users.get(authorization_code.user_id)
        return user if user is not None and user.status == "ACTIVE" else None


class _OpenIdCode(OpenIDCode):  # type: ignore[misc]
    """ID tokens as Okta's: RS256 with the server's `kid`, `ver`, `jti`, `idp`, `amr`, `auth_time`."""

    def __init__(self, server: OktaAuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: EmulatorRequest) -> bool:
        client_id = request.payload.client_id
        return any(c.nonce == nonce and c.client_id == client_id for c in self.server.state.codes.values())

    def resolve_client_private_key(self, client: OktaClient) -> Any:
        return self.server.key()

    def get_client_algorithm(self, client: OktaClient) -> str:
        return "RS256"

    def get_encode_header(self, client: OktaClient) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.server.key().kid or ""}

    def get_compatible_claims(self, request: EmulatorRequest) -> dict[str, Any]:
        org = self.server.state.org
        now = int(org.now())
        claims: dict[str, Any] = {
            "ver": 1,
            "jti": "ID." + secrets.token_urlsafe(32),
            "iss": request.issuer,
            "aud": request.client.get_client_id(),
            "iat": now,
            "exp": now + 3600,
            "idp": org.state.meta.get("org_id", ""),
        }
        # The app's groups claim: org authorization server, ID tokens, `groups` scope asked for.
        code = request.authorization_code
        if self.server.name == "org" and code is not None and "groups" in code.get_scope().split():
            found = groups_claim(org, request.client.app, request.user.id)
            if found is not None:
                claims[found[0]] = found[1]
        return claims

    def generate_user_info(self, user: UserRecord, scope: str) -> UserInfo:
        return user_claims(user, scope)


class _EndSession(EndSessionEndpoint):  # type: ignore[misc]
    server: OktaAuthorizationServer

    def get_server_jwks(self) -> dict[str, Any]:
        return self.server.state.jwks(self.server.name)

    def end_session(self, end_session_request: Any) -> None:
        request: EmulatorRequest = end_session_request.request
        self.server.state.end_session(request.sid)


class _TokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, server: OktaAuthorizationServer) -> None:
        super().__init__()
        self.server = server
        self.issuer = ""

    def authenticate_token(self, token_string: str) -> IssuedToken | None:
        return self.server.state.find_token(token_string, self.issuer)


class OktaAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server for one Okta authorization server (`org` or `default`)."""

    def __init__(self, name: str, state: OidcState) -> None:
        super().__init__(scopes_supported=SCOPES)
        self.name = name
        self.state = state
        generator = BearerTokenGenerator(
            access_token_generator=lambda **_: secrets.token_urlsafe(48),
            expires_generator=lambda client, grant_type: int(TOKEN_LIFETIME_S),
        )
        self.register_token_generator("default", generator)
        self.register_grant(_CodeGrant, [_Pkce(required=True), _OpenIdCode(self)])
        self.register_endpoint(_EndSession)
        self._validator = _TokenValidator(self)
        self.protector = ResourceProtector()
        self.protector.register_token_validator(self._validator)

    def key(self) -> Any:
        return self.state.signing_key(self.name)

    def query_client(self, client_id: str) -> OktaClient | None:
        for app in self.state.org.state.apps.values():
            oauth = app.body.get("credentials", {}).get("oauthClient", {})
            if app.body.get("signOnMode") == "OPENID_CONNECT" and oauth.get("client_id") == client_id:
                return OktaClient(app) if app.status == "ACTIVE" else None
        return None

    def save_token(self, token: dict[str, Any], request: EmulatorRequest) -> None:
        self.state.save_token(
            IssuedToken(
                access_token=token["access_token"],
                client_id=request.client.get_client_id(),
                user_id=request.user.id,
                scope=token.get("scope", ""),
                issuer=request.issuer,
                expires_at=self.state.org.now() + float(token["expires_in"]),
            )
        )

    def bearer_token(self, request: EmulatorRequest, scopes: list[str]) -> IssuedToken:
        """The valid access token of the request (raises Authlib's OAuth2Error otherwise)."""
        self._validator.issuer = request.issuer
        token: IssuedToken = self.protector.validate_request(scopes, request)
        return token

    def create_oauth2_request(self, request: Any) -> EmulatorRequest:
        if not isinstance(request, EmulatorRequest):
            raise TypeError("the emulator reads each request into an EmulatorRequest first")
        return request

    def error_response(self, request: EmulatorRequest, error: OAuth2Error) -> Response:
        """Authlib's answer to `error`: a redirect to the client when its redirect URI is known."""
        response: Response = self.handle_error_response(request, error)
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def handle_response(self, status: int, body: Any, headers: Sequence[tuple[str, str]]) -> Response:
        content = json.dumps(body) if isinstance(body, dict) else body
        return Response(content, status_code=status, headers=dict(headers))
