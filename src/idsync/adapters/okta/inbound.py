"""What inbound sync reads from Okta beyond the connector: groups, memberships, event hooks.

Reuses the `OktaConnector`'s client, so every call goes through the same governor (rate budget,
retries, circuit breaker) as the outbound direction. Scopes: `okta.users.read`,
`okta.groups.read`, `okta.eventHooks.manage` (okta/FACTS.md §1, §6, §7).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from idsync.adapters.okta.connector import OktaConnector, _user, okta_literal
from idsync.domain.inbound import OktaGroupRef, OktaUserState
from idsync.domain.links import IdpStatus
from idsync.errors import NotFound
from idsync.ports import IdpUser

__all__ = ["OktaInbound", "user_state"]

_GROUP_PAGE = 1000  # GET /groups/{id}/users: Okta's default page size
_BUILT_IN = "BUILT_IN"  # "Everyone": never a role


def user_state(user: IdpUser) -> OktaUserState:
    return OktaUserState(user.id, user.login, user.status.value, dict(user.profile), user.last_updated)


def _group(body: Mapping[str, Any]) -> OktaGroupRef:
    return OktaGroupRef(str(body["id"]), str((body.get("profile") or {}).get("name") or ""))


class OktaInbound:
    def __init__(self, connector: OktaConnector) -> None:
        self.connector = connector
        self.name = connector.name

    # ---- users -------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> OktaUserState | None:
        """The user's current state; None when Okta no longer has the user (deleted)."""
        user = await self.connector.get_user(user_id)
        return user_state(user) if user is not None else None

    async def user_pages(
        self, *, page_size: int, updated_since: str | None = None
    ) -> AsyncIterator[list[OktaUserState]]:
        """Every user (DEPROVISIONED included), a page at a time, so callers know when a page was
        fetched; `updated_since` (an Okta timestamp) gives the users changed after it."""
        params = {"limit": str(page_size)}
        if updated_since:
            params["filter"] = f"lastUpdated gt {okta_literal(updated_since)}"
        else:  # the plain list omits DEPROVISIONED users; a filter naming every status does not
            params["filter"] = " or ".join(f'status eq "{s.value}"' for s in IdpStatus)
        url: str | None = "/api/v1/users"
        query: Mapping[str, str] = params
        while url:
            r = await self.connector._call("GET", url, params=query)
            yield [user_state(_user(body)) for body in r.json()]
            url, query = r.links.get("next", {}).get("url"), {}

    async def user_groups(self, user_id: str) -> list[OktaGroupRef] | None:
        """The user's groups (built-in "Everyone" left out); None when the user is gone."""
        groups: list[OktaGroupRef] = []
        try:
            async for body in self._pages(f"/api/v1/users/{quote(user_id, safe='')}/groups", {}):
                if body.get("type") != _BUILT_IN:
                    groups.append(_group(body))
        except NotFound:
            return None
        return groups

    # ---- groups ------------------------------------------------------------------------------

    async def find_groups(self, keys: Sequence[str]) -> dict[str, OktaGroupRef]:
        """Group mapping keys (an id or a name) -> the group; keys Okta does not know are left out."""
        found: dict[str, OktaGroupRef] = {}
        for key in keys:
            if key.startswith("00g"):
                try:
                    r = await self.connector._call("GET", f"/api/v1/groups/{quote(key, safe='')}")
                except NotFound:
                    continue
                found[key] = _group(r.json())
                continue
            params = {"search": f"profile.name eq {okta_literal(key)}"}
            async for body in self._pages("/api/v1/groups", params):
                group = _group(body)
                if group.name == key:
                    found[key] = group
                    break
        return found

    async def group_member_ids(self, group_id: str) -> AsyncIterator[str]:
        params = {"limit": str(_GROUP_PAGE)}
        async for body in self._pages(f"/api/v1/groups/{quote(group_id, safe='')}/users", params):
            yield str(body["id"])

    async def groups_changed_since(self, group_ids: Sequence[str], since: str) -> list[str]:
        """Which of these groups had members added or removed after `since` (an Okta timestamp)."""
        changed = []
        for gid in group_ids:
            try:
                r = await self.connector._call("GET", f"/api/v1/groups/{quote(gid, safe='')}")
            except NotFound:
                continue
            stamp = r.json().get("lastMembershipUpdated") or ""
            if not stamp or stamp > since:  # same ISO format on both sides: compares as text
                changed.append(gid)
        return changed

    # ---- event hooks -------------------------------------------------------------------------

    async def list_event_hooks(self) -> list[dict[str, Any]]:
        r = await self.connector._call("GET", "/api/v1/eventHooks")
        hooks: list[dict[str, Any]] = r.json()
        return hooks

    async def put_event_hook(
        self, hook_id: str | None, *, name: str, uri: str, events: Sequence[str], secret: str
    ) -> dict[str, Any]:
        """Create the hook (`hook_id` None) or replace it; the secret is write-only at Okta."""
        body = {
            "name": name,
            "events": {"type": "EVENT_TYPE", "items": list(events)},
            "channel": {
                "type": "HTTP",
                "version": "1.0.0",
                "config": {
                    "uri": uri,
                    "authScheme": {"type": "HEADER", "key": "Authorization", "value": secret},
                },
            },
        }
        if hook_id is None:
            r = await self.connector._call("POST", "/api/v1/eventHooks", body=body)
        else:
            r = await self.connector._call(
                "PUT", f"/api/v1/eventHooks/{quote(hook_id, safe='')}", body=body, idempotent=True
            )
        hook: dict[str, Any] = r.json()
        return hook

    async def hook_lifecycle(self, hook_id: str, op: str) -> dict[str, Any]:
        """`activate`, `deactivate` or `verify` (Okta then calls the hook URI with a challenge)."""
        r = await self.connector._call(
            "POST", f"/api/v1/eventHooks/{quote(hook_id, safe='')}/lifecycle/{op}", idempotent=True
        )
        hook: dict[str, Any] = r.json()
        return hook

    async def delete_event_hook(self, hook_id: str) -> None:
        """Okta deletes only INACTIVE hooks: deactivate first."""
        try:
            await self.hook_lifecycle(hook_id, "deactivate")
            await self.connector._call("DELETE", f"/api/v1/eventHooks/{quote(hook_id, safe='')}")
        except NotFound:
            return

    # ---- paging ------------------------------------------------------------------------------

    async def _pages(self, path: str, params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Follow `Link: rel="next"` headers (Okta's cursor pagination; never build cursor URLs)."""
        url: str | None = path
        query: Mapping[str, str] = params
        while url:
            r = await self.connector._call("GET", url, params=query)
            for body in r.json():
                yield body
            url, query = r.links.get("next", {}).get("url"), {}
