"""Reading a completed session's users back (issue #21): in pages of the accounts changed since
the session started, not one lookup per user; what a lagging list does not show yet is looked up
by login, so every user is still settled. Counted by the emulator's /__emulator/stats."""

from __future__ import annotations

import asyncio
from pathlib import Path

from idsync.domain.models import Status
from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.sessions.support import (
    FAST,
    accounts,
    emulator_settings,
    requests,
    settings,
    store_links,
    write_users,
)

USERS = 1000
LIST = "GET /api/v1/users"
GET = "GET /api/v1/users/{id}"


async def _import(url: str, tmp_path: Path) -> tuple[int, int]:
    """Import USERS users through one identity source; (sessions completed, created)."""
    admin = EmulatorAdmin(url)
    source = admin.create_identity_source("idsync")
    users = write_users(tmp_path / "u.jsonl", USERS)
    cfg = settings(tmp_path, url, source)
    async with Runtime(cfg, worker_options=FAST) as rt:
        report = await run_file_import(rt, users, tenant="t")
        results = rt.store.imports.results(report.progress.import_id, limit=5000)
    assert (report.progress.created, report.progress.failed, report.progress.done) == (USERS, 0, USERS)
    assert {r["status"] for r in results} == {Status.CREATED.value}
    okta = accounts(url)
    links = store_links(cfg.store.url)
    assert all(links[str(i)]["idp_id"] == okta[f"user{i}@example.com"]["id"] for i in range(USERS))
    sessions = [s for s in admin.identity_source(source)["sessions"] if s["status"] == "COMPLETED"]
    assert sum(s["upserts"] for s in sessions) == USERS
    return len(sessions), report.progress.created


def test_users_are_read_back_in_pages_of_200(tmp_path: Path) -> None:
    with EmulatorThread(emulator_settings()) as emu:
        sessions, created = asyncio.run(_import(emu.url, tmp_path))
        calls = requests(emu.url)
    assert created == USERS
    pages = sum(calls.get(LIST, {}).values())
    assert 1 <= pages <= USERS // 200 + sessions  # 200 a page (a session's last page may be partial)
    assert GET not in calls  # nobody looked up one by one


def test_users_a_lagging_list_does_not_show_are_looked_up_by_login(tmp_path: Path) -> None:
    with EmulatorThread(emulator_settings(search_lag_s=600.0)) as emu:  # lists show none of them
        _, created = asyncio.run(_import(emu.url, tmp_path))
        calls = requests(emu.url)
    assert created == USERS
    assert sum(calls[GET].values()) == USERS  # each one looked up once, all settled
