"""The dashboard's sign-in cookie: who signed in, signed by the service, HttpOnly.

Why a cookie and not the token in the page's storage: the page shows reasons and logins that
come from imported data (user input), and a token readable by JavaScript is one escaping bug
away from being stolen; an HttpOnly cookie is not readable by scripts at all. It is
SameSite=Strict (never sent by another site's page, so no cross-site request can use it) and
scoped to `/dashboard`. A plain link can then download the CSV, which a bearer header cannot.

The value is `<payload>.<HMAC-SHA256(key, payload)>`, the payload a small JSON object (base64url):
its expiry and what the sign-in was. The key is random and kept in the store
(`service_keys`), so a cookie survives restarts and works on every instance of the store.
It never carries a token: a sign-in with an API token keeps the token's public id (the token is
checked again on every request, so revoking it ends the session), a sign-in with the
installation's token keeps an HMAC of it (rotating the token ends the session), a sign-in
through the IdP keeps the login and the roles its groups gave. Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "COOKIE",
    "LIFETIME_S",
    "PATH",
    "SignIn",
    "Signed",
    "config_fingerprint",
    "issue",
    "read",
    "token_matches",
]

COOKIE = "idsync_dashboard"
PATH = "/dashboard"
LIFETIME_S = 12 * 3600  # a migration shift; then the sign-in is asked for again
MAX_BYTES = 3800  # a cookie (name, value, attributes) must stay under the browsers' 4 KB

Kind = Literal["config", "token", "sso"]


@dataclass(frozen=True)
class SignIn:
    """What the cookie says: `ref` is the config token's fingerprint or the API token's id;
    `actor` and `grants` (tenant -> role name) are a sign-in through the IdP's."""

    kind: Kind
    ref: str = ""
    actor: str = ""
    grants: dict[str, str] = field(default_factory=dict)


class Signed:
    """Signs and reads values with one key (the dashboard session's, or the pending IdP sign-in's)."""

    def __init__(self, key: bytes, context: bytes) -> None:
        self._key = hmac.new(key, context, hashlib.sha256).digest()

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def dump(self, data: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
        return f"{payload.rstrip('=')}.{self._mac(payload.rstrip('='))}"

    def load(self, value: str | None) -> dict[str, Any] | None:
        if not value or len(value) > MAX_BYTES:
            return None
        payload, _, mac = value.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error):
            return None
        return data if isinstance(data, dict) else None


def _signer(key: bytes) -> Signed:
    return Signed(key, b"idsync-dashboard-session-v2")


def issue(key: bytes, sign_in: SignIn, now: float | None = None) -> str:
    """A cookie value valid for LIFETIME_S."""
    expiry = int((time.time() if now is None else now) + LIFETIME_S)
    data: dict[str, Any] = {"exp": expiry, "kind": sign_in.kind, "ref": sign_in.ref}
    if sign_in.kind == "sso":
        data |= {"actor": sign_in.actor, "grants": sign_in.grants}
    return _signer(key).dump(data)


def read(key: bytes, value: str | None, now: float | None = None) -> SignIn | None:
    """The sign-in a cookie holds, or None (missing, changed, expired, unknown kind)."""
    data = _signer(key).load(value)
    if data is None:
        return None
    expiry = data.get("exp")
    if not isinstance(expiry, int) or expiry < (time.time() if now is None else now):
        return None
    kind, ref = data.get("kind"), data.get("ref")
    if kind not in ("config", "token", "sso") or not isinstance(ref, str):
        return None
    grants = data.get("grants") or {}
    actor = data.get("actor") or ""
    if not isinstance(grants, dict) or not isinstance(actor, str):
        return None
    return SignIn(kind=kind, ref=ref, actor=actor, grants={str(k): str(v) for k, v in grants.items()})


def config_fingerprint(key: bytes, api_token: str) -> str:
    """What a cookie keeps of the installation's token: an HMAC, useless as a credential."""
    return hmac.new(key, b"config-token:" + api_token.encode(), hashlib.sha256).hexdigest()[:32]


def token_matches(api_token: str | None, presented: str) -> bool:
    """The sign-in form's check of the installation's token, in constant time."""
    if not api_token:
        return False
    return hmac.compare_digest(presented.encode(), api_token.encode())
