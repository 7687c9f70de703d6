"""The /api/v1 route table: templates like `/api/v1/users/{id}` to handlers.

Why not Starlette's router: the pipeline needs the template (for stats and conformance checks)
and Okta's answers for a wrong method (405 E0000022) or an unknown path (404 E0000007) in
Okta's error shape; a flat table of compiled patterns does both in a few lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.http import Handler

__all__ = ["Route", "Router"]

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]


class Router:
    def __init__(self, routes: Iterable[tuple[str, str, Handler]] = ()) -> None:
        self.routes: list[Route] = []
        self._by_first: dict[str, list[Route]] = {}
        for method, template, handler in routes:
            self.add(method, template, handler)

    def add(self, method: str, template: str, handler: Handler) -> None:
        pieces = _PARAM.split(template)  # literal, name, literal, name, ..., literal
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(pieces))
        regex = f"^{regex}/?$"
        route = Route(method, template, handler, re.compile(regex))
        self.routes.append(route)
        self._by_first.setdefault(self._resource(template), []).append(route)

    @staticmethod
    def _resource(path: str) -> str:
        parts = path.split("/", 4)
        return parts[3] if len(parts) > 3 else ""

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
        """The route and its (URL-decoded) parameters, or Okta's 404 / 405 error."""
        method_mismatch = False
        for route in self._by_first.get(self._resource(raw_path), ()):
            m = route.pattern.match(raw_path)
            if m is None:
                continue
            if route.method != method:
                method_mismatch = True
                continue
            return route, {k: unquote(v) for k, v in m.groupdict().items()}
        if method_mismatch:
            raise OktaError.method_not_allowed()
        raise OktaError.not_found(unquote(raw_path), "Resource")
