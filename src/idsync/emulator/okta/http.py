"""The request and response values that API handlers see and return.

Why not Starlette's objects: handlers stay plain functions of values (easy to call from tests),
and the pipeline alone deals with ASGI, headers, rate limits and faults.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.org import RequestInfo

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator

__all__ = ["ApiRequest", "ApiResponse", "Handler", "link_headers"]


@dataclass
class ApiRequest:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    info: RequestInfo
    token: str = ""
    template: str = "<unknown>"
    """The matched route (`/api/v1/users/{id}`), for stats; `<unknown>` when none matches."""

    def json(self) -> Any:
        """The JSON body; a body that is not JSON is Okta's 400 E0000003."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OktaError.malformed_body() from exc

    def flag(self, name: str, default: bool) -> bool:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise OktaError.api_validation(name, f"{name}: Invalid boolean value {raw}")


@dataclass
class ApiResponse:
    status: int = 200
    body: Any = None
    """JSON-able body; None sends no body (e.g. 204)."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    then: Callable[[], None] | None = None
    """Work to do `wait_s` after the handler returned and before answering (a synchronous answer
    to an operation that takes time: activation with `lifecycle_delay_s`)."""
    wait_s: float = 0.0


Handler = Callable[["Emulator", ApiRequest], Awaitable[ApiResponse]]


def link_headers(
    base: str, query: dict[str, str], limit: int, next_cursor: str | None
) -> list[tuple[str, str]]:
    """RFC 8288 `Link` headers, `self` first then `next` (the SDK keeps only the last one)."""
    kept = {k: v for k, v in query.items() if k not in ("after", "limit")}
    extra = "".join(f"&{k}={quote_plus(v)}" for k, v in kept.items())
    current = f"after={quote_plus(query['after'])}&" if query.get("after") else ""
    links = [("link", f'<{base}?{current}limit={limit}{extra}>; rel="self"')]
    if next_cursor is not None:
        links.append(("link", f'<{base}?after={quote_plus(next_cursor)}&limit={limit}{extra}>; rel="next"'))
    return links
