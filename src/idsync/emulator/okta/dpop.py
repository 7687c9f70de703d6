"""Checking DPoP proofs (RFC 9449) as Okta's token endpoint and Management API do.

Why its own module: the org authorization server (`service_token`) and the API pipeline
(`api_auth`) check the same proof JWT, the first one with a server nonce, the second one with
`ath` (the hash of the access token) and the key the token is bound to. JOSE is joserfc's; this
module only says which header and claim values Okta requires (docs: "Configure OAuth 2.0
Demonstrating Proof-of-Possession"). Error texts other than "The DPoP proof JWT header is
missing." are UNVERIFIED.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import import_key
from joserfc.jws import JWSRegistry

__all__ = ["ALGS", "DPoPError", "JtiCache", "NonceSource", "Proof", "access_token_hash", "verify_proof"]

ALGS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
"""What Okta announces in `WWW-Authenticate: DPoP algs="..."` (observed, terraform-provider-okta #2375)."""
MAX_AGE_S = 300.0
LEEWAY_S = 60.0
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


def _registry() -> JWSRegistry:
    """joserfc's registry with room for the `jwk` header of an RSA key up to 8192 bits (the official
    okta SDK signs its proofs with a 3072-bit key; joserfc's default allows 512-byte headers)."""
    registry = JWSRegistry(algorithms=ALGS)
    registry.max_header_length = 4096
    return registry


_REGISTRY = _registry()


class DPoPError(Exception):
    """A proof Okta would refuse; the message is the `error_description`."""


@dataclass(frozen=True)
class Proof:
    jkt: str
    """RFC 7638 thumbprint of the proof's public key: what a DPoP-bound token's `cnf.jkt` holds."""
    jti: str
    iat: float
    nonce: str | None


def access_token_hash(token: str) -> str:
    """`ath`: base64url (no padding) of the SHA-256 of the access token."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _bare(url: str) -> str:
    """`htu` is compared without query and fragment (RFC 9449 4.3)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def verify_proof(
    proof: str,
    *,
    method: str,
    urls: tuple[str, ...],
    now: float,
    access_token: str | None = None,
) -> Proof:
    """The checked proof, or `DPoPError`. `urls`: the URLs this request may be named by."""
    try:
        header: dict[str, Any] = jws.extract_compact(proof.encode("ascii"), registry=_REGISTRY).headers()
    except (JoseError, UnicodeEncodeError, ValueError) as exc:
        raise DPoPError("The DPoP proof JWT is malformed.") from exc
    if header.get("typ") != "dpop+jwt":
        raise DPoPError("The DPoP proof JWT header 'typ' must be 'dpop+jwt'.")
    alg = header.get("alg")
    if alg not in ALGS:
        raise DPoPError(f"The DPoP proof JWT 'alg' must be one of {', '.join(ALGS)}.")
    public = header.get("jwk")
    if not isinstance(public, dict) or any(m in public for m in _PRIVATE_MEMBERS):
        raise DPoPError("The DPoP proof JWT header 'jwk' must be a public key.")
    try:
        key = import_key(public)
        token = jwt.decode(proof, key, algorithms=[str(alg)], registry=_REGISTRY)
    except JoseError as exc:
        raise DPoPError("The DPoP proof JWT signature is invalid.") from exc
    claims = token.claims
    if claims.get("htm") != method.upper():
        raise DPoPError("The DPoP proof 'htm' claim does not match the HTTP method of the request.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or _bare(htu) not in {_bare(u) for u in urls}:
        raise DPoPError("The DPoP proof 'htu' claim does not match the URL of the request.")
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not jti:
        raise DPoPError("The DPoP proof JWT has no 'jti' claim.")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise DPoPError("The DPoP proof JWT has no 'iat' claim.")
    if iat > now + LEEWAY_S:
        raise DPoPError("The DPoP proof JWT was issued in the future ('iat'): check the client's clock.")
    if iat < now - MAX_AGE_S:
        raise DPoPError("The DPoP proof JWT is too old ('iat'): make a new proof for each request.")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise DPoPError("The DPoP proof 'ath' claim does not match the access token.")
    nonce = claims.get("nonce")
    return Proof(key.thumbprint(), jti, float(iat), nonce if isinstance(nonce, str) else None)


@dataclass
class JtiCache:
    """JWT ids seen, each kept until `until` (then its JWT is refused anyway for its age)."""

    seen: dict[str, float] = field(default_factory=dict)

    def used(self, jti: str, now: float) -> bool:
        expiry = self.seen.get(jti)
        return expiry is not None and expiry > now

    def remember(self, jti: str, until: float, now: float) -> None:
        if len(self.seen) > 10_000:
            self.seen = {k: v for k, v in self.seen.items() if v > now}
        self.seen[jti] = until


@dataclass
class NonceSource:
    """Okta's `DPoP-Nonce`: renewed every 24 hours, each one accepted for three days (Okta docs)."""

    issued: list[tuple[str, float]] = field(default_factory=list)

    def current(self, now: float) -> str:
        if not self.issued or self.issued[-1][1] <= now - 86_400:
            self.issued.append((secrets.token_urlsafe(24), now))
            self.issued = [(n, t) for n, t in self.issued if t > now - 3 * 86_400]
        return self.issued[-1][0]

    def valid(self, nonce: str | None, now: float) -> bool:
        return nonce is not None and any(n == nonce and t > now - 3 * 86_400 for n, t in self.issued)
