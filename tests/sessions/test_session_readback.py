"""Reading a completed session's users back (issue #21): in pages of the accounts changed since
the session started, not one lookup per user; what a lagging list does not show yet is looked up
by login, so every user is still settled. Counted by the emulator's /__emulator/stats."""

from __future__ import annotations

import asyncio
from pathlib import Path

from idsync.adapters.okta import OktaConnector
from idsync.clock import SystemClock
from idsync.config import GovernorSettings
from idsync.domain.models import Status
from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.engine.governor import Governor
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.sessions.support import (
    FAST,
    TOKEN,
    accounts,
    emulator_settings,
    import_through_new_source,
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


def _person(login: str) -> dict[str, str]:
    return {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"}


async def _crowded(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """An account older than the session, a marker at its start, 500 accounts someone else wrote
    after it, then the session's 150: read back with the older login and one nobody holds."""
    okta = OktaConnector(
        "okta", url, TOKEN, Governor("okta", GovernorSettings(budget_share=1.0), SystemClock())
    )
    try:
        older = await okta.create_user(_person("older@example.com"), activate=False)
        marker = await okta.create_user(_person("marker@example.com"), activate=False)
        since = str((await okta.read_raw(f"/api/v1/users/{marker.id}")).json()["created"])
        for i in range(500):
            await okta.create_user(_person(f"other{i}@example.com"), activate=False)
        ours = {
            f"user{i}@example.com": (
                await okta.create_user(_person(f"user{i}@example.com"), activate=False)
            ).id
            for i in range(150)
        }
        wanted = [login.upper() for login in ours] + ["older@example.com", "nobody@example.com"]
        found = await okta.identity_source("0oasource").read_back(wanted, since)
    finally:
        await okta.aclose()
    return {k: v.user.id for k, v in found.items()}, {**ours, "older@example.com": older.id}


def test_pages_crowded_by_other_writes_hand_the_rest_to_searches_and_lookups() -> None:
    with EmulatorThread(emulator_settings()) as emu:
        before = requests(emu.url)
        found, expected = asyncio.run(_crowded(emu.url))
        after = requests(emu.url)
    assert found == expected  # by login key, case-insensitively; "nobody" left out
    served = {k: sum(v.values()) - sum(before.get(k, {}).values()) for k, v in after.items()}
    # 3 pages (the session's 152 logins fill one, plus 2 spare) show the marker, the 500 others and
    # 99 of ours; 53 logins are left: 2 or-ed searches find 52 of them, 1 lookup finds nobody.
    assert served.get(LIST) == 3 + 2
    assert served.get(GET) == 1 + 1  # the lookup of nobody, and the test's read of the marker


def test_a_session_queued_behind_another_lists_only_what_was_written_after_it(tmp_path: Path) -> None:
    """Okta runs one session at a time: the second session's users were all written after the
    first one ended, so its read back lists from there, not from its own opening (which would
    page through the first session's 1,000 accounts and search for its own)."""
    # 24 users an Okta minute (200 a second here): the first session takes 5 s, the five-minute
    # rule 0.6 s. Okta's timestamps are whole seconds, so the listing from the first session's end
    # also shows its users of that last second (at most 200): two pages for the second session.
    with EmulatorThread(emulator_settings(identity_source_users_per_minute=24.0)) as emu:
        sessions, created = asyncio.run(
            # the read after each session only (read_while_running: the test below)
            import_through_new_source(
                emu.url, tmp_path, 1200, uploads_per_session=5, read_while_running=False
            )
        )
        calls = requests(emu.url)
    assert (sessions, created) == (2, 1200)
    # 5 pages for the first session's 1,000, at most 2 for the second's 200 (listed from its
    # opening, the first session's 800 later accounts fill its 3 pages and 4 searches follow: 12).
    assert sum(calls.get(LIST, {}).values()) <= 5 + 2
    assert GET not in calls


async def _watch_early(url: str, tmp_path: Path, *, read_while_running: bool) -> tuple[int, int, int]:
    """Import 1,000 users in one session Okta takes 2.5 s to process; (users with their result
    while Okta still processed the session, users created, pages listed)."""
    admin = EmulatorAdmin(url)
    source = admin.create_identity_source("idsync")
    users = write_users(tmp_path / "u.jsonl", USERS)
    cfg = settings(tmp_path, url, source, list_lag_s=0.0, read_while_running=read_while_running)
    early = 0
    async with Runtime(cfg, worker_options=FAST) as rt:
        job = asyncio.create_task(run_file_import(rt, users, tenant="t", import_id="early"))
        while not job.done():
            await asyncio.sleep(0.05)
            record = rt.store.imports.get("early")
            sessions = admin.identity_source(source)["sessions"]
            if record is not None and sessions and sessions[0]["status"] == "TRIGGERED":
                early = max(early, record.counts.get("created", 0))
        report = await job
    pages = sum(requests(url).get(LIST, {}).values())
    return early, report.progress.created, pages


def test_the_last_sessions_users_get_their_results_while_okta_still_processes_it(tmp_path: Path) -> None:
    """The import waits for its last session alone: its users are read back as Okta writes them,
    so when it completes only the last few are left to read (the import ends sooner)."""
    with EmulatorThread(emulator_settings(identity_source_users_per_minute=48.0)) as emu:  # 400 a second
        early, created, pages = asyncio.run(_watch_early(emu.url, tmp_path, read_while_running=True))
    assert created == USERS
    assert early >= USERS // 4, early  # a quarter at least had a result before the session completed
    # A read every 3 polls (0.15 s: ~16 while Okta works), each listing from the last one: 22-25
    # pages in trials (Okta's whole-second timestamps repeat the last second). Listing from the
    # session's start each time pages through all that was written so far: 36 in a trial.
    assert pages < 30, pages
    (tmp_path / "off").mkdir()
    with EmulatorThread(emulator_settings(identity_source_users_per_minute=48.0)) as emu:
        early, created, _ = asyncio.run(_watch_early(emu.url, tmp_path / "off", read_while_running=False))
    assert (early, created) == (0, USERS)  # switched off: read after the session, as before
