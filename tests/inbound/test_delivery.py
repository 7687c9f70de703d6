"""Event-hook deliveries over real HTTP: redelivery applied once, refused secrets never logged,
old and out-of-order events never overwriting newer state."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from idsync.domain.events import okta_time

from .conftest import API_TOKEN, HOOK_SECRET, OKTA_TOKEN, InboundEnv, wait_for

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class AnswerLate:
    """Lets idsync store the first armed delivery, then answers 500 as if Okta had given up
    waiting: Okta retries, and idsync receives the very same events a second time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.armed = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        hook_post = (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/hooks/")
        )
        if not (self.armed and hook_post):
            await self.app(scope, receive, send)
            return
        self.armed = False

        async def drop(message: Any) -> None:
            pass

        await self.app(scope, receive, drop)
        await send(
            {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"too late"})


def test_redelivered_event_is_applied_once(inbound_env: Callable[..., InboundEnv]) -> None:
    late: list[AnswerLate] = []
    env = inbound_env(wrap=lambda app: late.append(AnswerLate(app)) or late[0])
    env.sync()
    env.api.post("/inbound/app/hook").raise_for_status()
    late[0].armed = True
    editors = env.create_group("App Editors")  # no event: groups are not users
    gina = env.create_user("gina@example.com", first="Gina")
    env.add_member(editors, gina)
    env.wait_idle()

    retried = [d for d in env.admin.hook_deliveries()["deliveries"] if d["attempts"] == 2]
    assert len(retried) == 1 and retried[0]["delivered"] and retried[0]["status"] == 204
    delivery_id, uuids = retried[0]["event_id"], retried[0]["event_uuids"]
    deliveries = env.log(kind="delivery", ref=delivery_id)
    assert sorted(d["status"] for d in deliveries) == ["duplicate", "received"]
    for event_uuid in uuids:
        assert len(env.log(kind="event", ref=event_uuid)) == 1  # processed once
    rows = env.rows()
    assert list(rows) == ["gina@example.com"] and rows["gina@example.com"]["roles"] == {"editor"}


def test_wrong_or_missing_secret_is_refused_and_never_logged(
    inbound_env: Callable[..., InboundEnv], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = inbound_env()
    wrong = "Bearer not-the-secret-4242424242"
    body = {
        "eventId": "e1",
        "data": {"events": [_event("user.lifecycle.create", "00uX", "2024-01-01T00:00:00.000Z")]},
    }
    with httpx.Client(base_url=env.server.url) as raw:
        assert raw.post("/hooks/okta/app", json=body, headers={"Authorization": wrong}).status_code == 401
        assert raw.post("/hooks/okta/app", json=body).status_code == 401
        challenge = {"x-okta-verification-challenge": "abc", "Authorization": wrong}
        assert raw.get("/hooks/okta/app", headers=challenge).status_code == 401
        assert (
            raw.post("/hooks/okta/nope", json=body, headers={"Authorization": HOOK_SECRET}).status_code == 404
        )
        # The right secret passes; a body that is no delivery is a 4xx (Okta does not retry those).
        assert (
            raw.post("/hooks/okta/app", json={"x": 1}, headers={"Authorization": HOOK_SECRET}).status_code
            == 400
        )
    # Okta itself, with a hook registered under a wrong secret: verification fails at our door.
    created = env.okta.post(
        "/api/v1/eventHooks",
        json={
            "name": "wrong",
            "events": {"type": "EVENT_TYPE", "items": ["user.lifecycle.create"]},
            "channel": {
                "type": "HTTP",
                "version": "1.0.0",
                "config": {
                    "uri": f"{env.server.url}/hooks/okta/app",
                    "authScheme": {"type": "HEADER", "key": "Authorization", "value": wrong},
                },
            },
        },
    ).json()
    verify = env.okta.post(f"/api/v1/eventHooks/{created['id']}/lifecycle/verify")
    assert verify.status_code == 400 and "401" in verify.text
    # Registration through idsync takes that hook over (same URI), sets the right secret and
    # verifies; registering again changes nothing.
    for _ in range(2):
        registered = env.api.post("/inbound/app/hook").json()
        assert registered["verificationStatus"] == "VERIFIED" and registered["id"] == created["id"]
    assert [h["id"] for h in env.okta.get("/api/v1/eventHooks").json()] == [created["id"]]

    refused = env.log(kind="delivery", status="refused")
    assert len(refused) == 4
    assert {r["summary"] for r in refused} == {
        "refused: wrong secret",
        "refused: missing Authorization header",
    }
    assert env.api.get("/inbound/app").json()["events"] == {}  # nothing was queued
    text = caplog.text + repr([r.__dict__ for r in caplog.records]) + repr(env.log())
    assert "refused an event-hook request" in caplog.text
    for secret in (HOOK_SECRET, HOOK_SECRET.split()[-1], wrong.split()[-1], API_TOKEN, OKTA_TOKEN):
        assert secret not in text


def test_old_and_out_of_order_events_never_overwrite_newer_state(
    inbound_env: Callable[..., InboundEnv],
) -> None:
    env = inbound_env()
    ann = env.create_user("ann@example.com", title="A")
    env.sync()
    env.update_user(ann, title="B")  # no hook registered yet: idsync hears of it only below
    gets_before = _user_gets(env)

    # An event published long before the state idsync applied: already reflected, no API call.
    _deliver(env, _event("user.account.update_profile", ann, "2020-01-01T00:00:00.000Z"))
    env.wait_idle()
    (old,) = env.log(kind="event")
    assert old["status"] == "superseded" and _user_gets(env) == gets_before
    assert env.rows()["ann@example.com"]["title"] == "A"

    # Two updates delivered newest first: both trigger one fetch of the current state (B).
    env.update_user(ann, title="C")
    now = time.time()
    newer = _event("user.account.update_profile", ann, okta_time(now + 2))
    older = _event("user.account.update_profile", ann, okta_time(now + 1))
    _deliver(env, newer)
    _deliver(env, older)
    env.wait_idle()
    assert env.rows()["ann@example.com"]["title"] == "C"
    statuses = sorted(e["status"] for e in env.log(kind="event"))
    assert statuses.count("updated") == 1 and statuses.count("superseded") >= 2

    # A `published` far ahead of our clock is not trusted as a watermark: later events still count.
    _deliver(env, _event("user.account.update_profile", ann, "2099-01-01T00:00:00.000Z"))
    env.update_user(ann, title="D")
    _deliver(env, _event("user.account.update_profile", ann, okta_time(time.time() + 3)))
    env.wait_idle()
    assert env.rows()["ann@example.com"]["title"] == "D"


def _event(event_type: str, user_id: str, published: str) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "published": published,
        "eventType": event_type,
        "version": "0",
        "target": [{"id": user_id, "type": "User", "alternateId": "ann@example.com", "displayName": "Ann"}],
    }


def _deliver(env: InboundEnv, *events: dict[str, Any]) -> None:
    body = {
        "eventType": "com.okta.event_hook",
        "eventId": str(uuid.uuid4()),
        "data": {"events": list(events)},
    }
    r = httpx.post(f"{env.server.url}/hooks/okta/app", json=body, headers={"Authorization": HOOK_SECRET})
    assert r.status_code == 204, r.text
    wait_for(lambda: not env.api.get("/inbound/app").json()["events"].get("queued"))


def _user_gets(env: InboundEnv) -> int:
    """GET /api/v1/users/{id} calls the emulator has served so far."""
    by_status = env.admin.stats(windows=False)["requests"].get("GET /api/v1/users/{id}", {})
    return sum(by_status.values())
