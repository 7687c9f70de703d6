"""HTTP handlers of `/api/v1/groups…`: groups, their members (with events) and their apps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idsync.emulator.okta import queries
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.events import group_target, user_target
from idsync.emulator.okta.http import ApiRequest, ApiResponse, link_headers
from idsync.emulator.okta.models import GroupRecord, UserRecord
from idsync.emulator.okta.render import app_json, group_json, user_json

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator
    from idsync.emulator.okta.org import Org

__all__ = ["ROUTES", "find_group"]


def find_group(org: Org, group_id: str) -> GroupRecord:
    group = org.state.groups.get(group_id)
    if group is None:
        raise OktaError.not_found(group_id, "UserGroup")
    return group


def _profile(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise OktaError.malformed_body()
    profile = body.get("profile")
    if (
        not isinstance(profile, dict)
        or not isinstance(profile.get("name"), str)
        or not profile["name"].strip()
    ):
        raise OktaError.api_validation("name", "name: The field cannot be left blank")
    return {"name": profile["name"], "description": None, **profile}


def _check_unique_name(org: Org, name: str, group_id: str | None) -> None:
    # Duplicate Okta group names are refused (UNVERIFIED: FACTS §6 has no source for it).
    for group in org.state.groups.values():
        if group.id != group_id and str(group.profile.get("name", "")).casefold() == name.casefold():
            raise OktaError.api_validation(
                "name", "name: An object with this field already exists in the current organization"
            )


def _writable(group: GroupRecord) -> None:
    if group.type != "OKTA_GROUP":
        raise OktaError.forbidden()


async def create(emu: Emulator, req: ApiRequest) -> ApiResponse:
    org = emu.org
    profile = _profile(req.json())
    _check_unique_name(org, profile["name"], None)
    now = org.now()
    group = GroupRecord(org.ids.object_id("00g"), org.state.next_seq(), "OKTA_GROUP", now, now, now, profile)
    org.state.save_group(group)
    return ApiResponse(200, group_json(group, req.info.org_url))


async def list_groups(emu: Emulator, req: ApiRequest) -> ApiResponse:
    page = queries.list_groups(emu.org, req.query)
    body = [group_json(g, req.info.org_url) for g in page.items]
    if "q" in req.query:
        return ApiResponse(200, body)
    base = f"{req.info.org_url}/api/v1/groups"
    return ApiResponse(200, body, link_headers(base, req.query, page.limit, page.next_cursor))


async def get(emu: Emulator, req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, group_json(find_group(emu.org, req.params["id"]), req.info.org_url))


async def replace(emu: Emulator, req: ApiRequest) -> ApiResponse:
    group = find_group(emu.org, req.params["id"])
    _writable(group)
    profile = _profile(req.json())
    _check_unique_name(emu.org, profile["name"], group.id)
    group.profile, group.last_updated = profile, emu.org.now()
    emu.org.state.save_group(group)
    return ApiResponse(200, group_json(group, req.info.org_url))


async def delete(emu: Emulator, req: ApiRequest) -> ApiResponse:
    group = find_group(emu.org, req.params["id"])
    _writable(group)
    emu.org.state.remove_group(group)
    return ApiResponse(204)


def _members(emu: Emulator, group: GroupRecord) -> list[UserRecord]:
    state = emu.org.state
    if group.id == emu.org.everyone_id:
        return list(state.iter_users())
    return [state.users[u] for u in state.members.get(group.id, {}) if u in state.users]


async def list_members(emu: Emulator, req: ApiRequest) -> ApiResponse:
    group = find_group(emu.org, req.params["id"])
    limit = queries.parse_limit(req.query.get("limit"), 1000, 10000)
    members = _members(emu, group)
    items, cursor = queries.page_after(members, req.query.get("after"), limit, lambda u: u.id)
    org, meta = req.info.org_url, emu.org.state.meta
    body = [user_json(u, org, meta, collection=True) for u in items]
    return ApiResponse(
        200, body, link_headers(f"{org}/api/v1/groups/{group.id}/users", req.query, limit, cursor)
    )


async def membership(emu: Emulator, req: ApiRequest) -> ApiResponse:
    """PUT adds, DELETE removes; 204 either way, events only when membership really changed."""
    org = emu.org
    group = find_group(org, req.params["id"])
    user = org.state.users.get(req.params["user_id"])  # must be an id, not a login (SPEC)
    if user is None:
        raise OktaError.not_found(req.params["user_id"], "User")
    _writable(group)
    if req.method == "PUT":
        changed, event = org.state.add_member(group.id, user.id), "group.user_membership.add"
    else:
        changed, event = org.state.remove_member(group.id, user.id), "group.user_membership.remove"
    if changed:
        group.last_membership_updated = org.now()
        org.state.save_group(group)
        org.emit(event, req.info, user_target(user), group_target(group))
    return ApiResponse(204)


async def group_apps(emu: Emulator, req: ApiRequest) -> ApiResponse:
    group = find_group(emu.org, req.params["id"])
    state = emu.org.state
    apps = [app for app in state.apps.values() if group.id in state.app_groups.get(app.id, {})]
    body = [app_json(app, req.info.org_url, emu.org.state.meta) for app in apps]
    base = f"{req.info.org_url}/api/v1/groups/{group.id}/apps"
    return ApiResponse(200, body, link_headers(base, req.query, 20, None))


ROUTES = [
    ("POST", "/api/v1/groups", create),
    ("GET", "/api/v1/groups", list_groups),
    ("GET", "/api/v1/groups/{id}", get),
    ("PUT", "/api/v1/groups/{id}", replace),
    ("DELETE", "/api/v1/groups/{id}", delete),
    ("GET", "/api/v1/groups/{id}/users", list_members),
    ("PUT", "/api/v1/groups/{id}/users/{user_id}", membership),
    ("DELETE", "/api/v1/groups/{id}/users/{user_id}", membership),
    ("GET", "/api/v1/groups/{id}/apps", group_apps),
]
