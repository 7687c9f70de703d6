"""Which Okta rate-limit bucket a request counts against (okta/FACTS.md §4).

Buckets match the exact endpoint first, then the longest prefix. Recorded traffic shows that
create, list and lifecycle/activate share one counter, and that deactivate and DELETE share the
/users/{id} counter; lookups by id or login have their own, larger bucket.
"""

from __future__ import annotations

import re

import httpx

_USER_ITEM = re.compile(r"^/api/v1/users/[^/]+$")
_USER_LIFECYCLE = re.compile(r"^/api/v1/users/[^/]+/lifecycle/(\w+)$")
_APPS_ITEM = re.compile(r"^/api/v1/apps/[^/]+$")
_GROUPS_ITEM = re.compile(r"^/api/v1/groups/[^/]+")


def okta_bucket(request: httpx.Request) -> str:
    path = request.url.path
    method = request.method
    if path == "/api/v1/users":
        return "users"  # create and list
    if _USER_ITEM.match(path):
        return "users/{id}:get" if method == "GET" else "users/{id}"
    lifecycle = _USER_LIFECYCLE.match(path)
    if lifecycle:
        return "users" if lifecycle.group(1) == "activate" else "users/{id}"
    if _APPS_ITEM.match(path):
        return "apps/{id}"
    if path.startswith("/api/v1/apps"):
        return "apps"
    if _GROUPS_ITEM.match(path):
        return "groups/{id}"
    if path.startswith("/api/v1/groups"):
        return "groups"
    return "api/v1"
