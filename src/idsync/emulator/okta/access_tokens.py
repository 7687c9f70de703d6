"""Access tokens of the org authorization server for OAuth 2.0 service apps (scoped, maybe DPoP-bound).

Why JWTs signed by the org server's key (the one `/oauth2/v1/keys` publishes): that is what Okta
mints for Okta API scopes ("Implement OAuth for Okta with a service app": `ver`, `jti`, `iss` and
`aud` = the org URL, `sub` = `cid` = the client id, `scp`; DPoP-bound ones carry `cnf.jkt`).
Checking them needs no stored token, so they survive an emulator restart with `--state-file`
like Okta's do. The replay caches and the DPoP nonces live in memory (`ServiceAuth`, one per
emulator), like Okta sessions.
"""

from __future__ import annotations

import secrets
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from idsync.emulator.okta.dpop import JtiCache, NonceSource
from idsync.emulator.okta.oidc_state import OidcState

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator

__all__ = ["ACCESS_TOKEN_LIFETIME_S", "AccessToken", "ServiceAuth", "service_auth"]

ACCESS_TOKEN_LIFETIME_S = 3600
"""Okta: "The lifetime for this token is fixed at one hour."."""


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    jkt: str | None
    """Thumbprint of the DPoP key the token is bound to (None: a Bearer token)."""


@dataclass
class ServiceAuth:
    """The org authorization server's memory for service apps: seen JWT ids, DPoP nonces."""

    emulator: Emulator
    assertions: JtiCache = field(default_factory=JtiCache)
    proofs: JtiCache = field(default_factory=JtiCache)
    nonces: NonceSource = field(default_factory=NonceSource)
    issued: int = 0
    _key: tuple[str, RSAKey] | None = None

    def signing_key(self) -> RSAKey:
        """The org authorization server's key (made once, kept in the org's meta)."""
        stored = self.emulator.org.state.meta.get("oidc_signing_key.org")
        kid = stored.get("kid") if isinstance(stored, dict) else None
        if self._key is None or kid is None or self._key[0] != kid:
            key = OidcState(self.emulator.org).signing_key("org")
            self._key = (key.kid or "", key)
        return self._key[1]

    def mint(self, org_url: str, client_id: str, scopes: list[str], jkt: str | None) -> str:
        key = self.signing_key()
        now = int(self.emulator.clock.now())
        claims: dict[str, Any] = {
            "ver": 1,
            "jti": "AT." + secrets.token_urlsafe(32),
            "iss": org_url,
            "aud": org_url,
            "sub": client_id,
            "iat": now,
            "exp": now + ACCESS_TOKEN_LIFETIME_S,
            "cid": client_id,
            "scp": scopes,
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        self.issued += 1
        return jwt.encode({"alg": "RS256", "kid": key.kid or ""}, claims, key)

    def read(self, token: str, org_url: str) -> AccessToken | None:
        """The valid token's content; None for a token this org did not issue or that expired."""
        try:
            claims = jwt.decode(token, self.signing_key(), algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return None
        exp, scopes, cnf = claims.get("exp"), claims.get("scp"), claims.get("cnf")
        if claims.get("iss") != org_url or claims.get("aud") != org_url or not isinstance(exp, int):
            return None
        if exp <= self.emulator.clock.now() or not isinstance(scopes, list):
            return None
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        return AccessToken(str(claims.get("cid")), frozenset(map(str, scopes)), float(exp), jkt)


_STATES: weakref.WeakKeyDictionary[Emulator, ServiceAuth] = weakref.WeakKeyDictionary()


def service_auth(emulator: Emulator) -> ServiceAuth:
    found = _STATES.get(emulator)
    if found is None:
        found = _STATES[emulator] = ServiceAuth(emulator)
    return found
