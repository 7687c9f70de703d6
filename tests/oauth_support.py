"""OAuth 2.0 service apps for tests: keys, registering an app with the emulator, hand-made JWTs.

Apps are registered the way an Okta admin would over the Management API (`POST /api/v1/apps`,
`POST /api/v1/apps/{id}/grants`, with the API token); the JWTs are built with joserfc so the
emulator's tests can also send what a broken client would (a replayed jti, a wrong key).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from idsync.emulator.okta.dpop import access_token_hash

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class ServiceKey:
    kid: str
    key: RSAKey | ECKey

    @property
    def pem(self) -> str:
        return self.key.as_pem(private=True).decode()

    @property
    def public_jwk(self) -> dict[str, Any]:
        alg = "RS256" if isinstance(self.key, RSAKey) else "ES256"
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": alg, "use": "sig"}


def new_key(kid: str = "k1", kind: str = "RSA") -> ServiceKey:
    if kind == "EC":
        return ServiceKey(kid, ECKey.generate_key("P-256", private=True))
    return ServiceKey(kid, RSAKey.generate_key(2048, private=True))


def register_service_app(
    url: str,
    api_token: str,
    keys: list[ServiceKey],
    scopes: list[str],
    *,
    dpop: bool = False,
    label: str = "idsync service",
) -> str:
    """Create an API Services app with these public keys, grant `scopes`; return its client id."""
    body = {
        "name": "oidc_client",
        "label": label,
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": {"token_endpoint_auth_method": "private_key_jwt"}},
        "settings": {
            "oauthClient": {
                "application_type": "service",
                "grant_types": ["client_credentials"],
                "response_types": ["token"],
                "dpop_bound_access_tokens": dpop,
                "jwks": {"keys": [k.public_jwk for k in keys]},
            }
        },
    }
    headers = {"Authorization": f"SSWS {api_token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        created = client.post("/api/v1/apps", json=body)
        created.raise_for_status()
        app = created.json()
        for scope in scopes:
            granted = client.post(f"/api/v1/apps/{app['id']}/grants", json={"issuer": url, "scopeId": scope})
            granted.raise_for_status()
    return str(app["credentials"]["oauthClient"]["client_id"])


def assertion(
    client_id: str,
    key: ServiceKey,
    audience: str,
    *,
    now: float | None = None,
    lifetime_s: float = 300,
    jti: str | None = None,
    kid: str | None = "",
) -> str:
    """A private_key_jwt client assertion (kid "" = the key's own, None = no kid)."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + int(lifetime_s),
        "jti": jti or secrets.token_urlsafe(16),
    }
    header: dict[str, Any] = {"alg": "RS256"}
    if kid is not None:
        header["kid"] = kid or key.kid
    return jwt.encode(header, claims, key.key)


def dpop_proof(
    key: ECKey,
    method: str,
    url: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
    jti: str | None = None,
    now: float | None = None,
) -> str:
    claims: dict[str, Any] = {
        "htm": method,
        "htu": url,
        "iat": int(now if now is not None else time.time()),
        "jti": jti or secrets.token_urlsafe(16),
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["ath"] = access_token_hash(access_token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, default_type=None)


def token_form(
    client_id: str, key: ServiceKey, token_url: str, scopes: str, **assertion_kw: Any
) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scopes,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(client_id, key, token_url, **assertion_kw),
    }
