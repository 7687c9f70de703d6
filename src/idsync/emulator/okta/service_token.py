"""`POST /oauth2/v1/token` with `grant_type=client_credentials`: tokens for OAuth 2.0 service apps.

Okta's rules ("Implement OAuth for Okta with a service app", "Configure OAuth 2.0 DPoP"):
- the client authenticates with `private_key_jwt`: a JWT signed by a key of the app's `jwks`
  (picked by `kid`), `iss` = `sub` = client id, `aud` = this token endpoint, `exp` at most an
  hour ahead, an optional `jti` that may not be used twice;
- an app with `dpop_bound_access_tokens` must send a `DPoP` proof; every proof must carry the
  server's nonce (first answer: 400 `use_dpop_nonce` with a `DPoP-Nonce` header);
- only Okta API scopes granted to the app (`/api/v1/apps/{id}/grants`) go into the token; none
  of them: 400 `consent_required`.

Why not Authlib's `JWTBearerClientAssertion`: Authlib has no DPoP and its error texts are not
Okta's; the JOSE work is joserfc's either way. Texts marked UNVERIFIED in docs/emulator.md.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import JSONResponse

from idsync.emulator.okta.access_tokens import ACCESS_TOKEN_LIFETIME_S, service_auth
from idsync.emulator.okta.clock import http_date
from idsync.emulator.okta.dpop import DPoPError, verify_proof
from idsync.emulator.okta.models import AppRecord
from idsync.emulator.okta.routes_grants import client_id_of, granted_scopes
from idsync.emulator.okta.scopes import scope_table

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator

__all__ = ["client_credentials"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LEEWAY_S = 60.0
MAX_ASSERTION_LIFETIME_S = 3600.0
_SIGNING_ALGS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]


class _Refused(Exception):
    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.headers = headers or {}


def _client(description: str) -> _Refused:
    return _Refused(401, "invalid_client", description)


def _unverified_subject(assertion: str) -> str:
    """The client id the assertion claims to come from (checked against its signature later)."""
    try:
        payload = json.loads(jws.extract_compact(assertion.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeEncodeError) as exc:
        raise _client("The client_assertion is not a valid JWT.") from exc
    subject = payload.get("sub") if isinstance(payload, dict) else None
    if not isinstance(subject, str) or not subject:
        raise _client("The client_assertion has no subject ('sub').")
    return subject


def _find_client(emu: Emulator, client_id: str) -> AppRecord:
    for app in emu.org.state.apps.values():
        oidc = app.body.get("signOnMode") == "OPENID_CONNECT"
        if oidc and app.status == "ACTIVE" and client_id_of(app) == client_id:
            return app
    raise _client("Invalid value for 'client_id' parameter.")


def _public_keys(app: AppRecord) -> list[dict[str, Any]]:
    jwks = (app.body.get("settings", {}).get("oauthClient") or {}).get("jwks") or {}
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    return [k for k in keys or [] if isinstance(k, dict) and k.get("status", "ACTIVE") == "ACTIVE"]


def _assertion_claims(emu: Emulator, app: AppRecord, assertion: str, audience: str) -> dict[str, Any]:
    """The verified claims of the client assertion (signature, kid, iss/sub, aud, exp, iat, jti)."""
    header = jws.extract_compact(assertion.encode("ascii")).headers()
    keys = _public_keys(app)
    kid = header.get("kid")
    chosen = [k for k in keys if k.get("kid") == kid] if kid else (keys if len(keys) == 1 else [])
    if not chosen:
        raise _client("The client_assertion JWT kid is invalid.")
    try:
        keys_set = KeySet.import_key_set({"keys": chosen})
        claims = jwt.decode(assertion, keys_set, algorithms=_SIGNING_ALGS).claims
    except (JoseError, ValueError) as exc:
        raise _client("The client_assertion signature is invalid.") from exc
    client_id = client_id_of(app)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _client("The issuer and subject claims of the client_assertion must be the client_id.")
    aud = claims.get("aud")
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise _client("The audience claim for client_assertion must be the endpoint invoked for the request.")
    now = emu.clock.now()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise _client("The client_assertion token must have an expiration ('exp').")
    if exp <= now - LEEWAY_S:
        raise _client("The client_assertion token is expired.")
    if exp > now + MAX_ASSERTION_LIFETIME_S + LEEWAY_S:
        raise _client("The client_assertion token has an expiration too far into the future.")
    if isinstance(iat, int | float) and iat > now + LEEWAY_S:
        raise _client("The client_assertion token was issued in the future ('iat').")
    jti = claims.get("jti")
    if isinstance(jti, str) and service_auth(emu).assertions.used(f"{client_id}:{jti}", now):
        raise _client("The client_assertion token has already been used ('jti').")
    return claims


def _dpop_jkt(emu: Emulator, app: AppRecord, request: Request, token_url: str) -> str | None:
    """The key thumbprint to bind the token to, or None for a Bearer token."""
    required = bool((app.body.get("settings", {}).get("oauthClient") or {}).get("dpop_bound_access_tokens"))
    proof_jwt = request.headers.get("dpop")
    if not proof_jwt:
        if required:
            raise _Refused(400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
        return None
    auth, now = service_auth(emu), emu.clock.now()
    try:
        proof = verify_proof(proof_jwt, method="POST", urls=(token_url, str(request.url)), now=now)
    except DPoPError as exc:
        raise _Refused(400, "invalid_dpop_proof", str(exc)) from exc
    if not auth.nonces.valid(proof.nonce, now):
        raise _Refused(
            400,
            "use_dpop_nonce",
            "Authorization server requires nonce in DPoP proof.",
            {"DPoP-Nonce": auth.nonces.current(now)},
        )
    if auth.proofs.used(proof.jti, now):
        raise _Refused(400, "invalid_dpop_proof", "The DPoP proof JWT has already been used ('jti').")
    auth.proofs.remember(proof.jti, proof.iat + 600, now)
    return proof.jkt


def _scopes(emu: Emulator, app: AppRecord, requested: str) -> list[str]:
    wanted = requested.split()
    if not wanted:
        raise _Refused(
            400,
            "invalid_scope",
            "The authorization server resource does not have any configured default scopes, "
            "'scope' must be provided.",
        )
    if any(s not in scope_table().known for s in wanted):
        raise _Refused(400, "invalid_scope", "Custom scopes are not allowed for this request.")
    granted = sorted(set(wanted) & granted_scopes(emu.org, client_id_of(app)))
    if not granted:
        raise _Refused(400, "consent_required", "You are not allowed any of the requested scopes.")
    return granted  # Okta leaves out requested scopes that were not granted


async def client_credentials(emu: Emulator, request: Request, issuer: str) -> JSONResponse:
    """The answer of the org authorization server to a client credentials token request."""
    form = await request.form()
    token_url = f"{issuer}/oauth2/v1/token"
    now = emu.clock.now()
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache", "Date": http_date(now)}
    try:
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not isinstance(assertion, str):
            raise _client(
                "Client authentication failed. Either the client or the client credentials are invalid."
            )
        app = _find_client(emu, _unverified_subject(assertion))
        oauth = app.body.get("credentials", {}).get("oauthClient") or {}
        if oauth.get("token_endpoint_auth_method") != "private_key_jwt":
            raise _client("The client is not configured for private_key_jwt client authentication.")
        settings = app.body.get("settings", {}).get("oauthClient") or {}
        if "client_credentials" not in (settings.get("grant_types") or []):
            raise _Refused(
                400, "unauthorized_client", "The client is not authorized to use the provided grant type."
            )
        claims = _assertion_claims(emu, app, assertion, token_url)
        jkt = _dpop_jkt(emu, app, request, token_url)
        scopes = _scopes(emu, app, str(form.get("scope") or ""))
    except _Refused as refused:
        error = {"error": refused.error, "error_description": refused.description}
        return JSONResponse(error, status_code=refused.status, headers={**headers, **refused.headers})
    auth = service_auth(emu)
    if isinstance(claims.get("jti"), str):
        auth.assertions.remember(f"{client_id_of(app)}:{claims['jti']}", float(claims["exp"]) + LEEWAY_S, now)
    token = auth.mint(issuer, client_id_of(app), scopes, jkt)
    body: dict[str, str | int] = {
        "token_type": "DPoP" if jkt else "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME_S,
        "access_token": token,
        "scope": " ".join(scopes),
    }
    return JSONResponse(body, headers=headers)
