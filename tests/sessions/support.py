"""What the identity-source session tests share: an emulator with a fast clock, settings that
send bulk work through a source, input files, and reads of the emulator's and the store's state."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from idsync.adapters.store import Store
from idsync.adapters.store.features.idsources import idsource_sessions
from idsync.adapters.store.schema import links
from idsync.config import Settings, settings_from_dict
from idsync.domain.models import Lane
from idsync.domain.records import Outcome, received_from_text
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings
from idsync.engine.ingest import Defaults
from idsync.engine.worker import WorkerOptions
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime

TOKEN = "sessions-token"
SCALE = 0.002  # an Okta minute lasts 0.12 s: the five-minute rule 0.6 s
FAST = WorkerOptions(poll_s=0.02, retry_base_s=0.05, retry_max_s=0.2, backlog_poll_s=0.1)


def emulator_settings(**extra: Any) -> EmulatorSettings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "seed": 3,
        "time_scale": SCALE,
        "limits": {"users": 6000, "users.get": 6000, "identitySources": 6000},
    }
    values.update(extra)
    return EmulatorSettings(**values)


def settings(
    tmp_path: Path,
    url: str,
    source_id: str | None,
    *,
    tenant: dict[str, Any] | None = None,
    store_url: str | None = None,
    **source: Any,
) -> Settings:
    okta: dict[str, Any] = {
        "type": "okta",
        "url": url,
        "token_env": "OKTA_TOKEN",
        "governor": {"budget_share": 1.0, "backoff_base_s": 0.05, "backoff_max_s": 0.3, "timeout_s": 2.0},
    }
    if source_id is not None:
        okta["identity_source"] = {
            "id": source_id,
            "poll_s": 0.05,
            "fill_wait_s": 0.3,
            "session_gap_s": 300 * SCALE,
            **source,
        }
    return settings_from_dict(
        {
            "store": {"url": store_url or f"sqlite:///{tmp_path / 'idsync.db'}"},
            "idps": {"okta": okta},
            "tenants": {"t": {"idp": "okta", "mode": "sync", **(tenant or {})}},
        },
        {"OKTA_TOKEN": TOKEN},
    )


def message(i: int, *, version: int = 1, first: str = "Ann", import_id: str | None = None) -> dict[str, Any]:
    login = f"user{i}@example.com"
    body: dict[str, Any] = {
        "tenant": "t",
        "op": "upsert",
        "source": "app",
        "key": str(i),
        "version": version,
        "user": {"login": login, "email": login, "firstName": first, "lastName": f"Lee{i}"},
    }
    if import_id:
        body["import_id"] = import_id
    return body


def write_users(path: Path, n: int, *, start: int = 0, version: int = 1, first: str = "Ann") -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(start, start + n):
            fh.write(json.dumps(message(i, version=version, first=first)) + "\n")
    return path


def accounts(url: str) -> dict[str, dict[str, Any]]:
    """The emulator's users by login; fails on a login held twice."""
    users = EmulatorAdmin(url).users()
    counts = Counter(u["login"].lower() for u in users)
    assert max(counts.values(), default=1) == 1, [login for login, n in counts.items() if n > 1]
    return {u["login"].lower(): u for u in users}


def store_links(store_url: str) -> dict[str, dict[str, Any]]:
    store = Store(store_url)
    try:
        with store.engine.begin() as conn:
            return {r["key"]: dict(r) for r in conn.execute(select(links)).mappings()}
    finally:
        store.close()


def store_sessions(store_url: str) -> list[dict[str, Any]]:
    store = Store(store_url)
    try:
        with store.engine.begin() as conn:
            return [dict(r) for r in conn.execute(select(idsource_sessions)).mappings()]
    finally:
        store.close()


def requests(url: str) -> dict[str, dict[str, int]]:
    """What the emulator served: by `METHOD /template`, the count by HTTP status."""
    served: dict[str, dict[str, int]] = EmulatorAdmin(url).stats(windows=False)["requests"]
    return served


async def interactive(runtime: Runtime, change: dict[str, Any], *, timeout_s: float = 60.0) -> Outcome:
    """Submit one change in the interactive lane (as the HTTP API does) and wait for its result."""
    ((change_id, _),) = await runtime.ingestor.receive(
        [received_from_text(json.dumps(change))], Defaults(origin="http")
    )
    assert change_id is not None
    waiter = runtime.worker.wait_for(change_id)
    runtime.worker.notify(Lane.INTERACTIVE)
    return await asyncio.wait_for(waiter, timeout_s)


@contextlib.asynccontextmanager
async def worker_running(runtime: Runtime) -> AsyncIterator[None]:
    """The worker in the background (as `idsync serve` runs it) for changes outside an import."""
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.worker.run(stop=stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def import_through_new_source(url: str, tmp_path: Path, users: int, **source: Any) -> tuple[int, int]:
    """Import `users` users through a new identity source of the emulator at `url`, with the
    source options given: (sessions completed, users created)."""
    admin = EmulatorAdmin(url)
    source_id = admin.create_identity_source("idsync")
    path = write_users(tmp_path / "u.jsonl", users)
    async with Runtime(settings(tmp_path, url, source_id, **source), worker_options=FAST) as rt:
        report = await run_file_import(rt, path, tenant="t")
    sessions = admin.identity_source(source_id)["sessions"]
    return sum(1 for s in sessions if s["status"] == "COMPLETED"), report.progress.created
