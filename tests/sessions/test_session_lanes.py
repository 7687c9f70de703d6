"""Who goes through sessions: single (interactive) changes stay on /api/v1/users while a bulk
session runs; updates of accounts the source masters go through the source (Okta refuses them on
/api/v1/users with 403 E0000023), in bulk and one by one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from idsync.domain.models import Status
from idsync.domain.sessions import external_id
from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.sessions.support import (
    FAST,
    accounts,
    emulator_settings,
    interactive,
    message,
    requests,
    settings,
    store_sessions,
    worker_running,
    write_users,
)

UPDATE_BY_ID = "POST /api/v1/users/{userId}"


async def test_a_single_change_during_a_bulk_session_goes_one_by_one(tmp_path: Path) -> None:
    # 12 users a (0.12 s) minute: 600 users keep their session TRIGGERED for about 6 s.
    with EmulatorThread(emulator_settings(identity_source_users_per_minute=12)) as emu:
        admin = EmulatorAdmin(emu.url)
        source = admin.create_identity_source("idsync")
        cfg = settings(tmp_path, emu.url, source)
        async with Runtime(cfg, worker_options=FAST) as rt:
            job = asyncio.create_task(run_file_import(rt, write_users(tmp_path / "u.jsonl", 600), tenant="t"))
            deadline = time.monotonic() + 60
            while not any(s["state"] == "triggered" for s in store_sessions(cfg.store.url)):
                assert time.monotonic() < deadline and not job.done()
                await asyncio.sleep(0.05)
            started = time.monotonic()
            outcome = await interactive(rt, message(9000))  # a new admin user, created at once
            waited = time.monotonic() - started
            assert not job.done()  # the session was still running when the single change was done
            report = await job
        assert outcome.status is Status.CREATED and outcome.idp_id is not None
        assert waited < 5.0, waited  # a safety net against hangs, not a timing target
        assert requests(emu.url)["POST /api/v1/users"] == {"200": 1}
        linked = admin.identity_source(source)["users"]
        assert external_id("t", "app", "9000") not in linked and outcome.idp_id not in linked.values()
        assert report.progress.created == 600 and len(linked) == 600
        assert accounts(emu.url)["user9000@example.com"]["id"] == outcome.idp_id


async def test_updates_of_accounts_the_source_masters_go_through_the_source(tmp_path: Path) -> None:
    with EmulatorThread(emulator_settings()) as emu:
        admin = EmulatorAdmin(emu.url)
        source = admin.create_identity_source("idsync")
        cfg = settings(tmp_path, emu.url, source)
        async with Runtime(cfg, worker_options=FAST) as rt:
            first = await run_file_import(rt, write_users(tmp_path / "v1.jsonl", 300), tenant="t")
            changed = write_users(tmp_path / "v2.jsonl", 120, version=2, first="Bea")  # firstName: mastered
            second = await run_file_import(rt, changed, tenant="t")
            results = rt.store.imports.results(second.progress.import_id)
            async with worker_running(rt):
                single = await interactive(rt, message(7, version=3, first="Cleo"))
        assert first.progress.created == 300
        assert (second.progress.updated, second.progress.failed, second.progress.unchanged) == (120, 0, 0)
        assert {r["status"] for r in results} == {Status.UPDATED.value}
        assert single.status is Status.UPDATED
        okta = accounts(emu.url)
        assert okta["user7@example.com"]["profile"]["firstName"] == "Cleo"
        assert all(
            okta[f"user{i}@example.com"]["profile"]["firstName"] == "Bea" for i in range(120) if i != 7
        )
        assert all(okta[f"user{i}@example.com"]["profile"]["firstName"] == "Ann" for i in range(120, 300))
        calls = requests(emu.url)
        assert UPDATE_BY_ID not in calls  # nothing went to /api/v1/users/{id}, so no 403 E0000023
        sessions = [s for s in admin.identity_source(source)["sessions"] if s["status"] == "COMPLETED"]
        assert [s["counts"] for s in sessions] == [{"created": 300}, {"updated": 120}, {"updated": 1}]
