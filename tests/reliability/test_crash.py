"""Crash tests: an import through `idsync serve`, SIGKILLed at random moments (at least ten
times) and restarted each time; then nothing may be lost or duplicated.

Once fed from a file (an NDJSON upload over HTTP, sent again after each kill; SQLite, the single
machine set-up), once from Kafka (PostgreSQL, the scaled-out set-up). The Okta emulator runs as
its own process with a state file, in `sync_and_activate` mode so every create e-mails the user.
The kill moments come from a seeded RNG: `IDSYNC_CRASH_SEED` replays a run, `IDSYNC_CRASH_USERS`
changes its size (default 1,000: the kill points are fractions of the import, so every phase is
still hit at random and the run is dominated by the restarts, not the users; the 20,000-user run
of docs/reliability.md is `IDSYNC_CRASH_USERS=20000`). Figures go to
test-artifacts/reliability/crash-*.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from idsync.adapters.store import Store
from idsync.adapters.store.schema import changes
from idsync.emulator.okta import EmulatorProcess, EmulatorSettings
from tests import servers
from tests.reliability.crash import Harness, KillPlan, Workload, dumps, upload
from tests.reliability.support import OKTA_TOKEN, ServeProcess, ndjson, write_config, write_figures
from tests.reliability.verdict import check_idp, check_store, exact_counters, figures
from tests.service.kafka_support import committed, end_offsets, header, keyed, produce, read_topic

USERS = int(os.environ.get("IDSYNC_CRASH_USERS", "1000"))
TIMEOUT_S = max(900.0, USERS / 15)


def _seed() -> int:
    seed = int(os.environ.get("IDSYNC_CRASH_SEED") or time.time_ns() % 1_000_000)
    print(f"\ncrash harness seed: {seed} (replay with IDSYNC_CRASH_SEED={seed})")
    return seed


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """Its own process, its org in a state file; the rate limit far above what one machine sends
    (a 0.6 s minute) and a little latency, so calls are in flight when a kill lands."""
    settings = EmulatorSettings(
        token=OKTA_TOKEN,
        time_scale=0.01,
        limits={"users": 60_000, "users.get": 60_000, "users.id": 60_000},
        faults={"latency_ms": 4.0, "latency_jitter_ms": 2.0},
        state_file=str(tmp_path / "okta-state.db"),
        seed=5,
    )
    with EmulatorProcess(settings, log_path=tmp_path / "emulator.log") as emu:
        yield emu


def _config(store_url: str, okta_url: str, **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "store": {"url": store_url},
        "service": {"coordination_interval_s": 0.2, "instance_ttl_s": 3.0},
        "idps": {
            "okta": {
                "type": "okta",
                "url": okta_url,
                "token_env": "OKTA_TOKEN",
                "governor": {"budget_share": 1.0, "max_concurrency": 16},
            }
        },
        "tenants": {"t": {"idp": "okta", "mode": "sync_and_activate"}},
    }
    raw.update(extra)
    return raw


def _assert_nothing_lost(emulator: EmulatorProcess, store_url: str, workload: Workload) -> dict[str, Any]:
    idp = check_idp(emulator.url, workload)
    assert not idp.problems(), idp.problems()
    store = check_store(store_url, workload.import_id)
    assert store.states == {"done": workload.changes}, store.states
    assert store.claims == 0 and store.links_pending == 0, (store.claims, store.links_pending)
    assert store.links == workload.users
    problems = exact_counters(store, workload)
    assert not problems, problems
    for key, field in workload.expected_fields().items():
        assert key in store.failed and field in store.failed[key], (key, field, store.failed.get(key))
    return figures(idp, store)


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 300)
def test_file_import_survives_sigkill_at_random_moments(
    emulator: EmulatorProcess, tmp_path: Path, secret_scan: Any
) -> None:
    seed = _seed()
    workload = Workload(USERS, seed, "crash-file")
    body = ndjson(workload.messages())
    store_url = f"sqlite:///{tmp_path / 'idsync.db'}"
    config = write_config(tmp_path / "idsync.toml", _config(store_url, emulator.url))
    serve = ServeProcess(config, tmp_path)
    plan = KillPlan(seed)
    feed = lambda: upload(serve, workload.import_id, body, harness.sent)  # noqa: E731
    harness = Harness(serve, workload.import_id, workload.changes, plan, feed=feed)
    started = time.monotonic()
    try:
        view = harness.run(TIMEOUT_S)
    finally:
        code = serve.terminate()
    assert code == 0, serve.output()
    assert len(harness.kills) >= 10, harness.kills
    result = _assert_nothing_lost(emulator, store_url, workload)
    assert view["received"] == workload.changes
    write_figures(
        "crash-file",
        {
            "seed": seed,
            "users": workload.users,
            "messages": workload.changes,
            "kills": len(harness.kills),
            "kill_phases": dict(Counter(k.phase for k in harness.kills)),
            "incarnations": serve.incarnation,
            "elapsed_s": round(time.monotonic() - started, 1),
            "resend_wait_s": round(harness.resend_wait_s, 1),
            "lost": 0,
            **result,
            "kill_log": dumps(harness.kills),
        },
    )


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 300)
@pytest.mark.postgres
@pytest.mark.kafka
def test_kafka_import_survives_sigkill_at_random_moments(
    emulator: EmulatorProcess,
    tmp_path: Path,
    pg_database: str,
    kafka_bootstrap: str,
    kafka_topics: Callable[..., list[str]],
    secret_scan: Any,
) -> None:
    seed = _seed()
    workload = Workload(USERS, seed, "crash-kafka", with_import_id=True)
    topics = kafka_topics("changes", "results", "progress", "dlq")
    group = f"idsync-{topics[0]}"
    messages = [keyed(m) if isinstance(m, dict) else (b"junk", m) for m in workload.messages()]
    junk = [(b"junk", b"{this is not json"), (b"junk", b"\xff\xfe not utf-8")]
    end = {"control": "import_end", "tenant": "t", "import_id": workload.import_id, "total": workload.changes}
    asyncio.run(produce(kafka_bootstrap, topics[0], [*junk, *messages, (b"t/end", json.dumps(end).encode())]))
    kafka = {
        "bootstrap_servers": kafka_bootstrap,
        "group_id": group,
        "topics": dict(zip(("changes", "results", "progress", "dead_letter"), topics, strict=True)),
        "progress_interval_s": 0.5,
        "publish_interval_s": 0.1,
        **servers.FAST_GROUP,
    }
    config = write_config(tmp_path / "idsync.toml", _config(pg_database, emulator.url, kafka=kafka))
    serve = ServeProcess(config, tmp_path)
    plan = KillPlan(seed, upload_kills=0, recovery_kills=3, progress_kills=9)
    harness = Harness(serve, workload.import_id, workload.changes, plan)
    started = time.monotonic()
    try:
        harness.run(TIMEOUT_S)
        # Every result is published before we look (at least once; a kill may repeat some).
        published = asyncio.run(_wait_published(kafka_bootstrap, topics[1], workload.changes + len(junk)))
    finally:
        code = serve.terminate()
    assert code == 0, serve.output()
    assert len(harness.kills) >= 10, harness.kills
    result = _assert_nothing_lost(emulator, pg_database, workload)

    # No message lost: every offset of the topic is a stored change, the control, or dead-lettered.
    ends = asyncio.run(end_offsets(kafka_bootstrap, topics[0]))
    store = Store(pg_database)
    try:
        with store.engine.connect() as conn:
            refs = set(conn.execute(select(changes.c.origin_ref)).scalars())
    finally:
        store.close()
    offsets = {f"{topics[0]}:{p}:{o}" for p, end_ in ends.items() for o in range(end_)}
    unstored = offsets - refs
    dead = {header(r, "idsync-ref") for r in asyncio.run(read_topic(kafka_bootstrap, topics[3]))}
    control = {ref for ref in unstored if ref not in dead}
    assert len(control) == 1, sorted(control)[:10]  # the import_end control only
    assert len(dead) == len(junk) + len(workload.invalid())
    assert sum(ends.values()) == workload.changes + len(junk) + 1
    # A result for every stored change (duplicates allowed: at least once out).
    assert refs - {None} <= published.keys(), len(refs - published.keys())
    duplicate_results = sum(n - 1 for n in published.values())
    statuses = Counter(json.loads(v) for v in _first_status(published))
    commits = asyncio.run(committed(kafka_bootstrap, group, topics[0]))
    assert {p: commits.get(p) for p in ends} == ends, (commits, ends)
    write_figures(
        "crash-kafka",
        {
            "seed": seed,
            "users": workload.users,
            "messages": sum(ends.values()),
            "kills": len(harness.kills),
            "kill_phases": dict(Counter(k.phase for k in harness.kills)),
            "incarnations": serve.incarnation,
            "elapsed_s": round(time.monotonic() - started, 1),
            "lost": len(offsets - refs - dead - control),
            "dead_lettered": len(dead),
            "results_published": len(published),
            "results_repeated": duplicate_results,
            "result_statuses": dict(statuses),
            **result,
            "kill_log": dumps(harness.kills),
        },
    )


_STATUSES: dict[str, str] = {}


def _first_status(published: dict[str, int]) -> list[str]:
    return [json.dumps(_STATUSES[ref]) for ref in published if ref in _STATUSES]


async def _wait_published(bootstrap: str, topic: str, expected: int) -> dict[str, int]:
    """Results by change reference (how often each was sent), once every change has one."""
    deadline = time.monotonic() + 300
    while True:
        records = await read_topic(bootstrap, topic)
        seen: Counter[str] = Counter()
        for r in records:
            ref = header(r, "idsync-ref")
            if ref is not None:
                seen[ref] += 1
                _STATUSES.setdefault(ref, json.loads(r.value)["status"])
        if len(seen) >= expected or time.monotonic() > deadline:
            return dict(seen)
        await asyncio.sleep(0.2)
