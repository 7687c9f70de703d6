"""Bearer-token protection of the API: compared in constant time; the token never reaches logs."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status


def check_bearer(request: Request) -> None:
    expected: str | None = request.app.state.api_token
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if expected is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="no API token is configured (service.api_token_env); every route is closed",
        )
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
