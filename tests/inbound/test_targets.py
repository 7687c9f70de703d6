"""The write-only targets over the same real flow: an HTTP callback (with retries) and a Kafka
topic (the Tansu broker of the test session), read back by a real consumer."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..servers import free_port
from .conftest import TARGET_TOKEN, InboundEnv, ServerThread


class Callback:
    """The application's callback endpoint: records changes, fails on demand, answers its key."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_next = 0
        self.authorizations: set[str] = set()
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/callback", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.attempts += 1
            self.authorizations.add(request.headers.get("authorization", ""))
            if self.fail_next:
                self.fail_next -= 1
                return Response(status_code=503)
            self.messages.append(body)
        return JSONResponse({"key": f"app-{body['okta_id']}"})

    def of(self, okta_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["okta_id"] == okta_id]


def test_http_callback_target(inbound_env: Callable[..., InboundEnv]) -> None:
    callback = Callback()
    port = free_port()
    with ServerThread(callback.app, port):
        env = inbound_env(
            target={
                "type": "http",
                "url": f"http://127.0.0.1:{port}/callback",
                "token_env": "TARGET_TOKEN",
                "backoff_base_s": 0.01,
            }
        )
        admins = env.create_group("App Admins")
        ann = env.create_user("ann@example.com", title="CTO")
        env.add_member(admins, ann)
        env.seed(
            {"profile": {"login": "nofirst@example.com", "email": "nofirst@example.com", "lastName": "X"}}
        )
        callback.fail_next = 2  # the first change is retried
        first = env.sync()
        assert first["detail"]["counts"] == {"created": 1, "skipped": 1}
        (created,) = callback.messages
        assert callback.attempts == 3 and callback.authorizations == {f"Bearer {TARGET_TOKEN}"}
        assert created["op"] == "upsert" and created["key"] is None and created["okta_id"] == ann
        assert created["user"] == {
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@example.com",
            "title": "CTO",
            "login": "ann@example.com",
            "active": True,
        }
        assert created["roles"] == {"add": ["admin"], "remove": [], "managed": ["admin"]}

        assert env.sync()["detail"]["counts"] == {"unchanged": 1, "skipped": 1}  # nothing sent again
        assert len(callback.messages) == 1

        env.api.post("/inbound/app/hook").raise_for_status()
        env.update_user(ann, title="CEO")
        env.remove_member(admins, ann)
        env.wait_idle()
        changes = callback.of(ann)[1:]
        assert changes and all(m["key"] == f"app-{ann}" for m in changes)  # the key the application answered
        assert changes[-1]["user"]["title"] == "CEO" and changes[-1]["roles"]["managed"] == []
        assert sum(m["roles"]["remove"] == ["admin"] for m in changes) == 1

        removed = env.api.post("/inbound/app/remove").json()
        assert removed["links_cleared"] == 1
        assert callback.messages[-1] == {
            **callback.messages[-1],
            "op": "unlink",
            "okta_id": ann,
            "key": f"app-{ann}",
        }


@pytest.mark.kafka
def test_kafka_target(
    inbound_env: Callable[..., InboundEnv], kafka_bootstrap: str, kafka_topics: Callable[..., list[str]]
) -> None:
    (topic,) = kafka_topics("inbound-users", partitions=2)
    env = inbound_env(target={"type": "kafka", "bootstrap_servers": kafka_bootstrap, "topic": topic})
    editors = env.create_group("App Editors")
    bob = env.create_user("bob@example.com", first="Bob")
    env.add_member(editors, bob)
    assert env.sync()["detail"]["counts"] == {"created": 1}
    env.api.post("/inbound/app/hook").raise_for_status()
    env.lifecycle(bob, "deactivate")
    env.wait_idle()

    messages = asyncio.run(_consume(kafka_bootstrap, topic, expected=2))
    assert [(k, m["op"]) for k, m in messages] == [
        (bob, "upsert"),
        (bob, "upsert"),
    ]  # one key: one partition, in order
    created, deactivated = (m for _, m in messages)
    assert created["user"]["active"] is True and created["roles"]["managed"] == ["editor"]
    assert deactivated["user"]["active"] is False and deactivated["changed"] == ["active"]


async def _consume(bootstrap: str, topic: str, *, expected: int) -> list[tuple[str, dict[str, Any]]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0, 1})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        got: list[tuple[str, dict[str, Any]]] = []
        for _ in range(100):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                got += [(r.key.decode(), json.loads(r.value)) for r in records]
            if len(got) >= expected:
                break
        return got
    finally:
        await consumer.stop()
