"""Inbound safety over real HTTP both ways (docs/inbound.md, "Safety"): a sync, and then a burst
of event-hook deliveries, that would deactivate or strip roles from more than the allowance of
the integration's users: the excess is held, the rest goes on; release applies what is held as
Okta has it then, discard leaves those users alone; both are audited. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import InboundEnv

N = 12


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, inbound_env: Callable[..., InboundEnv]) -> InboundEnv:
    # Allowance: 25% of the 12 linked users = 3 per run (no floor above it).
    rules = {"max_deprovision_share": 0.25, "deprovision_floor": 1}
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
        return inbound_env(target_url=url, store_url=url, **rules)
    return inbound_env(**rules)


def _runs(env: InboundEnv) -> dict[str, dict[str, Any]]:
    answer = env.api.get("/inbound/app/safety")
    assert answer.status_code == 200, answer.text
    return {r["run_id"]: r for r in answer.json()}


def _inactive(env: InboundEnv) -> set[str]:
    return {email for email, row in env.rows().items() if row["active"] is False}


def test_a_sync_and_a_burst_of_events_over_the_allowance_are_held(env: InboundEnv) -> None:
    admins = env.create_group("App Admins")
    ids = {}
    for i in range(N):
        ids[i] = env.create_user(f"u{i}@example.com")
        env.add_member(admins, ids[i])
    first = env.sync()
    assert first["detail"]["counts"] == {"created": N}

    # Okta deactivates 7 users (say, a rule gone wrong): the sync lets 3 through, holds 4.
    for i in range(7):
        env.lifecycle(ids[i], "deactivate")
    second = env.sync()
    assert second["status"] == "partial", second
    assert second["detail"]["counts"] == {"deactivated": 3, "held": 4, "unchanged": N - 7}
    held = second["detail"]["held"]
    assert len(held) == 4 and {h["harm"] for h in held} == {"deactivate"}
    assert {h["code"] for h in held} == {"safety_threshold"}
    assert len(_inactive(env)) == 3
    run = _runs(env)[f"sync-{second['id']}"]
    assert (run["state"], run["linked_users"], run["allowance"], run["admitted"], run["held"]) == (
        "tripped",
        N,
        3,
        3,
        4,
    )
    assert "3 let through, 4 held" in run["summary"]
    assert {h["okta_id"] for h in run["held_users"]} == {h["okta_id"] for h in held}

    # Meanwhile one held user is active again in Okta: the release leaves that one active.
    back = held[0]["okta_id"]
    env.lifecycle(back, "activate")
    released = env.api.post(f"/inbound/app/safety/sync-{second['id']}/release")
    assert released.status_code == 200, released.text
    body = released.json()
    assert (body["state"], body["held"]) == ("released", 0)
    assert body["applied"] == {"deactivated": 3, "unchanged": 1}
    assert len(_inactive(env)) == 6
    assert env.api.post("/inbound/app/safety/sync-0/release").status_code == 404

    # A burst of hook deliveries is a run too: 2 deactivations and 2 role removals, 3 allowed.
    assert env.api.post("/inbound/app/hook").json()["verificationStatus"] == "VERIFIED"
    for i in (7, 8):
        env.lifecycle(ids[i], "deactivate")
    for i in (9, 10):
        env.remove_member(admins, ids[i])
    env.wait_idle()
    (events,) = [r for r in _runs(env).values() if r["run_id"].startswith("events-")]
    assert (events["state"], events["admitted"], events["held"]) == ("tripped", 3, 1)
    (kept,) = events["held_users"]
    held_events = [e for e in env.log(kind="event") if e["status"] == "held"]
    assert held_events and {e["okta_user_id"] for e in held_events} == {kept["okta_id"]}
    rows_before = env.rows()
    discarded = env.api.post(f"/inbound/app/safety/{events['run_id']}/discard")
    assert discarded.status_code == 200, discarded.text
    assert (discarded.json()["discarded"], discarded.json()["held"]) == (1, 0)
    assert discarded.json()["discarded_users"] == [kept["okta_id"]]
    assert env.rows() == rows_before  # discarding changes no application user
    # The run let three through: of u7, u8 deactivated and u9, u10 stripped, all but the kept one.
    stripped = sum(1 for row in env.rows().values() if row["active"] and row["roles"] == set())
    expected = (6 + 1, 2) if kept["harm"] == "deactivate" else (6 + 2, 1)
    assert (len(_inactive(env)), stripped) == expected

    trail = env.api.get("/audit").json()["items"]
    actions = [
        (e["action"], e["outcome"], e["target"]) for e in trail if e["action"].startswith("inbound.safety")
    ]
    assert actions == [
        ("inbound.safety.discard", "ok", f"app/{events['run_id']}"),
        ("inbound.safety.release", "failed", "app/sync-0"),
        ("inbound.safety.release", "ok", f"app/sync-{second['id']}"),
    ]
