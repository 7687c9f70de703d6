"""Kafka imports as applications send them, against a real Kafka-protocol broker (Tansu) and the
Okta emulator: `import_start` with `expected` (complete without `import_end`) and with
`link_existing`, a batch of changes in one message, a malformed message answered under its
Kafka key, and the import's API calls and final rate in its progress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.web.app import create_app

from .kafka_support import header, kafka_config, read_topic
from .support import AUTH, OKTA_TOKEN, ServerThread, change, settings
from .test_kafka import _eventually_async

pytestmark = pytest.mark.kafka
N = 12  # changes of the batch import
EXISTING, NEW = 5, 3  # accounts the org holds already, users new to it (the link-existing import)


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.02)) as emu:
        yield emu


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> list[int]:
    """Send in order; the offset of each message."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        return [(await producer.send_and_wait(topic, value, key=key)).offset for key, value in messages]
    finally:
        await producer.stop()


def _control(kind: str, import_id: str, **fields: Any) -> tuple[bytes, bytes]:
    body = {"control": kind, "tenant": "t", "import_id": import_id, **fields}
    return import_id.encode(), json.dumps(body).encode()


def _messages() -> list[tuple[bytes, bytes]]:
    batch = [change(i, import_id="imp-batch") for i in range(N)]
    batch[4]["user"]["email"] = "not-an-address"
    linked = [change(100 + i, import_id="imp-linked") for i in range(EXISTING + NEW)]
    return [
        _control("import_start", "imp-batch", expected=N),
        (b"t/app/batch-1", json.dumps(batch[: N // 2]).encode()),  # one message, N/2 changes
        (b"t/app/batch-2", json.dumps(batch[N // 2 :]).encode()),
        (b"t/app/broken", b'{"tenant": "t", "op": "upsert", '),  # cut off: not JSON
        _control("import_start", "imp-linked", expected=EXISTING + NEW, link_existing=True),
        *[(f"t/app/{m['key']}".encode(), json.dumps(m).encode()) for m in linked],
    ]


async def test_imports_sent_as_applications_send_them(
    emulator: EmulatorThread,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_topics: Callable[..., list[str]],
) -> None:
    admin = EmulatorAdmin(emulator.url)
    admin._post(  # accounts made before idsync came: the link-existing import's first users
        "/users",
        {"users": [{"profile": change(100 + i)["user"]} for i in range(EXISTING)]},
    )
    topics = kafka_topics("changes", "results", "progress", "dlq", partitions=1)  # one order for all
    offsets = await _produce(kafka_bootstrap, topics[0], _messages())
    cfg = settings(
        f"sqlite:///{tmp_path / 'idsync.db'}",
        emulator.url,
        tenants={"t": {"idp": "okta", "mode": "sync", "existing_account": "adopt_unlinked"}},
        kafka=kafka_config(kafka_bootstrap, topics, f"idsync-{topics[0]}"),
    )

    async def finals() -> dict[str, dict[str, Any]] | None:
        done = {}
        for record in await read_topic(kafka_bootstrap, topics[2]):
            body = json.loads(record.value)
            if body["state"] == "completed":
                done[body["import_id"]] = body
        return done if len(done) == 2 else None

    with ServerThread(create_app(cfg)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        progress = await _eventually_async(finals, timeout_s=120)  # no import_end was sent
        views = {i: client.get(f"/imports/{i}", headers=AUTH).json() for i in progress}

        async def all_results() -> list[Any] | None:
            got = await read_topic(kafka_bootstrap, topics[1])
            return got if len(got) >= N + 1 + EXISTING + NEW else None

        results = await _eventually_async(all_results)
    posts = admin.stats(windows=False)["requests"]["POST /api/v1/users"]
    lists = admin.stats(windows=False)["requests"]["GET /api/v1/users"]

    # The batch import: one result per element, each with its own reference; the invalid element
    # is dead-lettered alone, with its index; created users cost one call each.
    batch = progress["imp-batch"]
    assert (batch["received"], batch["created"], batch["failed"], batch["total"]) == (N, N - 1, 1, N)
    by_ref = {header(r, "idsync-ref"): json.loads(r.value) for r in results}
    first, second = offsets[1], offsets[2]
    refs = [f"{topics[0]}:0:{first}:{i}" for i in range(N // 2)]
    refs += [f"{topics[0]}:0:{second}:{i}" for i in range(N - N // 2)]
    assert [by_ref[r]["key"] for r in refs] == [str(i) for i in range(N)]
    assert by_ref[refs[4]]["status"] == "failed" and "email" in by_ref[refs[4]]["reason"]["message"]
    dead = [json.loads(r.value) for r in await read_topic(kafka_bootstrap, topics[3])]
    element = next(d for d in dead if d.get("index") is not None)
    assert (element["offset"], element["index"], json.loads(element["value"])["key"]) == (first, 4, "4")
    # The malformed message: its result is keyed by the Kafka key it came with, not `?/?/?`.
    broken = by_ref[f"{topics[0]}:0:{offsets[3]}"]
    assert (broken["tenant"], broken["source"], broken["key"], broken["status"]) == (
        "t",
        "app",
        "broken",
        "failed",
    )
    assert (
        next(r for r in results if header(r, "idsync-ref") == f"{topics[0]}:0:{offsets[3]}").key
        == b"t/app/broken"
    )
    # The link-existing import: the org's accounts were listed once and linked; only new users created.
    linked = progress["imp-linked"]
    assert (linked["unchanged"], linked["created"], linked["failed"]) == (EXISTING, NEW, 0)
    assert lists == {"200": 1}
    # API calls per import, the same in the progress message and GET /imports/{id}: one create per
    # created user, plus the listing page for the link-existing import; all the org was asked.
    assert (batch["api_calls"], linked["api_calls"]) == (N - 1, NEW + 1)
    assert posts == {"200": N - 1 + NEW}
    for import_id, final in progress.items():
        view = views[import_id]
        assert view["api_calls"] == final["api_calls"]
        average = view["done"] / (view["finished_at"] - view["started_at"])
        assert view["rate"] == pytest.approx(average) and final["rate"] == pytest.approx(average)
