"""The admin side: stats, outbox, users, seeding, reset, health."""

from __future__ import annotations

import httpx

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread

from .conftest import new_user


def test_stats_count_what_was_served(client: httpx.Client, admin: EmulatorAdmin) -> None:
    client.post("/api/v1/users?activate=true", json=new_user("a@example.com"))
    client.post("/api/v1/users?activate=false", json=new_user("b@example.com"))
    client.post("/api/v1/users", json=new_user("A@example.com"))
    client.get("/api/v1/users/nobody@example.com")
    stats = admin.stats()
    assert stats["requests"]["POST /api/v1/users"] == {"200": 2, "400": 1}
    assert stats["requests"]["GET /api/v1/users/{id}"] == {"404": 1}
    assert stats["users_by_status"] == {"PROVISIONED": 1, "STAGED": 1}
    assert stats["users_total"] == 2
    assert stats["activation_emails_sent"] == 1
    assert stats["duplicate_login_rejections"] == 1
    assert stats["served_429"]["total"] == 0
    windows = {w["bucket"]: w for w in stats["rate_limit_windows"]}
    assert windows["users"]["calls"] == 3
    assert windows["users"]["limit"] == 600
    assert windows["users"]["token_limit"] == 300
    assert windows["users.get"]["calls"] == 1
    assert set(windows["users"]) >= {"bucket", "window_start", "calls", "rejected_429", "limit"}


def test_reset_clears_everything(client: httpx.Client, admin: EmulatorAdmin) -> None:
    client.post("/api/v1/users?activate=true", json=new_user("a@example.com"))
    client.post("/api/v1/groups", json={"profile": {"name": "G"}})
    admin.reset()
    stats = admin.stats()
    assert stats["users_total"] == 0
    assert stats["requests"] == {}
    assert stats["rate_limit_windows"] == []
    assert admin.outbox() == []
    groups = client.get("/api/v1/groups").json()
    assert [g["profile"]["name"] for g in groups] == ["Everyone"]
    assert client.post("/api/v1/users?activate=true", json=new_user("a@example.com")).status_code == 200


def test_seed_and_list_users(client: httpx.Client, admin: EmulatorAdmin) -> None:
    assert admin.seed_users(250, status="ACTIVE", prefix="seed") == 250
    assert admin.seed_users(5, status="STAGED", prefix="seed") == 0  # logins exist already
    assert admin.seed_users(5, status="DEPROVISIONED", prefix="gone") == 5
    assert len(admin.users()) == 255
    assert len(admin.users(status="DEPROVISIONED")) == 5
    [one] = admin.users(login="SEED7@example.com")
    assert one["status"] == "ACTIVE"
    assert one["activation_emails"] == 0
    first = client.get("/api/v1/users")
    assert len(first.json()) == 200
    assert 'rel="next"' in first.headers.get_list("link")[-1]
    assert client.get("/api/v1/users/seed249@example.com").status_code == 200


def test_outbox_filters(client: httpx.Client, admin: EmulatorAdmin) -> None:
    a = client.post("/api/v1/users?activate=true", json=new_user("a@example.com")).json()
    client.post("/api/v1/users?activate=true", json=new_user("b@example.com"))
    assert [m["userId"] for m in admin.outbox(user_id=a["id"])] == [a["id"]]
    assert len(admin.outbox(to="B@EXAMPLE.COM")) == 1
    assert len(admin.outbox()) == 2


def test_health_needs_no_token(emulator: object) -> None:
    r = httpx.get(f"{emulator.url}/__emulator/health")  # type: ignore[attr-defined]
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_admin_bodies_must_be_json_objects(emulator: EmulatorThread) -> None:
    faults_before = httpx.get(emulator.url + "/__emulator/faults").json()
    for path in ("/__emulator/faults", "/__emulator/identity-sources"):
        for content in (b"[1, 2]", b"not json"):
            r = httpx.post(emulator.url + path, content=content, headers={"Content-Type": "application/json"})
            assert (r.status_code, r.json()) == (400, {"error": "body must be a JSON object"}), path
    assert httpx.get(emulator.url + "/__emulator/faults").json() == faults_before
