"""HTTP handlers of `/api/v1/apps…`: apps, their lifecycle, user and group assignments."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from idsync.emulator.okta import queries
from idsync.emulator.okta.apps import new_app, replace_app
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.events import user_target
from idsync.emulator.okta.http import ApiRequest, ApiResponse, link_headers
from idsync.emulator.okta.models import AppGroupRecord, AppRecord, AppUserRecord
from idsync.emulator.okta.render import app_group_json, app_json, app_user_json
from idsync.emulator.okta.routes_groups import find_group
from idsync.emulator.okta.search import Dialect, compile_predicate, parse

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator
    from idsync.emulator.okta.org import Org

__all__ = ["ROUTES"]

_APP_FILTER = Dialect(
    "filter",
    lambda a: frozenset({"eq"}) if a in ("id", "status", "name", "credentials.signing.kid") else frozenset(),
    allow_not=False,
    case_insensitive=False,
)

R = TypeVar("R")  # an assignment record: AppUserRecord or AppGroupRecord


def _find(org: Org, app_id: str) -> AppRecord:
    app = org.state.apps.get(app_id)
    if app is None:
        raise OktaError.not_found(app_id, "AppInstance")
    return app


def _resolve(app: AppRecord, attr: str) -> Any:
    if attr == "id":
        return app.id
    if attr == "status":
        return app.status
    value: Any = app.body
    for part in attr.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def create(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = new_app(emu.org, req.json(), activate=req.flag("activate", True))
    emu.org.state.save_app(app)
    return ApiResponse(200, app_json(app, req.info.org_url, emu.org.state.meta, with_secret=True))


_EXPAND = re.compile(r"^user/[^/,]+$")


async def list_apps(emu: Emulator, req: ApiRequest) -> ApiResponse:
    expand = req.query.get("expand")
    if expand is not None and not _EXPAND.match(expand):
        # Only `expand=user/{userId}` exists (SPEC listApplications); as answered by Okta for
        # `expand=user/id,group/id` (CASS test_list_applications_with_query_parameters).
        raise OktaError.api_validation("RequestParams", "Expand query is malformed.")
    apps = list(emu.org.state.apps.values())
    if req.query.get("filter"):
        node = parse(req.query["filter"])
        _APP_FILTER.check(node)
        predicate = compile_predicate(node, _resolve, case_insensitive=False)
        apps = [a for a in apps if predicate(a)]
    if req.query.get("q"):
        prefix = req.query["q"].casefold()
        apps = [
            a
            for a in apps
            if any(str(a.body.get(f, "")).casefold().startswith(prefix) for f in ("name", "label"))
        ]
    limit = queries.parse_limit(req.query.get("limit"), 20, 200)
    page, cursor = queries.page_after(apps, req.query.get("after"), limit, lambda a: a.id)
    body = [app_json(a, req.info.org_url, emu.org.state.meta) for a in page]
    return ApiResponse(200, body, link_headers(f"{req.info.org_url}/api/v1/apps", req.query, limit, cursor))


async def get(emu: Emulator, req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, app_json(_find(emu.org, req.params["id"]), req.info.org_url, emu.org.state.meta))


async def replace(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = replace_app(emu.org, _find(emu.org, req.params["id"]), req.json())
    emu.org.state.save_app(app)
    return ApiResponse(200, app_json(app, req.info.org_url, emu.org.state.meta))


async def delete(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _find(emu.org, req.params["id"])
    if app.status == "ACTIVE":
        raise OktaError.delete_active_app()
    emu.org.state.remove_app(app)
    return ApiResponse(204)


async def lifecycle(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _find(emu.org, req.params["id"])
    op = req.params["op"]
    if op not in ("activate", "deactivate"):
        raise OktaError.not_found(req.path, "Operation")
    app.status = "ACTIVE" if op == "activate" else "INACTIVE"
    app.last_updated = emu.org.now()
    emu.org.state.save_app(app)
    return ApiResponse(200, {})


async def assign_user(emu: Emulator, req: ApiRequest) -> ApiResponse:
    org = emu.org
    app = _find(org, req.params["id"])
    body = req.json()
    user_id = req.params.get("user_id") or (body.get("id") if isinstance(body, dict) else None)
    if not isinstance(user_id, str) or not user_id:
        raise OktaError.api_validation("id", "id: The field cannot be left blank")
    user = org.state.users.get(user_id)
    if user is None:
        raise OktaError.not_found(user_id, "User")
    now = org.now()
    existing = org.state.app_users.get(app.id, {}).get(user.id)
    rec = existing or AppUserRecord(app.id, user.id, now, now, user_name=user.login)
    if isinstance(body, dict):
        rec.scope = str(body.get("scope", rec.scope))
        if isinstance(body.get("profile"), dict):
            rec.profile = dict(body["profile"])
        creds = body.get("credentials")
        if isinstance(creds, dict) and creds.get("userName"):
            rec.user_name = str(creds["userName"])
    rec.last_updated = now
    org.state.save_app_user(rec)
    if existing is None:
        app_target = {
            "id": app.id,
            "type": "AppInstance",
            "alternateId": app.body.get("label"),
            "displayName": app.body.get("label"),
            "detailEntry": None,
        }
        org.emit("application.user_membership.add", req.info, user_target(user), app_target)
    return ApiResponse(200, app_user_json(rec, req.info.org_url))


async def list_app_users(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _find(emu.org, req.params["id"])
    records = emu.org.state.app_users.get(app.id, {})
    return _list_assigned(req, app, records, (50, 500), "users", app_user_json)


async def app_user(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _find(emu.org, req.params["id"])
    records = emu.org.state.app_users.get(app.id, {})
    return _assigned(req, app, records, "user_id", "AppUser", emu.org.state.remove_app_user, app_user_json)


async def assign_group(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _find(emu.org, req.params["id"])
    group = find_group(emu.org, req.params["group_id"])
    body = req.json()
    rec = AppGroupRecord(app.id, group.id, emu.org.now())
    if isinstance(body, dict):
        rec.priority = int(body.get("priority", 0))
        rec.profile = dict(body.get("profile") or {})
    emu.org.state.save_app_group(rec)
    return ApiResponse(200, app_group_json(rec, req.info.org_url))


async def app_group(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _find(emu.org, req.params["id"])
    records = emu.org.state.app_groups.get(app.id, {})
    kind = "ApplicationGroupAssignment"
    return _assigned(req, app, records, "group_id", kind, emu.org.state.remove_app_group, app_group_json)


async def list_app_groups(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _find(emu.org, req.params["id"])
    records = emu.org.state.app_groups.get(app.id, {})
    return _list_assigned(req, app, records, (20, 200), "groups", app_group_json)


def _assigned(
    req: ApiRequest,
    app: AppRecord,
    records: Mapping[str, R],
    param: str,
    kind: str,
    remove: Callable[[str, str], None],
    as_json: Callable[[R, str], dict[str, Any]],
) -> ApiResponse:
    """GET or DELETE one assignment of the app (a user's or a group's: the same rules)."""
    rec = records.get(req.params[param])
    if rec is None:
        raise OktaError.not_found(req.params[param], kind)
    if req.method == "DELETE":
        remove(app.id, req.params[param])
        return ApiResponse(204)
    return ApiResponse(200, as_json(rec, req.info.org_url))


def _list_assigned(
    req: ApiRequest,
    app: AppRecord,
    records: Mapping[str, R],
    limits: tuple[int, int],
    what: str,
    as_json: Callable[[R, str], dict[str, Any]],
) -> ApiResponse:
    """A page of the app's assignments, in the order of their keys' assignment (Okta's cursor)."""
    limit = queries.parse_limit(req.query.get("limit"), *limits)
    keys = list(records)
    page, cursor = queries.page_after(keys, req.query.get("after"), limit, lambda k: k)
    base = f"{req.info.org_url}/api/v1/apps/{app.id}/{what}"
    body = [as_json(records[k], req.info.org_url) for k in page]
    return ApiResponse(200, body, link_headers(base, req.query, limit, cursor))


ROUTES = [
    ("POST", "/api/v1/apps", create),
    ("GET", "/api/v1/apps", list_apps),
    ("GET", "/api/v1/apps/{id}", get),
    ("PUT", "/api/v1/apps/{id}", replace),
    ("DELETE", "/api/v1/apps/{id}", delete),
    ("POST", "/api/v1/apps/{id}/lifecycle/{op}", lifecycle),
    ("POST", "/api/v1/apps/{id}/users", assign_user),
    ("GET", "/api/v1/apps/{id}/users", list_app_users),
    ("GET", "/api/v1/apps/{id}/users/{user_id}", app_user),
    ("POST", "/api/v1/apps/{id}/users/{user_id}", assign_user),
    ("DELETE", "/api/v1/apps/{id}/users/{user_id}", app_user),
    ("GET", "/api/v1/apps/{id}/groups", list_app_groups),
    ("PUT", "/api/v1/apps/{id}/groups/{group_id}", assign_group),
    ("GET", "/api/v1/apps/{id}/groups/{group_id}", app_group),
    ("DELETE", "/api/v1/apps/{id}/groups/{group_id}", app_group),
]
