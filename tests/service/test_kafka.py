"""The Kafka transport against a real Kafka-protocol broker (Tansu) and the Okta emulator:
changes in, one result per change out, import progress, dead letters, offsets committed only
for stored changes, and a redelivered topic applied once."""

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

from .kafka_support import committed, end_offsets, header, kafka_config, keyed, produce, read_topic
from .support import AUTH, OKTA_TOKEN, ServerThread, change, settings

pytestmark = pytest.mark.kafka


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.02)) as emu:
        yield emu


def messages(n: int) -> list[tuple[bytes, bytes]]:
    """n import changes, one of them invalid, then the import's end; a lone interactive change;
    a value that is not JSON and an unknown control (both dead letters)."""
    batch = [change(i, import_id="imp-k") for i in range(n)]
    batch[3]["user"]["email"] = "not-an-address"
    out = [keyed(m) for m in batch]
    out.append(
        (
            b"t/app/end",
            json.dumps({"control": "import_end", "tenant": "t", "import_id": "imp-k", "total": n}).encode(),
        )
    )
    out.append(keyed(change(1000)))
    out.append((b"t/app/garbage", b"{this is not json"))
    out.append((b"t/app/ctl", b'{"control": "reboot"}'))
    return out


async def test_changes_in_results_progress_and_dead_letters_out(
    emulator: EmulatorThread,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_topics: Callable[..., list[str]],
) -> None:
    topics = kafka_topics("changes", "results", "progress", "dlq")
    group = f"idsync-{topics[0]}"
    n = 30
    await produce(kafka_bootstrap, topics[0], messages(n))
    cfg = settings(
        f"sqlite:///{tmp_path / 'idsync.db'}",
        emulator.url,
        kafka=kafka_config(kafka_bootstrap, topics, group),
    )

    async def final_progress() -> dict[str, Any] | None:
        for record in reversed(await read_topic(kafka_bootstrap, topics[2])):
            body: dict[str, Any] = json.loads(record.value)
            if body["import_id"] == "imp-k" and body["state"] == "completed":
                return body
        return None

    with ServerThread(create_app(cfg)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        progress = await _eventually_async(final_progress)
        assert (progress["received"], progress["created"], progress["failed"], progress["done"]) == (
            n,
            n - 1,
            1,
            n,
        )
        view = client.get("/imports/imp-k", headers=AUTH).json()
        assert (view["origin"], view["total"], view["created"], view["failed"]) == ("kafka", n, n - 1, 1)

        async def all_results() -> list[Any] | None:
            got = await read_topic(kafka_bootstrap, topics[1])
            return got if len({header(r, "idsync-ref") for r in got}) >= n + 2 else None

        results = await _eventually_async(all_results)
        metrics = client.get("/metrics", headers=AUTH).text
    # One result per change (n import changes, the interactive one, the non-JSON value).
    by_ref = {header(r, "idsync-ref"): json.loads(r.value) for r in results}
    assert len(by_ref) == n + 2
    statuses = Counter(body["status"] for body in by_ref.values())
    assert statuses == {"created": n, "failed": 2}
    bad = next(b for b in by_ref.values() if b.get("key") == "3")
    assert bad["reason"]["code"] == "invalid" and "email" in bad["reason"]["message"]
    for record in results:  # keyed like the changes: one user's results share a partition
        body = json.loads(record.value)
        if body["tenant"] == "t":
            assert record.key == f"t/{body['source']}/{body['key']}".encode()
    # Dead letters: the invalid change, the non-JSON value, the unknown control, with reasons.
    dead = [json.loads(r.value) for r in await read_topic(kafka_bootstrap, topics[3])]
    assert sorted(d["key"] for d in dead) == ["t/app/3", "t/app/ctl", "t/app/garbage"]
    assert all(d["reason"]["message"] for d in dead)
    # The IdP has every valid user once; every consumed offset is committed.
    logins = Counter(u["login"] for u in EmulatorAdmin(emulator.url).users())
    assert set(logins) == {f"user{i}@example.com" for i in [*range(n), 1000] if i != 3}
    assert set(logins.values()) == {1}
    assert await committed(kafka_bootstrap, group, topics[0]) == await end_offsets(kafka_bootstrap, topics[0])
    assert 'idsync_kafka_consumer_lag{partition="0"' in metrics

    # Every message delivered again (a new consumer group on the same store): applied once.
    calls = EmulatorAdmin(emulator.url).stats()["rate_limit"]["totals"]["calls"]
    again = cfg.model_copy(update={"kafka": cfg.kafka.model_copy(update={"group_id": group + "-again"})})  # type: ignore[union-attr]
    with ServerThread(create_app(again)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        ends = await end_offsets(kafka_bootstrap, topics[0])
        await _eventually_async(lambda: _committed_all(kafka_bootstrap, group + "-again", topics[0], ends))
        view = client.get("/imports/imp-k", headers=AUTH).json()
    assert (view["received"], view["created"], view["failed"]) == (n, n - 1, 1)
    assert EmulatorAdmin(emulator.url).stats()["rate_limit"]["totals"]["calls"] == calls
    assert len(await read_topic(kafka_bootstrap, topics[1])) == len(results)


async def _committed_all(bootstrap: str, group: str, topic: str, ends: dict[int, int]) -> bool:
    return await committed(bootstrap, group, topic) == ends


async def _eventually_async(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout_s} s; last value: {last!r}")
