"""How the HTTP API refuses bad requests: in the words of the rest of idsync, never echoing input.

- Validation errors (`422`) name each field and the reason as Kafka and file imports do
  (`user.email: is not a valid e-mail address`), in `detail` (one line) and `errors` (a list).
  FastAPI's default answer copies every bad input back, which breaks on `NaN` (a 500) and
  mirrors 10 MB bodies; this one says what is wrong and nothing more.
- Bodies over the record limit (1 MiB, as for a line of an import) are refused with `413`
  before they are read in full. NDJSON imports (a record limit per line) and the IdP's
  webhook deliveries (their own limit) are exempt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idsync.adapters.files import MAX_RECORD_BYTES
from idsync.domain.models import FieldError, describe_errors

__all__ = ["BodyLimit", "body_error_handler", "validation_error_handler"]

_PARTS = ("body", "query", "path", "header", "cookie")
_NOT_AN_OBJECT = ("model_attributes_type", "dict_type", "model_type")


def _describe(errors: Sequence[Any]) -> list[FieldError]:
    plain = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if loc and loc[0] in _PARTS:
            loc = loc[1:]
        if err.get("type") == "json_invalid":
            loc = ()
        err = {**err, "loc": loc}
        if not loc and err.get("type") in _NOT_AN_OBJECT:
            err = {**err, "type": "value_error", "msg": "must be a JSON object"}
        elif not loc and err.get("type") == "missing":
            err = {**err, "type": "value_error", "msg": "is empty: a change message is required"}
        plain.append(err)
    return describe_errors(plain)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _describe(exc.errors())
    return JSONResponse(
        {
            "detail": "; ".join(f"{e.field}: {e.reason}" for e in errors),
            "errors": [e.model_dump() for e in errors],
        },
        status_code=422,
    )


async def body_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI answers a body it could not decode with a bare "There was an error parsing the
    body"; say why (the cause it chains), as the other ways in do."""
    assert isinstance(exc, HTTPException)
    cause = exc.__cause__
    if exc.status_code == 400 and cause is not None:
        if isinstance(cause, RecursionError):
            reason = "is nested too deeply"
        elif isinstance(cause, UnicodeDecodeError):
            reason = f"is not UTF-8 ({cause.reason} at byte {cause.start})"
        else:
            reason = f"could not be read ({type(cause).__name__})"
        return JSONResponse(
            {"detail": f"message: {reason}", "errors": [{"field": "message", "reason": reason}]},
            status_code=400,
        )
    return await http_exception_handler(request, exc)


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413), declared or streamed."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_RECORD_BYTES, exempt: Sequence[str] = ("/imports", "/hooks/")
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send, f"is {int(value):,} bytes long")
                return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > self.limit:
                await self._refuse(send, f"is more than {self.limit:,} bytes long")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: str) -> None:
        detail = f"message: {size}; the limit is {self.limit:,}"
        payload = json.dumps({"detail": detail, "errors": [{"field": "message", "reason": detail[9:]}]})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": payload.encode()})
