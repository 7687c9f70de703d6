"""DPoP proofs (RFC 9449) as Okta wants them from a client: one fresh proof per request.

Why an ephemeral EC P-256 key per process: the proof only shows that the caller holds the key the
token is bound to; ES256 is among the algorithms Okta announces and far cheaper than RSA (a proof
is signed for every API call). Claims as in Okta's DPoP guide and okta-sdk-python's `dpop.py`:
`jti`, `htm`, `htu` (no query or fragment), `iat`, plus `nonce` and `ath` when they apply.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlsplit, urlunsplit

from joserfc import jwt
from joserfc.jwk import ECKey

from idsync.clock import Clock

__all__ = ["DPoPKey", "access_token_hash"]


def access_token_hash(token: str) -> str:
    """`ath`: base64url (no padding) of the SHA-256 of the access token."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class DPoPKey:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._key: ECKey | None = None

    @property
    def key(self) -> ECKey:
        if self._key is None:  # made on first use: most apps never need one
            self._key = ECKey.generate_key("P-256", private=True)
        return self._key

    def thumbprint(self) -> str:
        return self.key.thumbprint()

    def proof(
        self, method: str, url: str, *, nonce: str | None = None, access_token: str | None = None
    ) -> str:
        parts = urlsplit(url)
        claims: dict[str, object] = {
            "jti": secrets.token_urlsafe(24),
            "htm": method.upper(),
            "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            "iat": int(self.clock.time()),
        }
        if nonce:
            claims["nonce"] = nonce
        if access_token:
            claims["ath"] = access_token_hash(access_token)
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key, default_type=None)
