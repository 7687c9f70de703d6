"""Which Okta rate-limit counter a request is charged to: the documented table as a first guess.

Okta's table (okta/FACTS.md §4) matches the exact endpoint first, then the longest prefix; its
lifecycle calls have no row, and recorded traffic shows the grouping changed between orgs and
years (the 2020 org charged deactivate with DELETE /users/{id}, the 2025 org with create/list).
So `okta_route` names each request's *endpoint* (method + path template) and the counter the
documents suggest; the governor starts from that guess and learns, from each answer's
`X-Rate-Limit-Limit/-Remaining/-Reset`, which endpoints really share a counter
(engine/governor.py, `CounterMap`).
"""

from __future__ import annotations

import re

import httpx

from idsync.engine.governor import Route

__all__ = ["documented_counter", "okta_bucket", "okta_route"]

_USER_ITEM = re.compile(r"^/api/v1/users/[^/]+$")
_USER_SUB = re.compile(r"^/api/v1/users/[^/]+/(.+)$")
_APPS_ITEM = re.compile(r"^/api/v1/apps/[^/]+$")
_APPS_SUB = re.compile(r"^/api/v1/apps/[^/]+/(.+)$")
_GROUPS_ITEM = re.compile(r"^/api/v1/groups/[^/]+")
_IDSOURCE = re.compile(r"^/api/v1/identity-sources/[^/]+/sessions(?:/[^/]+)?(/.*)?$")


def okta_route(request: httpx.Request) -> Route:
    """(endpoint, the documented counter): e.g. ("POST /users/{id}/lifecycle/deactivate", "users")."""
    path = request.url.path.rstrip("/")
    method = request.method
    if path == "/api/v1/users":
        return Route(f"{method} /users", "users")  # create and list
    if _USER_ITEM.match(path):
        return Route(f"{method} /users/{{id}}", "users/{id}:get" if method == "GET" else "users/{id}")
    sub = _USER_SUB.match(path)
    if sub:
        # No documented row: lifecycle calls and other sub-resources start with the users prefix.
        tail = "/".join("{group}" if p.startswith("00g") else p for p in sub.group(1).split("/"))
        return Route(f"{method} /users/{{id}}/{tail}", "users")
    if _APPS_ITEM.match(path):
        return Route(f"{method} /apps/{{id}}", "apps/{id}")
    if _APPS_SUB.match(path):
        return Route(f"{method} /apps/{{id}}/*", "apps")
    if path.startswith("/api/v1/apps"):
        return Route(f"{method} /apps", "apps")
    if _GROUPS_ITEM.match(path):
        return Route(f"{method} /groups/{{id}}", "groups/{id}")
    if path.startswith("/api/v1/groups"):
        return Route(f"{method} /groups", "groups")
    found = _IDSOURCE.match(path)
    if found:  # import sessions: a counter of their own (the emulator's guess; UNVERIFIED)
        return Route(f"{method} /identity-sources/sessions{found.group(1) or ''}", "identitySources")
    return Route(f"{method} /api/v1/*", "api/v1")


def okta_bucket(request: httpx.Request) -> str:
    """The documented counter alone (what `idsync doctor` names before anything is learned)."""
    return okta_route(request).counter


def documented_counter(endpoint: str) -> str | None:
    """The documented counter of an endpoint named as `okta_route` names it (for the doctor)."""
    method, _, path = endpoint.partition(" ")
    if not path.startswith("/") or "*" in path or path.startswith("/identity-sources"):
        return None
    concrete = path.replace("{id}", "00u0").replace("{group}", "00g0")
    base = "/api/v1" if not path.startswith("/api/") else ""
    return okta_route(httpx.Request(method, f"https://org.okta.com{base}{concrete}")).counter
