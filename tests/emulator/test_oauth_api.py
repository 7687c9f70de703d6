"""The Management API with OAuth 2.0 access tokens: scopes per operation, DPoP-bound tokens, the
grants API, and the scope table read from Okta's spec."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from joserfc.jwk import ECKey

from idsync.emulator.okta.clock import ManualClock
from idsync.emulator.okta.scopes import SCOPES_FILE, table_from_spec
from tests.oauth_support import dpop_proof, new_key, register_service_app, token_form

from .conftest import EmulatorFactory, new_user

READ, MANAGE = "okta.users.read", "okta.users.manage"
SUBSET = Path(__file__).parent / "data" / "okta-management-subset.yaml"


def bearer(emu: Any, scopes: list[str], *, dpop_key: ECKey | None = None) -> tuple[str, str]:
    """(client id, access token) of a new service app granted `scopes`."""
    key = new_key()
    client_id = register_service_app(emu.url, emu.token, [key], scopes, dpop=dpop_key is not None)
    url = f"{emu.url}/oauth2/v1/token"
    headers = {}
    if dpop_key is not None:
        first = httpx.post(
            url,
            data=token_form(client_id, key, url, " ".join(scopes)),
            headers={"DPoP": dpop_proof(dpop_key, "POST", url)},
        )
        headers["DPoP"] = dpop_proof(dpop_key, "POST", url, nonce=first.headers["dpop-nonce"])
    answer = httpx.post(url, data=token_form(client_id, key, url, " ".join(scopes)), headers=headers)
    answer.raise_for_status()
    return client_id, str(answer.json()["access_token"])


def test_each_operation_needs_its_scope_and_says_which(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory()
    _, token = bearer(emu, [READ])
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/api/v1/users").status_code == 200
        assert api.get("/api/v1/users/nobody@example.com").status_code == 404  # read scope: a lookup
        refused = api.post("/api/v1/users", json=new_user("ann@example.com"))
        groups = api.get("/api/v1/groups")
    assert refused.status_code == 403 and refused.json()["errorCode"] == "E0000006"
    assert refused.headers["www-authenticate"] == (
        f'Bearer authorization_uri="{emu.url}/oauth2/v1/authorize", realm="{emu.url}", '
        'scope="okta.users.manage", error="insufficient_scope", '
        'error_description="The access token provided does not contain the required scopes.", '
        'resource="/api/v1/users"'
    )
    assert refused.headers["x-rate-limit-limit"]  # Okta's headers on every /api/v1 answer
    assert groups.status_code == 403 and 'scope="okta.groups.read"' in groups.headers["www-authenticate"]
    assert not [u for u in httpx.get(f"{emu.url}/__emulator/users").json() if u["login"] == "ann@example.com"]


def test_manage_scopes_write_and_lifecycle_calls(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory()
    _, token = bearer(emu, [READ, MANAGE, "okta.apps.read", "okta.eventHooks.read"])
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer{token}"}) as api:  # SDK: no space
        created = api.post("/api/v1/users", params={"activate": "false"}, json=new_user("bo@example.com"))
        assert created.status_code == 200, created.text
        assert api.post(f"/api/v1/users/{created.json()['id']}/lifecycle/activate").status_code == 200
        assert api.get("/api/v1/apps").status_code == 200
        assert api.get("/api/v1/eventHooks").status_code == 200
        hooks = api.post("/api/v1/eventHooks", json={})
        grants = api.get(f"/api/v1/apps/{created.json()['id']}/grants")
    assert 'scope="okta.eventHooks.manage"' in hooks.headers["www-authenticate"]
    assert 'scope="okta.appGrants.read"' in grants.headers["www-authenticate"]


def test_invalid_expired_and_revoked_tokens(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock(time.time())
    emu = emulator_factory(clock=clock)
    client_id, token = bearer(emu, [READ])
    garbage = httpx.get(f"{emu.url}/api/v1/users", headers={"Authorization": "Bearer a.b.c"})
    assert garbage.status_code == 401 and garbage.json()["errorCode"] == "E0000011"
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]
    clock.advance(3601)  # the token's hour is over
    expired = httpx.get(f"{emu.url}/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["www-authenticate"]
    clock.set(time.time())
    ssws = {"Authorization": f"SSWS {emu.token}"}
    assert (
        httpx.get(f"{emu.url}/api/v1/users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    httpx.post(f"{emu.url}/api/v1/apps/{client_id}/lifecycle/deactivate", headers=ssws).raise_for_status()
    assert (
        httpx.get(f"{emu.url}/api/v1/users", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    assert httpx.get(f"{emu.url}/api/v1/users", headers=ssws).status_code == 200  # API tokens still work


def test_dpop_bound_tokens_need_a_fresh_proof_of_the_bound_key(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory()
    dpop_key = ECKey.generate_key("P-256", private=True)
    _, token = bearer(emu, [READ], dpop_key=dpop_key)
    url = f"{emu.url}/api/v1/users"

    def call(scheme: str = "DPoP", **proof: Any) -> httpx.Response:
        headers = {"Authorization": f"{scheme} {token}"}
        if proof:
            headers["DPoP"] = dpop_proof(**{"key": dpop_key, "method": "GET", "url": url, **proof})
        return httpx.get(url, headers=headers)

    assert call(access_token=token, url=url + "?limit=1").status_code == 200  # htu without the query
    proof = dpop_proof(dpop_key, "GET", url, access_token=token)
    assert httpx.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof}).status_code == 200
    replay = httpx.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    cases = {
        "already been used": replay,
        "use the DPoP scheme": call("Bearer"),
        "header is missing": call(),
        "'ath'": call(access_token="another-token"),
        "bound to": call(key=ECKey.generate_key("P-256", private=True), access_token=token),
        "'htm'": call(method="POST", access_token=token),
    }
    for expected, answer in cases.items():
        assert answer.status_code == 401, (expected, answer.text)
        assert expected in answer.headers["www-authenticate"], answer.headers["www-authenticate"]


def test_each_oauth_app_has_its_own_share_of_a_bucket(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(limits={"users": 10})
    client_id, token = bearer(emu, [READ])
    headers = {"Authorization": f"Bearer {token}"}
    answers = [httpx.get(f"{emu.url}/api/v1/users", headers=headers) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]  # 50% of 10, as for an API token
    assert {a.headers["x-rate-limit-limit"] for a in answers} == {"5"}
    ssws = httpx.get(f"{emu.url}/api/v1/users", headers={"Authorization": f"SSWS {emu.token}"})
    assert ssws.status_code == 200  # the API token has a share of its own
    windows = httpx.get(f"{emu.url}/__emulator/stats").json()["rate_limit_windows"]
    assert any(f"oauth:{client_id}" in w["calls_by_token"] for w in windows)


def test_grants_api(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory()
    client_id = register_service_app(emu.url, emu.token, [new_key()], [])
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as api:
        created = api.post(f"/api/v1/apps/{client_id}/grants", json={"issuer": emu.url, "scopeId": READ})
        again = api.post(f"/api/v1/apps/{client_id}/grants", json={"issuer": emu.url, "scopeId": READ})
        listed = api.get(f"/api/v1/apps/{client_id}/grants").json()
        one = api.get(f"/api/v1/apps/{client_id}/grants/{created.json()['id']}")
        unknown = api.post(
            f"/api/v1/apps/{client_id}/grants", json={"issuer": emu.url, "scopeId": "okta.nope"}
        )
        issuer = api.post(f"/api/v1/apps/{client_id}/grants", json={"issuer": "https://x", "scopeId": READ})
        deleted = api.delete(f"/api/v1/apps/{client_id}/grants/{created.json()['id']}")
        gone = api.get(f"/api/v1/apps/{client_id}/grants/{created.json()['id']}")
    assert created.status_code == 200  # as recorded (CASS test_grant_consent_to_scope); the spec says 201
    body = created.json()
    assert body["scopeId"] == READ and body["clientId"] == client_id and body["source"] == "ADMIN"
    assert body["_embedded"] == {"scope": {"id": READ}} and body["id"].startswith("oag")
    assert again.json()["id"] == body["id"]
    assert [g["scopeId"] for g in listed] == [READ] and "_embedded" not in listed[0]
    assert one.status_code == 200
    assert unknown.status_code == 400 and unknown.json()["errorSummary"] == "Api validation failed: scopeId"
    assert issuer.status_code == 400 and issuer.json()["errorSummary"] == "Api validation failed: issuer"
    assert deleted.status_code == 204 and gone.status_code == 404


def test_grant_errors_are_okta_errors(emulator_factory: EmulatorFactory) -> None:
    """Each refusal names its code (the fixture then checks all five fields and the catalog status)."""
    emu = emulator_factory()
    client_id = register_service_app(emu.url, emu.token, [new_key()], [])
    nowhere = "/api/v1/apps/0oanope0000000000001/grants"
    grants = f"/api/v1/apps/{client_id}/grants"
    json_type = {"Content-Type": "application/json"}
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as api:
        answers = [
            api.post(nowhere, json={"issuer": emu.url, "scopeId": READ}),
            api.get(nowhere),
            api.post(grants, content=b"{not json", headers=json_type),
            api.post(grants, json=[READ]),
            api.post(grants, json={"issuer": emu.url}),
            api.post(grants, json={"scopeId": READ}),
            api.delete(f"{grants}/oagnope0000000000001"),
            api.put(grants, json={}),
        ]
    assert [(a.status_code, a.json()["errorCode"]) for a in answers] == [
        (404, "E0000007"),
        (404, "E0000007"),
        (400, "E0000003"),
        (400, "E0000003"),
        (400, "E0000001"),
        (400, "E0000001"),
        (404, "E0000007"),
        (405, "E0000022"),
    ]


def test_grants_belong_to_the_client_id_and_outlive_the_app(emulator_factory: EmulatorFactory) -> None:
    """CASS test_revoke_consent_grant: a new app given a deleted app's client_id lists its grants."""
    emu = emulator_factory()
    oauth = {
        "grant_types": ["client_credentials"],
        "response_types": ["token"],
        "application_type": "service",
    }
    app = {
        "name": "oidc_client",
        "label": "first",
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": {"client_id": "fixed-client"}},
        "settings": {"oauthClient": oauth},
    }
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as api:
        first = api.post("/api/v1/apps", json=app).json()["id"]
        granted = api.post(f"/api/v1/apps/{first}/grants", json={"issuer": emu.url, "scopeId": READ}).json()
        api.post(f"/api/v1/apps/{first}/lifecycle/deactivate")
        assert api.delete(f"/api/v1/apps/{first}").status_code == 204
        second = api.post("/api/v1/apps", json={**app, "label": "second"}).json()["id"]
        listed = api.get(f"/api/v1/apps/{second}/grants").json()
        other = api.post("/api/v1/apps", json={**app, "credentials": {}}).json()["id"]
        unrelated = api.get(f"/api/v1/apps/{other}/grants").json()
    assert [(g["id"], g["clientId"]) for g in listed] == [(granted["id"], "fixed-client")]
    assert listed[0]["_links"]["app"] == {"href": f"{emu.url}/api/v1/apps/{second}", "title": "second"}
    assert unrelated == []


def test_private_key_jwt_apps_need_public_keys(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory()
    key = new_key()
    base = {
        "name": "oidc_client",
        "label": "svc",
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": {"token_endpoint_auth_method": "private_key_jwt"}},
    }

    def create(jwks: Any) -> httpx.Response:
        client = {"application_type": "service", "grant_types": ["client_credentials"], "jwks": jwks}
        body = {**base, "settings": {"oauthClient": client}}
        return httpx.post(f"{emu.url}/api/v1/apps", json=body, headers={"Authorization": f"SSWS {emu.token}"})

    assert create(None).json()["errorSummary"] == "Api validation failed: jwks"
    assert create({"keys": [key.key.as_dict(private=True)]}).status_code == 400  # a private key pasted
    created = create({"keys": [key.public_jwk]})
    assert created.status_code == 200 and "client_secret" not in created.json()["credentials"]["oauthClient"]


def test_the_scope_table_is_the_one_okta_s_spec_declares() -> None:
    served = table_from_spec(yaml.load(SUBSET.read_text(), Loader=yaml.CSafeLoader))
    shipped = json.loads(SCOPES_FILE.read_text())  # made from the whole spec
    assert served["operations"]  # the subset declares scopes for what the emulator serves
    assert {op: shipped["operations"].get(op) for op in served["operations"]} == served["operations"]
    assert set(served["scopes"]) <= set(shipped["scopes"])


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v1/users/00u1", READ),
        ("POST", "/api/v1/users/00u1/lifecycle/deactivate", MANAGE),
        ("PUT", "/api/v1/groups/00g1/users/00u1", "okta.groups.manage"),
        ("POST", "/api/v1/apps/0oa1/grants", "okta.appGrants.manage"),
        ("GET", "/api/v1/logs", "okta.logs.read"),  # not served: Okta's naming rule
    ],
)
def test_required_scope_of_an_operation(method: str, path: str, scope: str) -> None:
    from idsync.emulator.okta.scopes import scope_table

    assert scope_table().required(method, path) == (scope,)
