"""Event hooks: registration, the verification handshake and deliveries to a real local receiver."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin

from .conftest import new_user
from .receiver import HookReceiver

EVENTS = [
    "user.lifecycle.create",
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.unsuspend",
    "user.lifecycle.delete.initiated",
    "user.account.update_profile",
    "group.user_membership.add",
    "group.user_membership.remove",
]


def _hook(uri: str, items: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": "idsync inbound",
        "events": {"type": "EVENT_TYPE", "items": items or EVENTS},
        "channel": {
            "type": "HTTP",
            "version": "1.0.0",
            "config": {
                "uri": uri,
                "headers": [{"key": "X-Extra", "value": "extra-value"}],
                "authScheme": {"type": "HEADER", "key": "Authorization", "value": "Bearer s3cret"},
            },
        },
    }


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def receiver() -> Any:
    with HookReceiver() as r:
        yield r


def _verified_hook(
    client: httpx.Client, receiver: HookReceiver, items: list[str] | None = None
) -> dict[str, Any]:
    hook = client.post("/api/v1/eventHooks", json=_hook(receiver.url, items)).json()
    assert hook["status"] == "ACTIVE"
    assert hook["verificationStatus"] == "UNVERIFIED"
    assert hook["channel"]["config"]["authScheme"] == {
        "type": "HEADER",
        "key": "Authorization",
    }  # value write-only
    verified = client.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/verify")
    assert verified.status_code == 200
    assert verified.json()["verificationStatus"] == "VERIFIED"
    return dict(verified.json())


def test_verification_handshake(client: httpx.Client, receiver: HookReceiver) -> None:
    _verified_hook(client, receiver)
    [get] = receiver.requests
    assert get["method"] == "GET"
    assert get["headers"]["x-okta-verification-challenge"]
    assert get["headers"]["Authorization"] == "Bearer s3cret"


def test_failed_verification_is_400(client: httpx.Client, receiver: HookReceiver) -> None:
    receiver.wrong_verification = True
    hook = client.post("/api/v1/eventHooks", json=_hook(receiver.url)).json()
    r = client.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/verify")
    assert (r.status_code, r.json()["errorCode"]) == (400, "E0000001")
    assert client.get(f"/api/v1/eventHooks/{hook['id']}").json()["verificationStatus"] == "UNVERIFIED"


def test_events_are_delivered_with_the_auth_header(
    client: httpx.Client, receiver: HookReceiver, admin: EmulatorAdmin
) -> None:
    hook = _verified_hook(client, receiver)
    user = client.post("/api/v1/users?activate=true", json=new_user("ev@example.com", password=True)).json()
    client.post(f"/api/v1/users/{user['id']}", json={"profile": {"title": "Chief"}})
    group = client.post("/api/v1/groups", json={"profile": {"name": "Ops"}}).json()
    client.put(f"/api/v1/groups/{group['id']}/users/{user['id']}")
    client.delete(f"/api/v1/groups/{group['id']}/users/{user['id']}")
    client.post(f"/api/v1/users/{user['id']}/lifecycle/suspend")
    client.post(f"/api/v1/users/{user['id']}/lifecycle/unsuspend")
    client.delete(f"/api/v1/users/{user['id']}")
    client.delete(f"/api/v1/users/{user['id']}")
    _wait_for(lambda: len(receiver.events()) >= 9)
    types = [e["eventType"] for e in sorted(receiver.events(), key=lambda e: e["published"])]
    assert sorted(types) == sorted(EVENTS)
    for event in receiver.events():  # Okta's timestamp format, with milliseconds
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["published"]), event["published"]
    post = receiver.posts()[0]
    assert post["headers"]["Authorization"] == "Bearer s3cret"
    assert post["headers"]["X-Extra"] == "extra-value"
    assert post["headers"]["Content-Type"] == "application/json"
    payload = json.loads(post["body"])
    assert payload["eventType"] == "com.okta.event_hook"
    assert payload["cloudEventsVersion"] == "0.1"
    assert payload["source"].endswith(f"/api/v1/eventHooks/{hook['id']}")
    event = receiver.events()[0]
    assert event["target"][0] == {
        "id": user["id"],
        "type": "User",
        "alternateId": "ev@example.com",
        "displayName": "Ev Tester",
        "detailEntry": None,
    }
    membership = next(e for e in receiver.events() if e["eventType"] == "group.user_membership.add")
    assert [t["type"] for t in membership["target"]] == ["User", "UserGroup"]
    assert len({e["uuid"] for e in receiver.events()}) == len(receiver.events())
    assert admin.hook_deliveries()["counts"]["failed"] == 0


def _settled(admin: EmulatorAdmin) -> bool:
    counts = admin.hook_deliveries()["counts"]
    return bool(counts["events_queued"] and counts["events_done"] == counts["events_queued"])


def test_only_subscribed_active_verified_hooks_receive(
    client: httpx.Client, receiver: HookReceiver, admin: EmulatorAdmin
) -> None:
    unverified = client.post("/api/v1/eventHooks", json=_hook(receiver.url)).json()
    hook = _verified_hook(client, receiver, ["group.user_membership.add"])
    client.post("/api/v1/users", json=new_user("quiet@example.com", password=True))
    client.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/deactivate")
    user = client.post("/api/v1/users", json=new_user("quiet2@example.com", password=True)).json()
    group = client.post("/api/v1/groups", json={"profile": {"name": "G"}}).json()
    client.put(f"/api/v1/groups/{group['id']}/users/{user['id']}")
    client.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/activate")
    client.delete(f"/api/v1/groups/{group['id']}/users/{user['id']}")
    client.put(f"/api/v1/groups/{group['id']}/users/{user['id']}")
    _wait_for(lambda: _settled(admin))
    assert [e["eventType"] for e in receiver.events()] == ["group.user_membership.add"]
    assert unverified["verificationStatus"] == "UNVERIFIED"


def test_5xx_is_retried_once_4xx_is_not(
    client: httpx.Client, receiver: HookReceiver, admin: EmulatorAdmin
) -> None:
    _verified_hook(client, receiver, ["user.lifecycle.create"])
    receiver.post_statuses = [503, 200, 400]
    client.post("/api/v1/users", json=new_user("r1@example.com", password=True))
    _wait_for(lambda: admin.hook_deliveries()["counts"]["delivered"] == 1)
    client.post("/api/v1/users", json=new_user("r2@example.com", password=True))
    _wait_for(lambda: admin.hook_deliveries()["counts"]["failed"] == 1)
    deliveries = admin.hook_deliveries()["deliveries"]
    assert [(d["attempts"], d["status"]) for d in deliveries] == [(2, 200), (1, 400)]
    assert len(receiver.posts()) == 3


def test_delivery_never_blocks_the_api_call(client: httpx.Client, receiver: HookReceiver) -> None:
    _verified_hook(client, receiver, ["user.lifecycle.create"])
    receiver.post_delay_s = 1.0
    r = client.post("/api/v1/users", json=new_user("fast@example.com", password=True))
    assert r.status_code == 200
    assert not receiver.finished.is_set()  # the receiver is still busy when the API has answered
    _wait_for(receiver.finished.is_set)


def test_hook_rules(client: httpx.Client) -> None:
    r = client.post("/api/v1/eventHooks", json=_hook("http://example.com/hook"))
    assert (r.status_code, r.json()["errorCode"]) == (400, "E0000001")  # HTTPS only, except 127.0.0.1
    r = client.post("/api/v1/eventHooks", json=_hook("https://example.com/hook", ["user.session.start"]))
    assert r.status_code == 400
    hook = client.post("/api/v1/eventHooks", json=_hook("https://example.com/hook")).json()
    assert client.delete(f"/api/v1/eventHooks/{hook['id']}").status_code == 400  # only INACTIVE hooks
    client.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/deactivate")
    assert client.delete(f"/api/v1/eventHooks/{hook['id']}").status_code == 204
    assert client.get(f"/api/v1/eventHooks/{hook['id']}").json()["errorSummary"].endswith("(Webhook)")
