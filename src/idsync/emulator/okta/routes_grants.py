"""`/api/v1/apps/{id}/grants`: the Okta API scopes granted to an app (its "Okta API Scopes" tab).

Why here and not in `routes_apps`: grants are what the org authorization server reads when a
service app asks for a token (`service_token`), a concern of their own. Grants live in the
org's `meta` (so a `--state-file` keeps them and a reset forgets them), keyed by the app's
`client_id`, not its id: in CASS test_revoke_consent_grant a new app given the `client_id` of a
deleted one lists the grants made through the deleted app (created before the new app existed),
so Okta keeps grants per OAuth client and deleting an app leaves them. Shapes follow the recorded
exchange CASS test_grant_consent_to_scope: the create answer embeds the scope, lists do not;
create answers 200 as recorded (the 2026 spec says 201).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idsync.emulator.okta.clock import iso_timestamp
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.http import ApiRequest, ApiResponse
from idsync.emulator.okta.models import AppRecord
from idsync.emulator.okta.scopes import scope_table

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator
    from idsync.emulator.okta.org import Org

__all__ = ["ROUTES", "granted_scopes"]


def _key(client_id: str) -> str:
    return f"oauth_grants.{client_id}"


def _grants(org: Org, client_id: str) -> dict[str, dict[str, Any]]:
    found = org.state.meta.get(_key(client_id))
    return dict(found) if isinstance(found, dict) else {}


def granted_scopes(org: Org, client_id: str) -> set[str]:
    """The scopes the org authorization server may put into this client's access tokens."""
    return {str(g["scopeId"]) for g in _grants(org, client_id).values()}


def _find_app(org: Org, app_id: str) -> AppRecord:
    app = org.state.apps.get(app_id)
    if app is None:
        raise OktaError.not_found(app_id, "AppInstance")
    return app


def client_id_of(app: AppRecord) -> str:
    oauth = app.body.get("credentials", {}).get("oauthClient") or {}
    return str(oauth.get("client_id") or app.id)


def _json(app: AppRecord, grant: dict[str, Any], org_url: str, *, embed: bool = False) -> dict[str, Any]:
    client_id = client_id_of(app)
    label = app.body.get("label")
    body: dict[str, Any] = {
        "id": grant["id"],
        "status": "ACTIVE",
        "created": iso_timestamp(grant["created"]),
        "createdBy": {"id": grant["createdBy"], "type": "User"},
        "lastUpdated": iso_timestamp(grant["created"]),
        "issuer": grant["issuer"],
        "clientId": client_id,
        "scopeId": grant["scopeId"],
        "source": "ADMIN",
    }
    if embed:
        body["_embedded"] = {"scope": {"id": grant["scopeId"]}}
    body["_links"] = {
        "app": {"href": f"{org_url}/api/v1/apps/{app.id}", "title": label},
        "self": {
            "href": f"{org_url}/api/v1/apps/{app.id}/grants/{grant['id']}",
            "hints": {"allow": ["GET", "DELETE"]},
        },
        "client": {"href": f"{org_url}/oauth2/v1/clients/{client_id}", "title": label},
    }
    return body


async def grant(emu: Emulator, req: ApiRequest) -> ApiResponse:
    """Grant one scope. Granting a scope the app already has answers the existing grant (UNVERIFIED)."""
    org = emu.org
    app = _find_app(org, req.params["id"])
    body = req.json()
    if not isinstance(body, dict):
        raise OktaError.malformed_body()
    scope, issuer = body.get("scopeId"), body.get("issuer")
    if not isinstance(scope, str) or not scope:
        raise OktaError.api_validation("scopeId", "scopeId: The field cannot be left blank")
    if scope not in scope_table().known:
        raise OktaError.api_validation("scopeId", f"scopeId: {scope} is not an Okta API scope")
    if not isinstance(issuer, str) or not issuer:
        raise OktaError.api_validation("issuer", "issuer: The field cannot be left blank")
    if issuer.rstrip("/") != req.info.org_url:
        cause = f"issuer: must be the org authorization server {req.info.org_url}"
        raise OktaError.api_validation("issuer", cause)
    client_id = client_id_of(app)
    grants = _grants(org, client_id)
    existing = next((g for g in grants.values() if g["scopeId"] == scope), None)
    if existing is None:
        existing = {
            "id": org.ids.object_id("oag"),
            "scopeId": scope,
            "issuer": req.info.org_url,
            "created": org.now(),
            "createdBy": org.state.meta.get("admin_id", ""),
        }
        grants[existing["id"]] = existing
        org.state.set_meta(_key(client_id), grants)
    return ApiResponse(200, _json(app, existing, req.info.org_url, embed=True))


async def list_grants(emu: Emulator, req: ApiRequest) -> ApiResponse:
    app = _find_app(emu.org, req.params["id"])
    grants = sorted(_grants(emu.org, client_id_of(app)).values(), key=lambda g: (g["created"], g["id"]))
    return ApiResponse(200, [_json(app, g, req.info.org_url) for g in grants])


async def one_grant(emu: Emulator, req: ApiRequest) -> ApiResponse:
    org = emu.org
    app = _find_app(org, req.params["id"])
    grants = _grants(org, client_id_of(app))
    found = grants.get(req.params["grant_id"])
    if found is None:
        raise OktaError.not_found(req.params["grant_id"], "OAuth2ScopeConsentGrant")
    if req.method == "DELETE":
        del grants[found["id"]]
        org.state.set_meta(_key(client_id_of(app)), grants)
        return ApiResponse(204)
    return ApiResponse(200, _json(app, found, req.info.org_url))


ROUTES = [
    ("POST", "/api/v1/apps/{id}/grants", grant),
    ("GET", "/api/v1/apps/{id}/grants", list_grants),
    ("GET", "/api/v1/apps/{id}/grants/{grant_id}", one_grant),
    ("DELETE", "/api/v1/apps/{id}/grants/{grant_id}", one_grant),
]
