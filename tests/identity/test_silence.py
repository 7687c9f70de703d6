"""`send_activation_email = false` holds on every path that can activate: new users in
sync_and_activate, adoption, the activation job, re-activation after a crash, single changes over
HTTP. Counted where it happens: the emulator's outbox stays empty, and the activation links come
back with the results instead."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from idsync.domain.links import PendingOp
from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.lifecycle.activation import prepare_activation, run_activation
from idsync.runtime import Runtime
from idsync.web.app import create_app
from tests.common import ServerThread

from .support import API_TOKEN, FAST, accounts, change, make_settings, sync

SILENT = {"mode": "sync_and_activate", "send_activation_email": False}


def _store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'idsync.db'}"


def _emails(admin: EmulatorAdmin) -> int:
    return int(admin.stats(windows=False)["emails_sent"])


async def test_new_users_are_activated_without_an_email(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    settings = make_settings(_store(tmp_path), org.url, {"efs": SILENT})
    users = [change("efs", "panelist", f"p-{i}", f"quiet{i}@example.com") for i in range(7)]
    async with Runtime(settings, worker_options=FAST) as rt:
        out = await sync(rt, tmp_path, "efs", users)
    assert {out.status("panelist", f"p-{i}") for i in range(7)} == {"created"}
    links = [out.rows[("panelist", f"p-{i}")]["activation_url"] for i in range(7)]
    assert all(isinstance(u, str) and ("/tokens/" in u or "/welcome/" in u) for u in links)
    assert {a["status"] for a in accounts(admin).values()} == {"PROVISIONED"}
    assert _emails(admin) == 0


async def test_an_adopted_account_is_activated_without_an_email(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    hand = {
        "login": "staged@example.com",
        "email": "staged@example.com",
        "firstName": "Ann",
        "lastName": "Lee",
    }
    admin._post("/users", {"users": [{"profile": hand, "status": "STAGED"}]})
    settings = make_settings(
        _store(tmp_path), org.url, {"efs": {**SILENT, "existing_account": "adopt_unlinked"}}
    )
    async with Runtime(settings, worker_options=FAST) as rt:
        out = await sync(rt, tmp_path, "efs", [change("efs", "app", "s-1", "staged@example.com")])
    assert out.status("app", "s-1") == "activated"
    assert out.rows[("app", "s-1")]["activation_url"]
    assert accounts(admin)["staged@example.com"]["status"] in ("PROVISIONED", "ACTIVE")
    assert _emails(admin) == 0


async def test_the_activation_job_and_a_crash_retry_send_no_email(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    phase1 = make_settings(
        _store(tmp_path), org.url, {"efs": {"mode": "sync", "send_activation_email": False}}
    )
    async with Runtime(phase1, worker_options=FAST) as rt:
        await sync(
            rt, tmp_path, "efs", [change("efs", "app", str(i), f"job{i}@example.com") for i in range(5)]
        )
        # One user as a crash leaves it: the activation was announced (write-ahead) but not sent.
        link = rt.store.links.get("efs", "app", "0")
        assert link is not None
        rt.store.links.save(replace(link, pending_op=PendingOp.ACTIVATE))
        job = await prepare_activation(rt, "efs")
        report = await run_activation(rt, job)
        rows = rt.store.imports.results(job.job_id)
    assert report.progress.activated == 5
    assert all(r["activation_url"] for r in rows)
    assert {a["status"] for a in accounts(admin).values()} == {"PROVISIONED"}
    assert _emails(admin) == 0


def test_a_single_change_over_http_sends_no_email(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    settings = make_settings(_store(tmp_path), org.url, {"efs": SILENT})
    settings = settings.model_copy(
        update={"service": settings.service.model_copy(update={"interactive_wait_s": 20.0})}
    )
    app = create_app(settings)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post(
            "/changes",
            json=change("efs", "efs-admin", "1", "single@example.com"),
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
    assert body["result"]["status"] == "created"
    assert body["result"]["activation_url"]
    assert accounts(admin)["single@example.com"]["status"] == "PROVISIONED"
    assert _emails(admin) == 0
