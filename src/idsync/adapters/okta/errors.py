"""Okta's error bodies (okta/FACTS.md §3) become typed errors. Only `errorCode` drives decisions;
`errorSummary` and the causes are carried into the message for people."""

from __future__ import annotations

import re

import httpx

from idsync.errors import (
    Conflict,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unauthorized,
    Unavailable,
)

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')  # WWW-Authenticate parameters of an OAuth answer
_BY_CODE: dict[str, type[ProviderError]] = {
    "E0000011": Unauthorized,  # invalid token
    "E0000006": Unauthorized,  # no permission
    "E0000005": Unauthorized,  # invalid session
    "E0000007": NotFound,
    "E0000008": NotFound,
    "E0000038": IllegalTransition,  # not allowed in the user's current status
    "E0000016": IllegalTransition,  # already active
    "E0000023": InvalidRequest,  # 403: the profile is mastered by another system (an identity source)
    "E0000032": IllegalTransition,
    "E0000047": RateLimited,
    "E0000112": Unavailable,  # still being activated: try again shortly
}


def okta_error(provider: str, response: httpx.Response) -> ProviderError:
    """The typed error for a non-2xx answer; its message never contains the token."""
    status = response.status_code
    code, summary, causes = None, response.reason_phrase, []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("errorCode")
        summary = body.get("errorSummary") or summary
        causes = [c.get("errorSummary", "") for c in body.get("errorCauses") or [] if isinstance(c, dict)]
    detail = f"{summary}" + (f" ({'; '.join(causes)})" if causes else "")
    message = f"Okta {status} {code or ''}: {detail}".replace("  ", " ")
    challenge = dict(_CHALLENGE.findall(response.headers.get("www-authenticate", "")))
    if challenge.get("error") == "insufficient_scope":  # an OAuth access token without the scope
        scope = challenge.get("scope", "?")
        what = f"{response.request.method} {response.request.url.path}"
        message = (
            f"Okta {status}: the access token lacks the scope {scope} that {what} needs — grant {scope} "
            "to the service app (Okta API Scopes) and list it in oauth.scopes"
        )
        return Unauthorized(message, provider=provider, status_code=status, error_code="insufficient_scope")
    if challenge.get("error"):
        message += f" ({challenge['error']}: {challenge.get('error_description', '')})"
    cls: type[ProviderError]
    if code == "E0000001" and any("already exists" in c for c in causes):
        cls = Conflict
    elif code == "E0000001" and any("Cannot" in c and "user" in c for c in causes):
        cls = IllegalTransition
    elif code in _BY_CODE:
        cls = _BY_CODE[code]
    elif status in (401, 403):
        cls = Unauthorized
    elif status == 404:
        cls = NotFound
    elif status == 409:
        cls = Conflict
    elif status == 429:
        cls = RateLimited
    elif status >= 500:
        cls = Unavailable
    else:
        cls = InvalidRequest
    return cls(message, provider=provider, status_code=status, error_code=code)
