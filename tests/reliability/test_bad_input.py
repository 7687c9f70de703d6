"""The bad-input corpus on every way in: HTTP (`POST /changes`), an NDJSON import over HTTP,
a file import (`idsync import`, its own process and store) and Kafka. Each malformed input gets
an error naming the field and the reason, the service keeps running, and the valid messages
sent around them (logins full of search-grammar characters) are all created, exactly as sent.
Figures go to test-artifacts/reliability/bad-input.json."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from idsync.adapters.store import Store
from idsync.adapters.store.schema import changes
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from tests import servers
from tests.reliability.corpus import HAND_MADE, SHARED_HOLDER, WAYS, Case, load, valid
from tests.reliability.support import (
    AUTH,
    ENV,
    OKTA_TOKEN,
    ServeProcess,
    eventually,
    write_config,
    write_figures,
)
from tests.service.kafka_support import header, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
CASES = load()
FIGURES: dict[str, Any] = {}


@dataclass
class Service:
    serve: ServeProcess
    emulator: EmulatorThread
    topics: dict[str, str]
    bootstrap: str
    tmp: Path
    problems: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("bad-input")
    suffix = tmp.name.replace("_", "-")
    topics = {
        name: servers.create_topic(kafka_bootstrap, f"bad-{name}-{suffix}", 1)
        for name in ("changes", "results", "progress", "dlq")
    }
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.01, record_exchanges=True)) as emu:
        raw = {
            "store": {"url": f"sqlite:///{tmp / 'idsync.db'}"},
            "service": {"interactive_wait_s": 10.0},
            "idps": {"okta": {"type": "okta", "url": emu.url, "token_env": "OKTA_TOKEN"}},
            "tenants": {"t": {"idp": "okta", "mode": "sync"}},
            "kafka": {
                "bootstrap_servers": kafka_bootstrap,
                "group_id": f"bad-{suffix}",
                "topics": {
                    "changes": topics["changes"],
                    "results": topics["results"],
                    "progress": topics["progress"],
                    "dead_letter": topics["dlq"],
                },
                "publish_interval_s": 0.1,
                **servers.FAST_GROUP,
            },
        }
        serve = ServeProcess(write_config(tmp / "idsync.toml", raw), tmp, verbose=True).start().ready()
        _prepare_shared_logins(serve, emu)
        try:
            yield Service(serve, emu, topics, kafka_bootstrap, tmp)
        finally:
            code = serve.terminate()
        assert code == 0, serve.output()


def _prepare_shared_logins(serve: ServeProcess, emu: EmulatorThread) -> None:
    """The accounts the shared-login cases collide with: one linked to an identity of tenant t,
    one made by hand in the org (no identity links it)."""
    answer = httpx.post(f"{serve.url}/changes", json=SHARED_HOLDER, headers=AUTH, timeout=60)
    assert answer.status_code == 200 and answer.json()["result"]["status"] == "created", answer.text
    EmulatorAdmin(emu.url)._post("/users", {"users": [{"profile": HAND_MADE, "status": "ACTIVE"}]})


def _created(service: Service, prefix: str, n: int) -> list[str]:
    """The logins among the valid messages that are not in the IdP exactly once, as sent."""
    accounts = Counter(u["login"] for u in EmulatorAdmin(service.emulator.url).users())
    wrong = []
    for i in range(n):
        m = valid(i)
        login = f"{prefix}{m['user']['login']}"
        if accounts[login] != 1:
            wrong.append(f"{login}: {accounts[login]} accounts")
    return wrong


def _prefixed(n: int, prefix: str) -> dict[str, Any]:
    m = valid(n)
    m["key"] = f"{prefix}{m['key']}"
    login = f"{prefix}{m['user']['login']}"
    m["user"] = {**m["user"], "login": login, "email": login}
    return m


def _alive(service: Service) -> None:
    assert service.serve.alive(), service.serve.output()
    held = {
        u["login"].lower(): u["profile"]["firstName"] for u in EmulatorAdmin(service.emulator.url).users()
    }
    assert held["shared.admin@example.com"] == "Ann" and held["hand.made@example.com"] == "Hand"  # untouched
    assert httpx.get(f"{service.serve.url}/healthz", timeout=5).status_code == 200
    readyz = httpx.get(f"{service.serve.url}/readyz", timeout=5)
    assert readyz.status_code == 200, readyz.text


def _record(way: str, cases: list[Case], problems: list[str], valid_sent: int) -> None:
    FIGURES[way] = {"inputs": len(cases), "answered_right": len(cases) - len(problems), "valid": valid_sent}
    write_figures(
        "bad-input",
        {
            "cases": len(CASES),
            "ways": {w: FIGURES[w] for w in WAYS if w in FIGURES},
            "inputs_tried": sum(f["inputs"] for f in FIGURES.values()),
        },
    )


def _detail(answer: httpx.Response) -> str:
    """What the HTTP API said: an error's detail, or a failed result's reason."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text
    if isinstance(body, dict) and body.get("result"):
        reason = body["result"].get("reason") or {}
        return f"{body['result'].get('status')}: {reason.get('code')}: {reason.get('message')}"
    return json.dumps(body.get("detail", body) if isinstance(body, dict) else body)


def test_http_single_changes(service: Service, secret_scan: Any) -> None:
    cases = [c for c in CASES if "http" in c.ways]
    problems: list[str] = []
    with httpx.Client(base_url=service.serve.url, headers=AUTH, timeout=60) as client:
        for n, case in enumerate(cases):
            ok = client.post("/changes", json=_prefixed(n, "http-"))
            assert ok.status_code == 200 and ok.json()["result"]["status"] == "created", ok.text
            answer = client.post(
                "/changes", content=case.raw or b"", headers={"Content-Type": "application/json"}
            )
            secret_scan.add_text(f"bad input http {case.name}", answer.text[:100_000])
            if answer.status_code == 200 and answer.json().get("result", {}).get("status") != "failed":
                problems.append(f"{case.name} (http): accepted: {answer.text[:300]}")
                continue
            if answer.status_code >= 500:
                problems.append(f"{case.name} (http): {answer.status_code} {answer.text[:300]}")
                continue
            if len(answer.content) > 20_000:
                problems.append(f"{case.name} (http): an error of {len(answer.content):,} bytes")
            problem = case.check("http", _detail(answer))
            if problem:
                problems.append(problem)
        last = client.post("/changes", json=_prefixed(len(cases), "http-"))
        assert last.status_code == 200, last.text
    _alive(service)
    _record("http", cases, problems, len(cases) + 1)
    assert not problems, "\n".join(problems)
    assert not _created(service, "http-", len(cases) + 1)


def test_ndjson_import(service: Service, secret_scan: Any) -> None:
    cases = [c for c in CASES if "ndjson" in c.ways]
    body = (
        b"".join(
            json.dumps(_prefixed(n, "nd-")).encode() + b"\n" + (case.raw or b"") + b"\n"
            for n, case in enumerate(cases)
        )
        + json.dumps(_prefixed(len(cases), "nd-")).encode()
        + b"\n"
    )
    answer = httpx.post(
        f"{service.serve.url}/imports",
        params={"tenant": "t", "import_id": "bad-ndjson"},
        content=body,
        headers={**AUTH, "Content-Type": "application/x-ndjson"},
        timeout=300,
    )
    assert answer.status_code == 202, answer.text
    view = eventually(
        lambda: (v := service.serve.get("/imports/bad-ndjson")) and v["state"] == "completed" and v,
        timeout_s=120,
    )
    rows = service.serve.get("/imports/bad-ndjson/results", limit=5000)["items"]
    secret_scan.add_text("bad input ndjson results", json.dumps(rows)[:1_000_000])
    assert len(rows) == 2 * len(cases) + 1 == view["received"]
    problems = []
    for n, case in enumerate(cases):
        row = rows[2 * n + 1]
        if row["status"] != "failed" or not row["reason"]:
            problems.append(f"{case.name} (ndjson): {row['status']}")
            continue
        problem = case.check("ndjson", f"{row['reason']['code']}: {row['reason']['message']}")
        if problem:
            problems.append(problem)
    assert all(rows[2 * n]["status"] == "created" for n in range(len(cases) + 1))
    _alive(service)
    _record("ndjson", cases, problems, len(cases) + 1)
    assert not problems, "\n".join(problems)
    assert not _created(service, "nd-", len(cases) + 1)


def test_file_import(service: Service, tmp_path: Path, secret_scan: Any) -> None:
    """`idsync import FILE` in its own process, on its own store (SQLite is for one process)."""
    cases = [c for c in CASES if "file" in c.ways]
    path = tmp_path / "bad.jsonl"
    with path.open("wb") as fh:
        for n, case in enumerate(cases):
            fh.write(json.dumps(_prefixed(n, "file-")).encode() + b"\n" + (case.raw or b"") + b"\n")
        fh.write(json.dumps(_prefixed(len(cases), "file-")).encode() + b"\n")
    store_url = f"sqlite:///{tmp_path / 'file.db'}"
    raw = {
        "store": {"url": store_url},
        "idps": {"okta": {"type": "okta", "url": service.emulator.url, "token_env": "OKTA_TOKEN"}},
        "tenants": {"t": {"idp": "okta", "mode": "sync"}},
    }
    config = write_config(tmp_path / "idsync.toml", raw)
    done = subprocess.run(
        [sys.executable, "-m", "idsync.cli", "import", str(path), "--tenant", "t", "--import-id", "bad-file"],
        env={**os.environ, **ENV, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        input="",
    )
    (tmp_path / "import-output.log").write_text(done.stdout + done.stderr)
    secret_scan.add_file(tmp_path / "import-output.log")
    assert done.returncode == 1, done.stdout + done.stderr  # 1: some users failed
    assert config.exists()
    store = Store(store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(changes.c.status, changes.c.reason_code, changes.c.reason_message)
                .where(changes.c.import_id == "bad-file")
                .order_by(changes.c.id)
            ).all()
    finally:
        store.close()
    assert len(rows) == 2 * len(cases) + 1, len(rows)
    problems = []
    for n, case in enumerate(cases):
        status, code, message = rows[2 * n + 1]
        if status != "failed":
            problems.append(f"{case.name} (file): {status}")
            continue
        problem = case.check("file", f"{code}: {message}")
        if problem:
            problems.append(problem)
    assert all(rows[2 * n][0] == "created" for n in range(len(cases) + 1)), rows[:4]
    _record("file", cases, problems, len(cases) + 1)
    assert not problems, "\n".join(problems)
    assert not _created(service, "file-", len(cases) + 1)


def test_kafka(service: Service, secret_scan: Any) -> None:
    cases = [c for c in CASES if "kafka" in c.ways]
    topic = service.topics["changes"]
    offsets: dict[str, int] = {}

    async def produce() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=service.bootstrap, acks="all", max_request_size=TEN_MB_AND_SOME
        )
        await producer.start()
        try:
            for n, case in enumerate(cases):
                good = _prefixed(n, "kafka-")
                await producer.send_and_wait(topic, json.dumps(good).encode(), key=b"t/app/good")
                sent = await producer.send_and_wait(topic, case.raw, key=f"bad/{n}".encode())
                offsets[case.name] = sent.offset
            last = _prefixed(len(cases), "kafka-")
            await producer.send_and_wait(topic, json.dumps(last).encode(), key=b"t/app/good")
        finally:
            await producer.stop()

    asyncio.run(produce())
    wanted = {f"{topic}:0:{o}" for o in offsets.values()}

    def answered() -> dict[str, list[str]] | None:
        """Per bad message: what the dead-letter and results topics said about it."""
        said: dict[str, list[str]] = {}
        for r in asyncio.run(read_topic(service.bootstrap, service.topics["dlq"])):
            body = json.loads(r.value)
            said.setdefault(header(r, "idsync-ref") or "", []).append(
                f"{body['reason']['code']}: {body['reason']['message']}"
            )
        for r in asyncio.run(read_topic(service.bootstrap, service.topics["results"])):
            body = json.loads(r.value)
            if body.get("reason"):
                said.setdefault(header(r, "idsync-ref") or "", []).append(
                    f"{body['status']}: {body['reason']['code']}: {body['reason']['message']}"
                )
        return said if wanted <= said.keys() else None

    said = eventually(answered, timeout_s=180, every_s=1.0)
    secret_scan.add_text("bad input kafka answers", json.dumps(said)[:1_000_000])
    problems = []
    for case in cases:
        ref = f"{topic}:0:{offsets[case.name]}"
        messages = said[ref]
        checks = [case.check("kafka", m) for m in messages]
        if all(checks):
            problems.append(checks[0] or "")
    eventually(lambda: not _created(service, "kafka-", len(cases) + 1), timeout_s=120, every_s=1.0)
    _alive(service)
    _record("kafka", cases, problems, len(cases) + 1)
    assert not problems, "\n".join(problems)


TEN_MB_AND_SOME = 12 * 1024 * 1024
