"""Bulk imports through an Okta identity source's import sessions (issue #21), against the
emulator over HTTP: sessions of uploads of 200, results per user, links to the Okta ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.domain.models import Status
from idsync.domain.sessions import external_id
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


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(emulator_settings()) as emu:
        yield emu


async def test_a_bulk_import_goes_through_sessions_of_uploads_of_200(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    admin = EmulatorAdmin(emulator.url)
    source = admin.create_identity_source("idsync")
    users = write_users(tmp_path / "u.jsonl", 2500)
    cfg = settings(tmp_path, emulator.url, source, uploads_per_session=5)  # 1,000 users a session
    async with Runtime(cfg, worker_options=FAST) as rt:
        report = await run_file_import(rt, users, tenant="t")
        results = rt.store.imports.results(report.progress.import_id, limit=5000)
    assert (report.progress.created, report.progress.failed, report.progress.done) == (2500, 0, 2500)
    view = admin.identity_source(source)
    sessions = [s for s in view["sessions"] if s["status"] == "COMPLETED"]
    assert len(sessions) >= 3
    assert sum(s["upserts"] for s in sessions) == 2500
    assert all(s["uploads"] <= 5 and s["counts"].get("created", 0) == s["upserts"] for s in sessions)
    assert all(s["upserts"] <= 200 * s["uploads"] for s in sessions)
    okta = accounts(emulator.url)
    assert len(okta) == 2500
    links = store_links(cfg.store.url)
    by_id = {r["idp_id"]: r for r in results}
    for i in range(2500):
        link = links[str(i)]
        user = okta[f"user{i}@example.com"]
        assert link["idp_id"] == user["id"] == view["users"][external_id("t", "app", str(i))]
        assert (link["idp_status"], link["pending_op"]) == ("STAGED", None)
        assert by_id[user["id"]]["status"] == Status.CREATED.value
    calls = requests(emulator.url)
    assert "POST /api/v1/users" not in calls  # no user created one by one
    # The sessions' calls count for the import, as `idsync status` shows them: every call made
    # after start-up (the source's sessions are listed once before the import) and no other.
    served = sum(n for by in calls.values() for n in by.values())
    session_calls = sum(n for ep, by in calls.items() if "/identity-sources/" in ep for n in by.values())
    assert session_calls <= report.progress.api_calls <= served, (report.progress.api_calls, calls)
    assert (
        sum(
            calls[
                "POST /api/v1/identity-sources/{identitySourceId}/sessions/{sessionId}/bulk-upsert"
            ].values()
        )
        <= 15
    )
