"""Kafka controls that steer an import (`import_pause`, `import_resume`, `import_cancel`), on a
real Kafka-protocol broker (Tansu), a PostgreSQL store and the Okta emulator (slowed down, so
the import is caught half way): applied in order, audited, reported on the progress topic, and
the import's unsent users answered `cancelled` on the results topic."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.web.app import create_app

from .kafka_support import header, kafka_config, keyed, produce, read_topic
from .support import AUTH, OKTA_TOKEN, ServerThread, change, eventually, settings
from .test_kafka import _eventually_async

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
N = 150


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.02)) as emu:
        EmulatorAdmin(emu.url).set_faults(latency_ms=60)
        yield emu


def _control(kind: str, **fields: Any) -> tuple[bytes, bytes]:
    return b"t/imp-k", json.dumps({"control": f"import_{kind}", **fields}).encode()


async def test_pause_resume_and_cancel_an_import_over_kafka(
    emulator: EmulatorThread,
    tmp_path: Path,
    pg_database: str,
    kafka_bootstrap: str,
    kafka_topics: Callable[..., list[str]],
) -> None:
    topics = kafka_topics("changes", "results", "progress", "dlq", partitions=1)
    start = {"control": "import_start", "tenant": "t", "import_id": "imp-k", "expected": N}
    await produce(
        kafka_bootstrap,
        topics[0],
        [(b"t/imp-k", json.dumps(start).encode()), *(keyed(change(i, import_id="imp-k")) for i in range(N))],
    )
    cfg = settings(
        pg_database,
        emulator.url,
        kafka=kafka_config(kafka_bootstrap, topics, f"idsync-{topics[0]}"),
        governor={"max_concurrency": 2},
    )

    async def progress_states() -> list[str]:
        return [json.loads(r.value)["state"] for r in await read_topic(kafka_bootstrap, topics[2])]

    with ServerThread(create_app(cfg)) as server, httpx.Client(base_url=server.url, headers=AUTH) as c:

        def view() -> dict[str, Any]:
            body: dict[str, Any] = c.get("/imports/imp-k").json()
            return body

        eventually(lambda: c.get("/imports/imp-k").status_code == 200 and view()["done"] >= 5)
        await produce(kafka_bootstrap, topics[0], [_control("pause", tenant="t", import_id="imp-k")])
        eventually(lambda: view()["state"] == "paused")
        await _eventually_async(lambda: _has(progress_states, "paused"))
        # Not applied: another tenant's import of that id (none), a control missing its import.
        await produce(
            kafka_bootstrap,
            topics[0],
            [
                _control("cancel", tenant="other", import_id="imp-k"),
                _control("resume", tenant="t"),
                _control("resume", tenant="t", import_id="imp-k"),
            ],
        )
        eventually(lambda: view()["state"] == "running")
        await produce(kafka_bootstrap, topics[0], [_control("cancel", tenant="t", import_id="imp-k")])
        final = eventually(lambda: (v := view())["state"] == "cancelled" and v["pending"] == 0 and v)
        trail = c.get("/audit", params={"tenant": "t"}).json()["items"]

        async def every_result() -> list[Any] | None:
            got = await read_topic(kafka_bootstrap, topics[1])
            return got if len(got) >= N else None

        results = await _eventually_async(every_result)
        await _eventually_async(lambda: _has(progress_states, "cancelled"))

    assert final["created"] + final["cancelled"] == final["received"] == N and final["cancelled"] > 0
    statuses = Counter(json.loads(r.value)["status"] for r in results)
    assert statuses == {"created": final["created"], "cancelled": final["cancelled"]}
    cancelled = [json.loads(r.value) for r in results if json.loads(r.value)["status"] == "cancelled"]
    assert {b["reason"]["code"] for b in cancelled} == {"import_cancelled"}
    assert all(header(r, "idsync-type") == "result" for r in results)
    assert len(EmulatorAdmin(emulator.url).users()) == final["created"]
    actor = f"kafka:{topics[0]}"
    assert [(e["action"], e["actor"], e["outcome"]) for e in reversed(trail)] == [
        ("import.pause", actor, "ok"),
        ("import.resume", actor, "ok"),
        ("import.cancel", actor, "ok"),
    ]
    dead = [json.loads(r.value) for r in await read_topic(kafka_bootstrap, topics[3])]
    assert [d["reason"]["message"] for d in dead] == ["import_id: is required"]


async def _has(states: Callable[[], Any], wanted: str) -> bool:
    return wanted in await states()
