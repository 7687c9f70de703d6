"""Users API over HTTP: creation, unique logins, lookups, updates, delete, auth and headers."""

from __future__ import annotations

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread

from .conftest import new_user


def _error(response: httpx.Response) -> str:
    return str(response.json()["errorCode"])


@pytest.mark.parametrize(
    ("query", "password", "status", "emails"),
    [
        ("activate=false", False, "STAGED", 0),
        ("activate=false", True, "STAGED", 0),
        ("activate=true", True, "ACTIVE", 0),
        ("activate=true", False, "PROVISIONED", 1),
        ("", False, "PROVISIONED", 1),  # activate defaults to true (SPEC)
    ],
)
def test_create_status_follows_activate_and_password(
    client: httpx.Client, admin: EmulatorAdmin, query: str, password: bool, status: str, emails: int
) -> None:
    response = client.post(f"/api/v1/users?{query}", json=new_user("ann@example.com", password=password))
    assert response.status_code == 200  # Okta answers 200, not 201
    body = response.json()
    assert body["status"] == status
    assert body["id"].startswith("00u")
    assert len(body["id"]) == 20
    assert (body["activated"] is not None) == (status == "ACTIVE")
    assert ("password" in body["credentials"]) == password
    assert len(admin.outbox(user_id=body["id"])) == emails


def test_create_with_expired_password_needs_activation_and_password(client: httpx.Client) -> None:
    body = new_user("exp@example.com")
    r = client.post(
        "/api/v1/users?activate=false&nextLogin=changePassword",
        json=new_user("e1@example.com", password=True),
    )
    assert (r.status_code, _error(r)) == (400, "E0000125")
    r = client.post("/api/v1/users?activate=true&nextLogin=changePassword", json=body)
    assert (r.status_code, _error(r)) == (400, "E0000124")
    r = client.post(
        "/api/v1/users?activate=true&nextLogin=changePassword", json=new_user("e2@example.com", password=True)
    )
    assert r.json()["status"] == "PASSWORD_EXPIRED"


@pytest.mark.parametrize(
    "duplicate", ["ann@example.com", "ANN@Example.COM", "ánn@example.com", "Ann@éxample.com"]
)
def test_duplicate_login_ignores_case_and_diacritics(
    client: httpx.Client, admin: EmulatorAdmin, duplicate: str
) -> None:
    assert client.post("/api/v1/users?activate=false", json=new_user("ann@example.com")).status_code == 200
    r = client.post("/api/v1/users?activate=false", json=new_user(duplicate))
    assert r.status_code == 400
    assert r.json()["errorCode"] == "E0000001"
    assert r.json()["errorSummary"] == "Api validation failed: login"
    assert r.json()["errorCauses"] == [
        {"errorSummary": "login: An object with this field already exists in the current organization"}
    ]
    assert admin.stats(windows=False)["duplicate_login_rejections"] == 1
    assert len(admin.users()) == 1


def test_renaming_onto_an_existing_login_is_a_duplicate(client: httpx.Client) -> None:
    client.post("/api/v1/users", json=new_user("one@example.com", password=True))
    two = client.post("/api/v1/users", json=new_user("two@example.com", password=True)).json()
    r = client.post(f"/api/v1/users/{two['id']}", json={"profile": {"login": "ONE@example.com"}})
    assert (r.status_code, _error(r)) == (400, "E0000001")
    r = client.post(f"/api/v1/users/{two['id']}", json={"profile": {"login": "three@example.com"}})
    assert r.json()["profile"]["login"] == "three@example.com"
    assert client.get("/api/v1/users/two@example.com").status_code == 404
    assert client.get("/api/v1/users/three@example.com").json()["id"] == two["id"]


def test_get_by_id_login_and_shortname(client: httpx.Client) -> None:
    user = client.post("/api/v1/users?activate=false", json=new_user("John.Doe-Get@example.com")).json()
    for key in (user["id"], "John.Doe-Get@example.com", "john.doe-get@EXAMPLE.com", "John.Doe-Get"):
        r = client.get(f"/api/v1/users/{key}")
        assert r.status_code == 200, key
        assert r.json()["id"] == user["id"]
    assert set(r.json()["_links"]) == {"schema", "activate", "self", "resetFactors", "type"}  # STAGED (CASS)


def test_unknown_user_is_okta_404(client: httpx.Client) -> None:
    r = client.get("/api/v1/users/00uNOPE0000000000000")
    assert r.status_code == 404
    body = r.json()
    assert body["errorCode"] == "E0000007"
    assert body["errorLink"] == "E0000007"
    assert body["errorSummary"] == "Not found: Resource not found: 00uNOPE0000000000000 (User)"
    assert body["errorId"].startswith("oae")
    assert body["errorCauses"] == []


def test_missing_profile_fields_are_validation_errors(client: httpx.Client) -> None:
    r = client.post("/api/v1/users", json={"profile": {"login": "x@example.com", "email": "x@example.com"}})
    assert (r.status_code, _error(r)) == (400, "E0000001")
    causes = [c["errorSummary"] for c in r.json()["errorCauses"]]
    assert causes == ["firstName: The field cannot be left blank", "lastName: The field cannot be left blank"]
    r = client.post("/api/v1/users", json=new_user("not-an-email"))
    assert (r.status_code, _error(r)) == (400, "E0000001")


def test_malformed_json_is_e0000003(client: httpx.Client) -> None:
    r = client.post("/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (r.status_code, _error(r)) == (400, "E0000003")


def test_partial_update_keeps_and_full_replace_drops(client: httpx.Client) -> None:
    user = client.post(
        "/api/v1/users", json=new_user("upd@example.com", password=True, nickName="Nick")
    ).json()
    r = client.post(f"/api/v1/users/{user['id']}", json={"profile": {"title": "Boss"}})
    assert r.status_code == 200
    assert r.json()["profile"]["nickName"] == "Nick"
    assert r.json()["profile"]["title"] == "Boss"
    full = new_user("upd@example.com")
    r = client.put(f"/api/v1/users/{user['id']}", json=full)
    assert r.status_code == 200
    assert "nickName" not in r.json()["profile"]
    assert "title" not in r.json()["profile"]
    r = client.put(f"/api/v1/users/{user['id']}", json={"profile": {"title": "only"}})
    assert (r.status_code, _error(r)) == (400, "E0000001")


def test_delete_deactivates_first_then_deletes(client: httpx.Client, admin: EmulatorAdmin) -> None:
    user = client.post("/api/v1/users", json=new_user("del@example.com", password=True)).json()
    assert client.delete(f"/api/v1/users/{user['id']}").status_code == 204
    assert client.get(f"/api/v1/users/{user['id']}").json()["status"] == "DEPROVISIONED"
    assert admin.users()[0]["status"] == "DEPROVISIONED"
    assert client.delete(f"/api/v1/users/{user['id']}").status_code == 204
    assert client.get(f"/api/v1/users/{user['id']}").status_code == 404
    assert admin.users() == []
    assert client.delete(f"/api/v1/users/{user['id']}").status_code == 404


@pytest.mark.parametrize("header", ["SSWS {t}", "SSWS{t}", "ssws {t}", "SSWS  {t}"])
def test_ssws_token_with_or_without_space(emulator: EmulatorThread, header: str) -> None:
    r = httpx.get(f"{emulator.url}/api/v1/users", headers={"Authorization": header.format(t=emulator.token)})
    assert r.status_code == 200


def test_bad_or_missing_token(emulator: EmulatorThread) -> None:
    bad = httpx.get(f"{emulator.url}/api/v1/users", headers={"Authorization": "SSWS wrong"})
    assert (bad.status_code, _error(bad)) == (401, "E0000011")
    bearer = httpx.get(f"{emulator.url}/api/v1/users", headers={"Authorization": f"Bearer {emulator.token}"})
    assert (bearer.status_code, _error(bearer)) == (401, "E0000011")
    missing = httpx.get(f"{emulator.url}/api/v1/users")
    assert (missing.status_code, _error(missing)) == (403, "E0000005")  # observed for no header (FACTS §3)
    for r in (bad, missing):
        assert "x-rate-limit-limit" in r.headers
        assert "x-okta-request-id" in r.headers


def test_every_response_has_okta_headers(client: httpx.Client) -> None:
    created = client.post("/api/v1/users", json=new_user("h@example.com", password=True))
    deleted = client.delete(f"/api/v1/users/{created.json()['id']}")
    missing = client.get("/api/v1/users/nobody@example.com")
    for r in (created, deleted, missing):
        assert r.headers["x-okta-request-id"]
        assert r.headers["date"].endswith(" GMT")
        for name in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
            assert r.headers[name].replace(".", "").isdigit()
    assert created.headers["content-type"] == "application/json;charset=UTF-8"
    assert missing.headers["content-type"] == "application/json;charset=UTF-8"
    assert deleted.status_code == 204
    assert "content-type" not in deleted.headers


def test_wrong_method_and_unknown_path(client: httpx.Client) -> None:
    r = client.patch("/api/v1/users")
    assert (r.status_code, _error(r)) == (405, "E0000022")
    r = client.get("/api/v1/nothing-here")
    assert (r.status_code, _error(r)) == (404, "E0000007")


def test_user_groups_include_everyone(client: httpx.Client) -> None:
    user = client.post("/api/v1/users", json=new_user("g@example.com", password=True)).json()
    group = client.post("/api/v1/groups", json={"profile": {"name": "Sales"}}).json()
    assert client.put(f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204
    r = client.get(f"/api/v1/users/{user['id']}/groups")
    assert [(g["type"], g["profile"]["name"]) for g in r.json()] == [
        ("BUILT_IN", "Everyone"),
        ("OKTA_GROUP", "Sales"),
    ]
    assert r.headers["link"].endswith('rel="self"')


def test_ambiguous_shortname_is_not_found(client: httpx.Client) -> None:
    client.post("/api/v1/users", json=new_user("john@a.example.com", password=True))
    assert client.get("/api/v1/users/john").status_code == 200
    client.post("/api/v1/users", json=new_user("john@b.example.com", password=True))
    assert client.get("/api/v1/users/john").status_code == 404  # "as long as it is unambiguous" (SPEC)


def test_doubled_slashes_forgot_password_blocks_and_grants(
    client: httpx.Client, admin: EmulatorAdmin
) -> None:
    """As recorded (CASS test_forgot_password, test_list_user_blocks, test_revoke_user_grants)."""
    user = client.post(f"{client.base_url}//api/v1/users", json=new_user("f@example.com", password=True))
    assert user.status_code == 200  # Okta's nginx merges repeated slashes
    uid = user.json()["id"]
    link = client.post(f"/api/v1/users/{uid}/credentials/forgot_password", params={"sendEmail": "false"})
    assert link.status_code == 200
    assert link.json()["resetPasswordUrl"].startswith(f"{client.base_url}/signin/reset-password/")
    mailed = client.post(f"/api/v1/users/{uid}/credentials/forgot_password")
    assert (mailed.status_code, mailed.json()) == (200, {})
    assert [e["kind"] for e in admin.outbox() if e["userId"] == uid] == ["password_reset"]
    blocks = client.get(f"/api/v1/users/{uid}/blocks")
    assert (blocks.status_code, blocks.json()["errorCode"]) == (401, "E0000015")
    assert client.delete(f"/api/v1/users/{uid}/grants").status_code == 204
    assert client.delete("/api/v1/users/00unknown0000000000x/grants").status_code == 404
