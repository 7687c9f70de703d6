"""Bulk imports through an Okta identity source's import sessions (issue #21), against the
emulator over HTTP: sessions of uploads of 200, results per user, links to the Okta ids."""

from __future__ import annotations

import asyncio
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
    import_through_new_source,
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


def test_a_session_that_completes_while_the_next_waits_does_not_open_a_third_early(
    tmp_path: Path,
) -> None:
    """Okta counts its five minutes from the latest session's creation. The first session (1,000
    users, 4 s to process) completes after the second was opened (at 3 s) and before that one's
    five minutes (6 s) are over: the third is opened then, not tried and refused meanwhile."""
    # Time scale 0.01: five Okta minutes are 3 s; 150 users an Okta minute: 1,000 take 4 s.
    with EmulatorThread(emulator_settings(time_scale=0.01, identity_source_users_per_minute=150.0)) as emu:
        sessions, created = asyncio.run(
            import_through_new_source(emu.url, tmp_path, 2200, uploads_per_session=5, session_gap_s=3.0)
        )
        opened = requests(emu.url)["POST /api/v1/identity-sources/{identitySourceId}/sessions"]
    assert (sessions, created) == (3, 2200)
    assert opened == {"200": 3}  # no 400: nothing tried before Okta's rule allowed it
