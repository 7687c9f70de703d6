"""The whole inbound flow over real HTTP both ways, on SQLite and on PostgreSQL.

idsync's app runs under uvicorn; the Okta emulator registers and verifies idsync's hook endpoint
and delivers events to it; assertions are on the application's table, the execution log and
the emulator's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import insert, update

from .conftest import HOOK_SECRET, InboundEnv, wait_for


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, inbound_env: Callable[..., InboundEnv]) -> InboundEnv:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
        return inbound_env(target_url=url, store_url=url)
    return inbound_env()


def _hooks(env: InboundEnv) -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = env.okta.get("/api/v1/eventHooks").json()
    return hooks


def test_initial_sync_events_pause_resume_remove(env: InboundEnv) -> None:
    admins, editors, other = (env.create_group(n) for n in ("App Admins", "App Editors", "Other"))
    ann = env.create_user("ann@example.com", title="CTO")
    bob = env.create_user("bob@example.com", first="Bob", last="Ray")
    erin = env.create_user("erin@example.com", first="Erin", last="Cole")
    env.add_member(admins, ann)
    env.add_member(editors, bob)
    env.add_member(other, bob)
    env.seed(
        {"profile": {"login": "carl@example.com", "email": "carl@example.com", "lastName": "Nofirst"}},
        {
            "profile": {
                "login": "dave@example.com",
                "email": "dave@example.com",
                "firstName": "Dave",
                "lastName": "Gone",
            },
            "status": "DEPROVISIONED",
        },
    )
    with env.app_db.begin() as conn:  # users the application had before the integration
        for email, nick in (("Erin@Example.com", "E"), ("dave@example.com", "D")):
            user_id = conn.execute(
                insert(env.users)
                .values(email=email, first_name="x", last_name="y", active=True, nickname=nick)
                .returning(env.users.c.id)
            ).scalar_one()
            conn.execute(
                insert(env.roles),
                [{"user_id": user_id, "role": "auditor"}, {"user_id": user_id, "role": "admin"}],
            )
    before = env.rows()

    # ---- initial sync: created, re-linked by e-mail (case-insensitive), skipped with the reason
    first = env.sync()
    assert first["status"] == "succeeded", first
    assert first["detail"]["counts"] == {"created": 2, "linked": 2, "skipped": 1}
    assert first["detail"]["skipped"] == [
        {
            "okta_id": first["detail"]["skipped"][0]["okta_id"],
            "login": "carl@example.com",
            "code": "missing_fields",
            "reason": "missing firstName in Okta",
        }
    ]
    rows = env.rows()
    assert set(rows) == {"ann@example.com", "bob@example.com", "erin@example.com", "dave@example.com"}
    assert rows["ann@example.com"] | {"id": 0} == {
        "id": 0,
        "email": "ann@example.com",
        "login": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "title": "CTO",
        "active": True,
        "okta_id": ann,
        "nickname": None,
        "roles": {"admin"},
    }
    assert rows["bob@example.com"]["roles"] == {"editor"}  # "Other" maps to nothing
    erin_row = rows["erin@example.com"]
    assert erin_row["id"] == before["erin@example.com"]["id"] and erin_row["okta_id"] == erin
    assert erin_row["first_name"] == "Erin" and erin_row["nickname"] == "E"
    assert erin_row["roles"] == {"auditor"}  # managed "admin" removed (not in App Admins), "auditor" kept
    dave_row = rows["dave@example.com"]
    assert dave_row["id"] == before["dave@example.com"]["id"] and dave_row["active"] is False

    # ---- re-runnable: nothing created twice, nothing changed
    again = env.sync()
    assert again["detail"]["counts"] == {"unchanged": 4, "skipped": 1}
    assert env.rows() == rows

    # ---- the emulator registers and verifies idsync's hook endpoint
    hook = env.api.post("/inbound/app/hook").json()
    assert hook["verificationStatus"] == "VERIFIED"
    (registered,) = _hooks(env)
    assert registered["channel"]["config"]["uri"] == f"{env.server.url}/hooks/okta/app"
    assert registered["verificationStatus"] == "VERIFIED" and registered["status"] == "ACTIVE"
    assert "value" not in registered["channel"]["config"]["authScheme"]

    # ---- real-time changes
    frank = env.create_user("frank@example.com", first="Frank", last="Ode")
    env.add_member(editors, frank)
    env.update_user(ann, title="CEO")
    env.remove_member(admins, ann)
    env.add_member(other, erin)  # unmapped group: ignored
    env.lifecycle(bob, "suspend")
    env.lifecycle(erin, "deactivate")
    env.delete_user(erin)  # deleted in Okta: inactive, never deleted in the application
    env.wait_idle()
    rows = env.rows()
    assert rows["frank@example.com"]["roles"] == {"editor"} and rows["frank@example.com"]["active"] is True
    assert rows["ann@example.com"]["title"] == "CEO" and rows["ann@example.com"]["roles"] == set()
    assert rows["bob@example.com"]["active"] is False
    assert rows["erin@example.com"]["active"] is False and rows["erin@example.com"]["nickname"] == "E"
    assert any(e["status"] == "ignored" and "Other" in e["summary"] for e in env.log(kind="event"))
    deactivations = [
        e for e in env.log(kind="event") if e["detail"]["event_type"] == "user.lifecycle.suspend"
    ]
    assert [e["status"] for e in deactivations] == ["deactivated"]

    # ---- reactivated in Okta: active again (dave was deactivated before the integration began)
    env.lifecycle(bob, "unsuspend")
    env.lifecycle(dave_row["okta_id"], "activate")
    env.wait_idle()
    rows = env.rows()
    assert rows["bob@example.com"]["active"] is True
    assert rows["dave@example.com"]["active"] is True and rows["dave@example.com"]["nickname"] == "D"

    # ---- local edits: the next Okta update overwrites mapped fields only
    ann_id = rows["ann@example.com"]["id"]
    with env.app_db.begin() as conn:
        conn.execute(
            update(env.users).where(env.users.c.id == ann_id).values(title="Local", nickname="Annie")
        )
        conn.execute(insert(env.roles).values(user_id=ann_id, role="auditor"))
    env.update_user(ann, lastName="Lee-Smith")
    env.wait_idle()
    ann_row = env.rows()["ann@example.com"]
    assert (ann_row["title"], ann_row["last_name"], ann_row["nickname"]) == ("CEO", "Lee-Smith", "Annie")
    assert ann_row["roles"] == {"auditor"}

    # ---- pause: nothing applied; some deliveries held, some lost (hook off); resume loses nothing
    assert env.api.post("/inbound/app/pause").json()["state"] == "paused"
    env.update_user(ann, firstName="Anna")  # delivered while paused: held
    env.okta.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/deactivate").raise_for_status()
    env.update_user(frank, title="Lead")  # never delivered
    env.add_member(admins, frank)  # never delivered
    env.okta.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/activate").raise_for_status()
    wait_for(lambda: any(e["status"] == "held" for e in env.log(kind="delivery")))
    paused_rows = env.rows()
    assert paused_rows["ann@example.com"]["first_name"] == "Ann"
    assert paused_rows["frank@example.com"]["title"] is None
    resumed = env.api.post("/inbound/app/resume").json()
    assert resumed["state"] == "active" and resumed["catch_up"]["kind"] == "delta_sync"
    env.wait_idle()
    rows = env.rows()
    assert rows["ann@example.com"]["first_name"] == "Anna"
    assert rows["frank@example.com"]["title"] == "Lead"
    assert rows["frank@example.com"]["roles"] == {"editor", "admin"}
    (delta,) = env.log(kind="delta_sync")
    assert delta["status"] == "succeeded" and delta["detail"]["requested_by"] == "resume"

    # ---- remove: links (and the external-id column) cleared, nothing else changed, hook deleted
    result = env.api.post("/inbound/app/remove").json()
    assert result["links_cleared"] == 5 and result["hook"] == "deleted"
    after = env.rows()
    assert {k: {**v, "okta_id": None} for k, v in rows.items()} == after
    assert _hooks(env) == []
    late = env.api.post(
        "/hooks/okta/app", json={"data": {"events": []}}, headers={"Authorization": HOOK_SECRET}
    )
    assert late.status_code == 410
    assert env.api.get("/inbound/app").json()["links"] == 0

    # ---- deployed again: re-links by e-mail, creates nothing
    redeploy = env.sync()
    assert redeploy["detail"]["counts"].get("created", 0) == 0
    assert redeploy["detail"]["counts"]["linked"] == 4  # erin was deleted in Okta
    final = env.rows()
    assert len(final) == len(after)
    assert final["ann@example.com"]["okta_id"] == ann
