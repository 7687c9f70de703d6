"""Which Okta rate-limit bucket a request counts against (okta/FACTS.md §4).

Buckets match the exact endpoint first, then the longest prefix. Recorded traffic shows that
create, list and lifecycle/activate share one counter, and that deactivate and DELETE share the
/users/{id} counter; lookups by id or login have their own, larger bucket.
"""

from __future__ import annotations

import re

import httpx

_USER_ITEM = re.compile(r"^/api/v1/users/[^/]+$")
_USER_SUB = re.compile(r"^/api/v1/users/[^/]+/(.+)$")
_APPS_ITEM = re.compile(r"^/api/v1/apps/[^/]+$")
_GROUPS_ITEM = re.compile(r"^/api/v1/groups/[^/]+")


def okta_bucket(request: httpx.Request) -> str:
    path = request.url.path
    method = request.method
    if path == "/api/v1/users":
        return "users"  # create and list
    if _USER_ITEM.match(path):
        return "users/{id}:get" if method == "GET" else "users/{id}"
    sub = _USER_SUB.match(path)
    if sub:
        # Lifecycle calls have no documented row; recorded traffic shows activate counted with
        # create/list and deactivate with DELETE /users/{id}. Other sub-resources: the users prefix.
        return "users/{id}" if sub.group(1) == "lifecycle/deactivate" else "users"
    if _APPS_ITEM.match(path):
        return "apps/{id}"
    if path.startswith("/api/v1/apps"):
        return "apps"
    if _GROUPS_ITEM.match(path):
        return "groups/{id}"
    if path.startswith("/api/v1/groups"):
        return "groups"
    if path.startswith("/api/v1/identity-sources/"):
        return "identitySources"  # import sessions: a bucket of their own (the emulator's; UNVERIFIED)
    return "api/v1"
