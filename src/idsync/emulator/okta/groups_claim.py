"""The groups claim of an OpenID Connect app's ID tokens (org authorization server).

Okta configures it on the app's Sign On tab ("OpenID Connect ID Token", groups claim type
Filter: a claim name, `groups` by default, and a filter such as *Matches regex* `.*`). The admin
console stores it through an internal endpoint that Terraform's Okta provider calls too (its
`groups_claim` block): `GET|POST /api/v1/internal/apps/{appId}/settings/oauth/idToken` with
`{"valueType": "GROUPS", "groupFilterType": "REGEX", "name": "groups", "value": ".*"}`. It is not
part of `GET /api/v1/apps/{id}`. An ID token carries the claim (the names of the user's groups
that pass the filter) only when the authorize request asked for the `groups` scope, and for the
org authorization server only in ID tokens, never in access tokens or userinfo (Okta's guide
"Customize tokens returned from Okta with a groups claim").

Only the Filter type: `valueType` EXPRESSION (Okta Expression Language) is refused.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.http import ApiRequest, ApiResponse

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator
    from idsync.emulator.okta.models import AppRecord
    from idsync.emulator.okta.org import Org

__all__ = ["ROUTES", "groups_claim"]

FILTERS = ("STARTS_WITH", "EQUALS", "CONTAINS", "REGEX")
MAX_GROUPS = 100  # Okta puts at most 100 groups in the claim


def _matches(kind: str, value: str, name: str) -> bool:
    if kind == "STARTS_WITH":
        return name.startswith(value)
    if kind == "EQUALS":
        return name == value
    if kind == "CONTAINS":
        return value in name
    return re.fullmatch(value, name) is not None


def groups_claim(org: Org, app: AppRecord, user_id: str) -> tuple[str, list[str]] | None:
    """(claim name, group names) for an ID token of `app` for the user; None when not configured."""
    config = app.id_token_claim
    if not config or config.get("valueType") != "GROUPS" or not config.get("name"):
        return None
    kind, value = str(config.get("groupFilterType") or "REGEX"), str(config.get("value") or "")
    ids = {org.everyone_id, *org.state.user_groups.get(user_id, set())}  # every user is in Everyone
    names = sorted(str(g.profile.get("name")) for gid in ids if (g := org.state.groups.get(gid)) is not None)
    return str(config["name"]), [n for n in names if _matches(kind, value, n)][:MAX_GROUPS]


def _app(emu: Emulator, req: ApiRequest) -> AppRecord:
    app = emu.org.state.apps.get(req.params["id"])
    if app is None:
        raise OktaError.not_found(req.params["id"], "AppInstance")
    return app


def _body(app: AppRecord, org_url: str) -> dict[str, Any]:
    client_id = app.body.get("credentials", {}).get("oauthClient", {}).get("client_id")
    return {"issuerMode": "ORG_URL", "orgUrl": org_url, "audience": client_id, **(app.id_token_claim or {})}


async def get(emu: Emulator, req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, _body(_app(emu, req), req.info.org_url))


async def set_claim(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _app(emu, req)
    if app.body.get("signOnMode") != "OPENID_CONNECT":
        raise OktaError.api_validation(
            "settings", "settings: Only OpenID Connect apps have ID token settings"
        )
    body = req.json()
    if not isinstance(body, dict):
        raise OktaError.malformed_body()
    value_type = body.get("valueType")
    if value_type is None and not body.get("name"):  # Terraform's "remove the claim"
        app.id_token_claim = None
    elif value_type != "GROUPS":
        raise OktaError.api_validation("valueType", "valueType: only GROUPS (a groups filter) is emulated")
    else:
        kind = body.get("groupFilterType")
        if kind not in FILTERS:
            raise OktaError.api_validation("groupFilterType", f"groupFilterType: one of {', '.join(FILTERS)}")
        value, name = body.get("value"), body.get("name")
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise OktaError.api_validation("name", "name and value: The field cannot be left blank")
        if kind == "REGEX":
            try:
                re.compile(value)
            except re.error:
                raise OktaError.api_validation("value", "value: not a valid regular expression") from None
        app.id_token_claim = {"valueType": "GROUPS", "groupFilterType": kind, "name": name, "value": value}
    app.last_updated = emu.org.now()
    emu.org.state.save_app(app)
    return ApiResponse(200, _body(app, req.info.org_url))


ROUTES = [
    ("GET", "/api/v1/internal/apps/{id}/settings/oauth/idToken", get),
    ("POST", "/api/v1/internal/apps/{id}/settings/oauth/idToken", set_claim),
]
