"""The migration workflow over the HTTP API (the app in-process, the emulator in its own process),
and `handle_portal_upsert`, the entry point the Kafka transport routes `portal_upsert` to."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.config import load_settings
from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess
from idsync.lifecycle.imports import run_file_import
from idsync.lifecycle.messages import handle_portal_upsert
from idsync.runtime import Runtime
from idsync.web.app import create_app

from .helpers import TENANT, TOKEN, Served, user, write_users

API = "lifecycle-api-token"
PORTAL = {
    "name": "panel-de",
    "base_url": "https://panel.example.de",
    "redirect_uris": ["https://panel.example.de/cb"],
}


async def seed(workdir: Path) -> None:
    """Phase 1 (8 staged users, one external) and an import run with a revoked token (imp-f)."""
    env = {**os.environ, "LC_OKTA_TOKEN": TOKEN}
    write_users(workdir / "phase1.jsonl", range(8), extra_lines=(user("ext", "e@bigcorp.example"),))
    failed = write_users(workdir / "failed.jsonl", range(50, 53), extra_lines=(user("bad", "nope"),))
    async with Runtime(load_settings(workdir / "idsync.toml", env)) as runtime:
        await run_file_import(runtime, workdir / "phase1.jsonl", tenant=TENANT)
    revoked = load_settings(workdir / "idsync.toml", {**env, "LC_OKTA_TOKEN": "revoked"})
    async with Runtime(revoked) as runtime:
        report = await run_file_import(runtime, failed, tenant=TENANT, import_id="imp-f")
    assert report.progress.failed == 4


@pytest.fixture
def client(workdir: Path) -> Iterator[httpx.Client]:
    asyncio.run(seed(workdir))
    settings = load_settings(
        workdir / "idsync.toml", {**os.environ, "LC_OKTA_TOKEN": TOKEN, "IDSYNC_API_TOKEN": API}
    )
    with (
        Served(create_app(settings)) as served,
        httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {API}"}, timeout=30) as c,
    ):
        yield c


def wait_for(client: httpx.Client, url: str, done: Any, timeout_s: float = 90.0) -> dict[str, Any]:
    """Poll until `done(body)`; the timeout is a safety net against a hang, not a timing target."""
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = client.get(url).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{url} did not get there; last answer: {body}"
        time.sleep(0.1)


def test_activation_over_http(client: httpx.Client, emulator: EmulatorProcess) -> None:
    assert (
        client.post(
            "/activations", json={"tenant": TENANT}, headers={"Authorization": "Bearer x"}
        ).status_code
        == 401
    )
    dry = client.post("/activations", json={"tenant": TENANT, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["staged"] == 8 and dry.json()["estimate"]["api_calls"] == 8
    assert EmulatorAdmin(emulator.url).outbox() == []
    assert client.post("/activations", json={"tenant": "nope"}).status_code == 404

    started = client.post("/activations", json={"tenant": TENANT})
    assert started.status_code == 202, started.text
    job = started.json()["job_id"]
    body = wait_for(client, f"/activations/{job}", lambda b: b["progress"]["state"] == "completed")
    assert body["progress"]["activated"] == 8 and body["trigger"] == "api"
    assert len(EmulatorAdmin(emulator.url).outbox()) == 8
    assert [j["job_id"] for j in client.get("/activations", params={"tenant": TENANT}).json()] == [job]


def test_portals_over_http(client: httpx.Client, emulator: EmulatorProcess) -> None:
    created = client.post(
        "/portals?return_secret=true", json={"tenant": TENANT, "portal": PORTAL, "message_id": "m1"}
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["status"] == "created" and body["message_id"] == "m1" and len(body["client_secret"]) >= 20
    assert created.headers["cache-control"] == "no-store"
    again = client.post("/portals", json={"op": "portal_upsert", "tenant": TENANT, "portal": PORTAL})
    assert again.json()["status"] == "unchanged" and "client_secret" not in again.json()
    assert again.json()["app_id"] == body["app_id"]
    listed = client.get("/portals", params={"tenant": TENANT}).json()
    assert [(p["portal"], p["client_id"]) for p in listed] == [("panel-de", body["client_id"])]
    assert body["client_secret"] not in json.dumps(listed)

    bad = client.post("/portals", json={"tenant": TENANT, "portal": {**PORTAL, "base_url": "ftp://x"}})
    assert bad.status_code == 422 and "portal.base_url" in bad.json()["reason"]["message"]
    unknown = client.post("/portals", json={"tenant": "nope", "portal": PORTAL})
    assert unknown.status_code == 404


def test_failures_and_retry_over_http(client: httpx.Client, emulator: EmulatorProcess) -> None:
    assert client.get("/imports/imp-none/failures").status_code == 404
    page = client.get("/imports/imp-f/failures", params={"status": "failed"}).json()
    codes = {(i["key"], i["reason"]["code"]) for i in page["items"]}
    assert codes == {("50", "idp_unauthorized"), ("51", "idp_unauthorized"), ("52", "idp_unauthorized"),
                     ("bad", "invalid")}  # fmt: skip
    assert page["items"][0]["login"] == "user50@example.com"
    first = client.get("/imports/imp-f/failures", params={"limit": 2}).json()
    rest = client.get("/imports/imp-f/failures", params={"after": first["next_after"]}).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 2 and rest["next_after"] is None
    exported = client.get("/imports/imp-f/failures", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(exported.text)))) == 4

    dry = client.post("/imports/imp-f/retry", json={"dry_run": True}).json()
    assert dry == {"dry_run": True, "would_retry": 3, "not_retried": 1}
    retried = client.post("/imports/imp-f/retry")
    assert retried.status_code == 202 and retried.json()["requeued"] == 3
    left = wait_for(client, "/imports/imp-f/failures?status=failed", lambda b: b["progress"]["pending"] == 0)
    assert left["progress"]["state"] == "completed" and left["progress"]["created"] == 3
    assert [i["key"] for i in left["items"]] == ["bad"]
    assert len(EmulatorAdmin(emulator.url).users(login="user51@example.com")) == 1


def test_portal_upsert_entry_point_for_transports(workdir: Path, emulator: EmulatorProcess) -> None:
    settings = load_settings(workdir / "idsync.toml", {**os.environ, "LC_OKTA_TOKEN": TOKEN})
    message = json.dumps({"op": "portal_upsert", "tenant": TENANT, "portal": PORTAL, "message_id": "k-1"})

    async def run() -> list[Any]:
        async with Runtime(settings) as runtime:
            first = await handle_portal_upsert(runtime, message.encode())
            second = await handle_portal_upsert(runtime, json.loads(message))
            broken = await handle_portal_upsert(runtime, b"{nope")
            return [first, second, broken]

    first, second, broken = asyncio.run(run())
    assert (first.status, second.status, broken.status) == ("created", "unchanged", "failed")
    assert first.app_id == second.app_id and first.message_id == "k-1"
    assert broken.reason is not None and broken.reason.code == "invalid"
    assert "secret" not in first.model_dump_json()
