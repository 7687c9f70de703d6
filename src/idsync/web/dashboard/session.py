"""The dashboard's login: the API token typed once into a form, then an HttpOnly cookie.

Why a cookie and not the token in the page's storage: the page shows reasons and logins that
come from imported data (user input), and a token readable by JavaScript is one escaping bug
away from being stolen; an HttpOnly cookie is not readable by scripts at all. It is
SameSite=Strict (never sent by another site's page, so no cross-site request can use it) and
scoped to `/dashboard`. A plain link can then download the CSV, which a bearer header cannot.

The cookie is stateless: `<expiry>.<HMAC-SHA256(key derived from the API token, expiry)>`. So it
survives restarts, works on every instance that shares the token, and dies when the token is
rotated. Every comparison is constant-time. Data routes also accept the API's bearer header, so
scripts and the API's clients read the same JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import HTTPException, Request, status

from idsync.web.auth import check_bearer

__all__ = ["COOKIE", "LIFETIME_S", "PATH", "issue", "require_session", "token_matches", "valid"]

COOKIE = "idsync_dashboard"
PATH = "/dashboard"
LIFETIME_S = 12 * 3600  # a migration shift; then the token is asked for again
_CONTEXT = b"idsync-dashboard-session-v1"


def _key(api_token: str) -> bytes:
    # A key of its own, so the cookie never carries anything that works as the API token.
    return hmac.new(api_token.encode(), _CONTEXT, hashlib.sha256).digest()


def _mac(api_token: str, expiry: int) -> str:
    return hmac.new(_key(api_token), str(expiry).encode(), hashlib.sha256).hexdigest()


def issue(api_token: str, now: float | None = None) -> str:
    """A cookie value valid for LIFETIME_S."""
    expiry = int((time.time() if now is None else now) + LIFETIME_S)
    return f"{expiry}.{_mac(api_token, expiry)}"


def valid(api_token: str | None, value: str | None, now: float | None = None) -> bool:
    if not api_token or not value:
        return False
    expiry_text, _, mac = value.partition(".")
    if not expiry_text.isdigit() or len(expiry_text) > 12:
        return False
    expiry = int(expiry_text)
    if expiry < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(mac.encode(), _mac(api_token, expiry).encode())


def token_matches(api_token: str | None, presented: str) -> bool:
    """The login form's check, in constant time (no API token configured: nothing matches)."""
    if not api_token:
        return False
    return hmac.compare_digest(presented.encode(), api_token.encode())


def require_session(request: Request) -> None:
    """Dependency of every dashboard data route: a valid login cookie or the API's bearer token."""
    api_token: str | None = request.app.state.api_token
    if api_token is not None and valid(api_token, request.cookies.get(COOKIE)):
        return
    if request.headers.get("authorization"):
        check_bearer(request)  # 401/503 with the API's own wording
        return
    if api_token is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="no API token is configured (service.api_token_env); the dashboard is closed",
        )
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="log in at /dashboard first")
