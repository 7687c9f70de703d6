"""Sessions when things go wrong: an upload whose answer is lost, the feature off or a wrong
source id (a clear error, or the per-user path with fallback = "standard"), accounts that exist
before the import (the tenant's policy decides, one by one)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.domain.models import Status
from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.conformance.scim_proxy import FaultProxy
from tests.sessions.support import FAST, accounts, emulator_settings, requests, settings, write_users

UPSERT = "POST /api/v1/identity-sources/{identitySourceId}/sessions/{sessionId}/bulk-upsert"


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(emulator_settings()) as emu:
        yield emu


async def test_an_upload_whose_answer_is_lost_gets_its_session_deleted_and_redone(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    admin = EmulatorAdmin(emulator.url)
    source = admin.create_identity_source("idsync")
    proxy = FaultProxy(emulator.url).start()
    uploads = 0

    def second_upload(method: str, path: str) -> bool:
        nonlocal uploads
        if path.endswith("/bulk-upsert"):
            uploads += 1
            return uploads == 2
        return False

    proxy.drop(times=1, match=second_upload)  # forwarded to Okta, the answer never comes back
    # A slow delete: while it is under way no user is waiting or uploaded, yet the import is not done.
    proxy.slow(0.5, times=1, match=lambda method, path: method == "DELETE")
    try:
        cfg = settings(tmp_path, proxy.root, source)
        async with Runtime(cfg, worker_options=FAST) as rt:
            report = await run_file_import(rt, write_users(tmp_path / "u.jsonl", 600), tenant="t")
    finally:
        proxy.stop()
    assert (report.progress.created, report.progress.failed) == (600, 0)
    sessions = admin.identity_source(source)["sessions"]
    closed = [s for s in sessions if s["status"] == "CLOSED"]
    completed = [s for s in sessions if s["status"] == "COMPLETED"]
    assert len(closed) == 1 and closed[0]["upserts"] == 0  # deleted with what it held, never started
    assert sum(s["upserts"] for s in completed) == 600  # every user once, in the session that replaced it
    assert sum(s["counts"].get("created", 0) for s in completed) == 600
    assert len(accounts(emulator.url)) == 600
    dropped = [s for s in proxy.requests(method="POST", endpoint="/bulk-upsert") if s.answered == 0]
    assert len(dropped) == 1
    resent = {p["externalId"] for p in dropped[0].body["profiles"]}
    later = [s for s in proxy.requests(method="POST", endpoint="/bulk-upsert") if s.answered == 202]
    assert resent <= {p["externalId"] for s in later for p in s.body["profiles"]}
    assert proxy.requests(method="DELETE")  # the session was cancelled, not started


@pytest.mark.parametrize("feature", [False, True], ids=["feature-off", "unknown-source"])
async def test_a_refused_source_fails_each_user_with_a_clear_reason(feature: bool, tmp_path: Path) -> None:
    with EmulatorThread(emulator_settings(identity_sources=feature)) as emu:
        cfg = settings(tmp_path, emu.url, "0oaNOSUCHSOURCE00000")
        async with Runtime(cfg, worker_options=FAST) as rt:
            report = await run_file_import(rt, write_users(tmp_path / "u.jsonl", 40), tenant="t")
            failed = rt.store.imports.results(report.progress.import_id, statuses=[Status.FAILED])
        assert (report.progress.failed, report.progress.created) == (40, 0)
        assert {r["reason_code"] for r in failed} == {"identity_source_unavailable"}
        message = str(failed[0]["reason_message"])
        assert "0oaNOSUCHSOURCE00000" in message and "Identity Source Apps" in message
        assert 'fallback = "standard"' in message
        assert str(403 if not feature else 404) in message
        assert accounts(emu.url) == {}


async def test_fallback_standard_creates_the_users_one_by_one(tmp_path: Path) -> None:
    with EmulatorThread(emulator_settings(identity_sources=False)) as emu:
        cfg = settings(tmp_path, emu.url, "0oaNOSUCHSOURCE00000", fallback="standard")
        async with Runtime(cfg, worker_options=FAST) as rt:
            report = await run_file_import(rt, write_users(tmp_path / "u.jsonl", 40), tenant="t")
        assert (report.progress.created, report.progress.failed) == (40, 0)
        assert len(accounts(emu.url)) == 40
        assert requests(emu.url)["POST /api/v1/users"] == {"200": 40}


@pytest.mark.parametrize(("policy", "status"), [("reject", "failed"), ("adopt_unlinked", "updated")])
async def test_accounts_that_existed_before_are_decided_by_the_tenant_policy(
    emulator: EmulatorThread, tmp_path: Path, policy: str, status: str
) -> None:
    admin = EmulatorAdmin(emulator.url)
    source = admin.create_identity_source("idsync")
    admin.seed_users(5, status="STAGED", prefix="user", start=10)  # user10..user14 made by hand
    before = {u["login"]: u["id"] for u in admin.users()}
    time.sleep(1.05)  # Okta's timestamps are whole seconds: the import starts a second later at least
    cfg = settings(tmp_path, emulator.url, source, tenant={"existing_account": policy})
    async with Runtime(cfg, worker_options=FAST) as rt:
        report = await run_file_import(rt, write_users(tmp_path / "u.jsonl", 50), tenant="t")
        results = rt.store.imports.results(report.progress.import_id)
    by_login = {f"user{r['key']}@example.com": r for r in results}
    for login, account_id in before.items():
        assert by_login[login]["status"] == status, {
            k: v for k, v in by_login[login].items() if k != "payload"
        }
        if status == "failed":
            assert by_login[login]["reason_code"] == "login_taken"
        else:
            assert by_login[login]["idp_id"] == account_id
    assert report.progress.created == 45
    okta = accounts(emulator.url)
    assert len(okta) == 50 and all(okta[login]["id"] == i for login, i in before.items())
    linked = admin.identity_source(source)["users"]
    assert len(linked) == 45 and not set(linked.values()) & set(before.values())


async def test_an_upload_okta_refuses_sends_its_users_one_by_one(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    admin = EmulatorAdmin(emulator.url)
    source = admin.create_identity_source("idsync")
    proxy = FaultProxy(emulator.url).start()
    refusal = {
        "errorCode": "E0000001",
        "errorSummary": "Api validation failed: profiles",
        "errorLink": "E0000001",
        "errorId": "oaeProxy",
        "errorCauses": [
            {"errorSummary": "profiles.7.profile.mobilePhone: String should have at most 100 characters"}
        ],
    }
    proxy.fail(400, times=1, body=json.dumps(refusal).encode(), match=lambda m, p: p.endswith("/bulk-upsert"))
    try:
        cfg = settings(tmp_path, proxy.root, source)
        async with Runtime(cfg, worker_options=FAST) as rt:
            report = await run_file_import(rt, write_users(tmp_path / "u.jsonl", 30), tenant="t")
    finally:
        proxy.stop()
    assert (report.progress.created, report.progress.failed) == (30, 0)
    assert [s.answered for s in proxy.requests(method="POST", endpoint="/bulk-upsert")] == [400]
    # Only errorCode drives decisions (okta/FACTS.md §3): the upload's users all go one by one.
    assert requests(emulator.url)["POST /api/v1/users"] == {"200": 30}
    assert [s["status"] for s in admin.identity_source(source)["sessions"]] == ["CLOSED"]  # nothing to start
    assert len(accounts(emulator.url)) == 30
