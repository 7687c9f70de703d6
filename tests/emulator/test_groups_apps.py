"""Groups, memberships and apps (OpenID Connect registration, assignments)."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import new_user

OIDC_APP: dict[str, Any] = {
    "name": "oidc_client",
    "label": "EFS portal 7",
    "signOnMode": "OPENID_CONNECT",
    "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_post"}},
    "settings": {
        "oauthClient": {
            "redirect_uris": ["https://portal7.example.com/oauth2/callback"],
            "response_types": ["code"],
            "grant_types": ["authorization_code"],
            "application_type": "web",
        }
    },
}


def test_groups_and_membership(client: httpx.Client) -> None:
    user = client.post("/api/v1/users", json=new_user("m@example.com", password=True)).json()
    group = client.post(
        "/api/v1/groups", json={"profile": {"name": "Panel", "description": "Panelists"}}
    ).json()
    assert group["type"] == "OKTA_GROUP"
    assert group["objectClass"] == ["okta:user_group"]
    assert set(group["_links"]) == {"logo", "users", "apps"}
    duplicate = client.post("/api/v1/groups", json={"profile": {"name": "panel"}})
    assert duplicate.status_code == 400
    assert client.put(f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204
    assert client.put(f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204  # idempotent
    members = client.get(f"/api/v1/groups/{group['id']}/users").json()
    assert [u["id"] for u in members] == [user["id"]]
    assert client.put(f"/api/v1/groups/{group['id']}/users/m@example.com").status_code == 404  # ids only
    assert client.delete(f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204
    assert client.get(f"/api/v1/groups/{group['id']}/users").json() == []
    renamed = client.put(f"/api/v1/groups/{group['id']}", json={"profile": {"name": "Panel 2"}}).json()
    assert renamed["profile"] == {"name": "Panel 2", "description": None}
    assert [g["id"] for g in client.get("/api/v1/groups", params={"q": "pan"}).json()] == [group["id"]]
    only = client.get("/api/v1/groups", params={"filter": 'type eq "OKTA_GROUP"'}).json()
    assert [g["id"] for g in only] == [group["id"]]
    everyone = client.get("/api/v1/groups", params={"filter": 'type eq "BUILT_IN"'}).json()[0]
    assert client.delete(f"/api/v1/groups/{everyone['id']}").status_code == 403
    assert client.delete(f"/api/v1/groups/{group['id']}").status_code == 204
    r = client.get(f"/api/v1/groups/{group['id']}")
    assert r.json()["errorSummary"] == f"Not found: Resource not found: {group['id']} (UserGroup)"


def test_oidc_app_secret_only_in_the_create_answer(client: httpx.Client) -> None:
    created = client.post("/api/v1/apps", json=OIDC_APP)
    assert created.status_code == 200
    app = created.json()
    oauth = app["credentials"]["oauthClient"]
    assert oauth["client_id"] == app["id"]
    assert len(oauth["client_secret"]) == 40
    assert app["status"] == "ACTIVE"
    assert app["settings"]["oauthClient"]["issuer_mode"] == "ORG_URL"
    assert {"users", "groups", "deactivate"} <= set(app["_links"])
    fetched = client.get(f"/api/v1/apps/{app['id']}").json()
    assert "client_secret" not in fetched["credentials"]["oauthClient"]
    assert fetched["credentials"]["oauthClient"]["client_id"] == oauth["client_id"]
    listed = client.get("/api/v1/apps", params={"q": "EFS portal"}).json()
    assert [a["id"] for a in listed] == [app["id"]]
    assert all("client_secret" not in a["credentials"]["oauthClient"] for a in listed)
    assert client.get("/api/v1/apps", params={"filter": 'status eq "INACTIVE"'}).json() == []


def test_oidc_app_validation(client: httpx.Client) -> None:
    no_grants = {**OIDC_APP, "settings": {"oauthClient": {"redirect_uris": ["https://x.example.com/cb"]}}}
    assert client.post("/api/v1/apps", json=no_grants).status_code == 400
    service = {
        **OIDC_APP,
        "settings": {"oauthClient": {"grant_types": ["client_credentials"], "application_type": "service"}},
    }
    assert client.post("/api/v1/apps", json=service).status_code == 200


def test_app_lifecycle_and_assignments(client: httpx.Client) -> None:
    app = client.post("/api/v1/apps?activate=false", json=OIDC_APP).json()
    assert app["status"] == "INACTIVE"
    assert client.post(f"/api/v1/apps/{app['id']}/lifecycle/activate").json() == {}
    refused = client.delete(f"/api/v1/apps/{app['id']}")
    assert (refused.status_code, refused.json()["errorCode"]) == (403, "E0000056")
    user = client.post("/api/v1/users", json=new_user("app@example.com", password=True)).json()
    assigned = client.post(f"/api/v1/apps/{app['id']}/users", json={"id": user["id"], "scope": "USER"})
    assert assigned.status_code == 200
    assert assigned.json()["credentials"] == {"userName": "app@example.com"}
    assert [u["id"] for u in client.get(f"/api/v1/apps/{app['id']}/users").json()] == [user["id"]]
    group = client.post("/api/v1/groups", json={"profile": {"name": "Portal users"}}).json()
    link = client.put(f"/api/v1/apps/{app['id']}/groups/{group['id']}", json={})
    assert link.json()["priority"] == 0
    assert [a["id"] for a in client.get(f"/api/v1/groups/{group['id']}/apps").json()] == [app["id"]]
    assert client.delete(f"/api/v1/apps/{app['id']}/users/{user['id']}").status_code == 204
    assert client.get(f"/api/v1/apps/{app['id']}/users").json() == []
    client.post(f"/api/v1/apps/{app['id']}/lifecycle/deactivate")
    assert client.delete(f"/api/v1/apps/{app['id']}").status_code == 204


def test_catalog_app_without_sign_on_mode_and_expand(client: httpx.Client) -> None:
    """As recorded from Okta: a `bookmark` app needs no signOnMode, and `expand` takes only
    `user/{id}` (CASS test_application_with_http_info_methods,
    test_list_applications_with_query_parameters)."""
    body = {
        "name": "bookmark",
        "label": "Intranet",
        "settings": {"app": {"url": "https://intra.example.com/"}},
    }
    created = client.post("/api/v1/apps", json=body)
    assert created.status_code == 200, created.text
    assert created.json()["signOnMode"] == "BOOKMARK"
    unknown = client.post("/api/v1/apps", json={"name": "no_such_catalog_app", "label": "X"})
    assert unknown.status_code == 400
    assert unknown.json()["errorCauses"][0]["errorSummary"].startswith("signOnMode:")
    malformed = client.get("/api/v1/apps", params={"expand": "user/id,group/id"})
    assert malformed.status_code == 400
    assert malformed.json()["errorSummary"] == "Api validation failed: RequestParams"
    assert malformed.json()["errorCauses"] == [{"errorSummary": "Expand query is malformed."}]
    user_id = client.post("/api/v1/users", json=new_user("e@example.com")).json()["id"]
    fine = client.get(
        "/api/v1/apps", params={"expand": f"user/{user_id}", "filter": f'id eq "{created.json()["id"]}"'}
    )
    assert fine.status_code == 200 and len(fine.json()) == 1
