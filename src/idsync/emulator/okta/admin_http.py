"""What the `/__emulator/*` endpoints answer when a request is wrong: `{"error": message}`.

Why one home: admin.py and the identity-source admin routes (routes_idsources.py) read JSON bodies
and refuse them alike; they cannot import each other (the emulator imports the API routes).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["json_object", "problem"]


def problem(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The body as a JSON object, or the 400 answer to send instead."""
    try:
        body = await request.json()
    except ValueError:
        return problem("body must be a JSON object")
    if not isinstance(body, dict):
        return problem("body must be a JSON object")
    return body
