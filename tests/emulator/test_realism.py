"""What real Okta does that a client must survive, as emulator options: lists lagging behind
writes (`search_lag_s`), asynchronous lifecycle (`lifecycle_delay_s`, `Prefer: respond-async`),
409 E0000112 while a user is being activated. Time is a `ManualClock` where the test waits for
a transition; activation, answered only once done, waits real (short) time."""

from __future__ import annotations

import threading
import time

import httpx

from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.clock import ManualClock

from .conftest import EmulatorFactory, new_user


def _client(emu: object) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}, timeout=10)  # type: ignore[attr-defined]


def _logins(c: httpx.Client, **params: str) -> list[str]:
    answer = c.get("/api/v1/users", params=params)
    assert answer.status_code == 200, answer.text
    return [u["profile"]["login"] for u in answer.json()]


def test_every_user_list_lags_behind_writes_and_get_does_not(emulator_factory: EmulatorFactory) -> None:
    """L-USERS: search, filter and q are served from an eventually consistent datasource."""
    clock = ManualClock()
    emu = emulator_factory(clock=clock, search_lag_s=1.0)
    with _client(emu) as c:
        uid = c.post("/api/v1/users", json=new_user("lag@example.com", password=True)).json()["id"]
        search = {"search": 'profile.login eq "lag@example.com"'}
        by_filter = {"filter": 'profile.login eq "lag@example.com"'}
        for params in (search, by_filter, {"q": "lag"}, {}):
            assert _logins(c, **params) == []
        assert c.get("/api/v1/users/lag@example.com").status_code == 200  # by login: at once
        clock.advance(1.0)
        for params in (search, by_filter, {"q": "lag"}, {}):
            assert _logins(c, **params) == ["lag@example.com"]
        # a rename: lists show the old login for a while, GET the new one
        c.post(
            f"/api/v1/users/{uid}",
            json={"profile": {"login": "lag2@example.com", "email": "lag2@example.com"}},
        )
        assert _logins(c, search='profile.login sw "lag"') == ["lag@example.com"]
        assert c.get(f"/api/v1/users/{uid}").json()["profile"]["login"] == "lag2@example.com"
        clock.advance(1.0)
        assert _logins(c, search='profile.login sw "lag"') == ["lag2@example.com"]
        # deactivated and deleted: lists keep the old status, then the user, for the lag
        c.delete(f"/api/v1/users/{uid}")
        assert _logins(c, filter='status eq "ACTIVE"') == ["lag2@example.com"]
        c.delete(f"/api/v1/users/{uid}")
        assert c.get(f"/api/v1/users/{uid}").status_code == 404
        assert _logins(c, search='profile.login sw "lag"') == ["lag2@example.com"]
        clock.advance(1.0)
        assert _logins(c, search='profile.login sw "lag"') == []
        assert emu.emulator.state.lag is not None and emu.emulator.state.lag.touched() == set()  # pruned


def test_deactivation_is_asynchronous(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()
    emu = emulator_factory(clock=clock, lifecycle_delay_s=5.0)
    with _client(emu) as c:
        uid = c.post("/api/v1/users", json=new_user("d@example.com", password=True)).json()["id"]
        answer = c.post(f"/api/v1/users/{uid}/lifecycle/deactivate")
        assert (answer.status_code, answer.json()) == (200, {})
        user = c.get(f"/api/v1/users/{uid}").json()
        assert (user["status"], user["transitioningToStatus"]) == ("ACTIVE", "DEPROVISIONED")
        again = c.post(f"/api/v1/users/{uid}/lifecycle/deactivate")  # a retry while it runs
        assert (again.status_code, again.json()) == (200, {})
        assert c.post(f"/api/v1/users/{uid}", json={"profile": {"firstName": "Still"}}).status_code == 200
        clock.advance(5.0)
        user = c.get(f"/api/v1/users/{uid}").json()
        assert user["status"] == "DEPROVISIONED" and "transitioningToStatus" not in user
        assert user["profile"]["firstName"] == "Still"
        refused = c.post(f"/api/v1/users/{uid}/lifecycle/deactivate")
        assert (refused.status_code, refused.json()["errorCode"]) == (403, "E0000038")


def test_delete_with_prefer_respond_async(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()
    emu = emulator_factory(clock=clock, lifecycle_delay_s=2.0)
    prefer = {"Prefer": "respond-async"}
    with _client(emu) as c:
        uid = c.post("/api/v1/users", json=new_user("del@example.com", password=True)).json()["id"]
        assert c.delete(f"/api/v1/users/{uid}", headers=prefer).status_code == 204
        assert c.get(f"/api/v1/users/{uid}").json()["transitioningToStatus"] == "DEPROVISIONED"
        clock.advance(2.0)
        assert c.get(f"/api/v1/users/{uid}").json()["status"] == "DEPROVISIONED"
        assert c.delete(f"/api/v1/users/{uid}", headers=prefer).status_code == 204
        pending = c.get(f"/api/v1/users/{uid}").json()  # the deletion is under way
        assert pending["status"] == "DEPROVISIONED" and "transitioningToStatus" not in pending
        clock.advance(2.0)
        assert c.get(f"/api/v1/users/{uid}").status_code == 404
        other = c.post("/api/v1/users", json=new_user("sync@example.com", password=True)).json()["id"]
        assert c.delete(f"/api/v1/users/{other}").status_code == 204  # without Prefer: at once
        assert c.get(f"/api/v1/users/{other}").json()["status"] == "DEPROVISIONED"


def test_transitions_land_without_further_requests(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(lifecycle_delay_s=0.2)
    with _client(emu) as c:
        uid = c.post("/api/v1/users", json=new_user("t@example.com", password=True)).json()["id"]
        c.post(f"/api/v1/users/{uid}/lifecycle/deactivate")
    deadline = time.monotonic() + 5
    while emu.emulator.state.users[uid].status != "DEPROVISIONED":  # no request: the timer lands it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert EmulatorAdmin(emu.url).users()[0].get("transitioningToStatus") is None


def test_a_timer_that_wakes_before_the_transition_is_due_waits_again(
    emulator_factory: EmulatorFactory,
) -> None:
    """The loop's timer may fire before the org clock says the transition is due (uvloop: up to a
    millisecond early; here a `ManualClock` that has not moved yet): it must re-arm, not give up."""
    clock = ManualClock()
    emu = emulator_factory(clock=clock, lifecycle_delay_s=0.2)
    with _client(emu) as c:
        uid = c.post("/api/v1/users", json=new_user("w@example.com", password=True)).json()["id"]
        c.post(f"/api/v1/users/{uid}/lifecycle/deactivate")
    time.sleep(0.5)  # the first timer has fired: not due yet by the org clock
    assert emu.emulator.state.users[uid].status == "ACTIVE"
    clock.advance(0.2)
    deadline = time.monotonic() + 5
    while emu.emulator.state.users[uid].status != "DEPROVISIONED":  # no request: a re-armed timer lands it
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_activation_answers_when_done_and_updates_meanwhile_get_409(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(lifecycle_delay_s=0.6)
    with _client(emu) as c:
        uid = c.post("/api/v1/users?activate=false", json=new_user("a@example.com", password=True)).json()[
            "id"
        ]
        answers: dict[str, httpx.Response] = {}

        def activate() -> None:
            with _client(emu) as other:
                answers["activate"] = other.post(f"/api/v1/users/{uid}/lifecycle/activate?sendEmail=false")

        thread = threading.Thread(target=activate)
        started = time.monotonic()
        thread.start()
        deadline = time.monotonic() + 5
        while "transitioningToStatus" not in (seen := c.get(f"/api/v1/users/{uid}").json()):
            assert time.monotonic() < deadline
        assert (seen["status"], seen["transitioningToStatus"]) == ("STAGED", "ACTIVE")
        conflict = c.post(f"/api/v1/users/{uid}", json={"profile": {"firstName": "Too-Early"}})
        assert (conflict.status_code, conflict.json()["errorCode"]) == (409, "E0000112")
        assert c.post(f"/api/v1/users/{uid}/lifecycle/activate").status_code == 409
        assert c.delete(f"/api/v1/users/{uid}").status_code == 409
        thread.join(timeout=10)
        assert time.monotonic() - started >= 0.6  # answered only once the activation landed
        assert answers["activate"].status_code == 200
        assert set(answers["activate"].json()) == {"activationUrl", "activationToken"}
        done = c.get(f"/api/v1/users/{uid}").json()
        assert done["status"] == "ACTIVE" and "transitioningToStatus" not in done
        assert c.post(f"/api/v1/users/{uid}", json={"profile": {"firstName": "Now"}}).status_code == 200


def test_lifecycle_is_synchronous_by_default(client: httpx.Client) -> None:
    uid = client.post("/api/v1/users", json=new_user("s@example.com", password=True)).json()["id"]
    client.post(f"/api/v1/users/{uid}/lifecycle/deactivate", headers={"Prefer": "respond-async"})
    user = client.get(f"/api/v1/users/{uid}").json()
    assert user["status"] == "DEPROVISIONED" and "transitioningToStatus" not in user
