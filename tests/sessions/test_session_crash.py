"""A crash in the middle of a session: `idsync import` is SIGKILLed while Okta processes a session
it started, then run again with the same import id. The store has the session: the restarted run
waits for it and reads its users back instead of uploading them again; a session it was still
filling is deleted (never started, it imported nothing) and its users go into a new one. Killed
after some users of the running session were read back early and given their results, the
restarted run settles the rest, and each user has one result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from idsync.adapters.store import Store
from idsync.domain.models import Status
from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from tests.common import eventually
from tests.service.instances import to_toml
from tests.sessions.support import TOKEN, accounts, emulator_settings, store_sessions, write_users

USERS = 1500


def _config(tmp_path: Path, url: str, source: str, uploads_per_session: int) -> Path:
    raw = {
        "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
        "idps": {
            "okta": {
                "type": "okta",
                "url": url,
                "token_env": "OKTA_TOKEN",
                "governor": {"budget_share": 1.0, "timeout_s": 5.0},
                "identity_source": {
                    "id": source,
                    "poll_s": 0.05,
                    "fill_wait_s": 0.3,
                    "uploads_per_session": uploads_per_session,
                    "session_gap_s": 0.6,
                },
            }
        },
        "tenants": {"t": {"idp": "okta", "mode": "sync"}},
    }
    path = tmp_path / "idsync.toml"
    path.write_text(to_toml(raw))
    return path


def _options(config: Path) -> list[str]:
    return ["--config", str(config), "--import-id", "imp-crash"]


def _import(tmp_path: Path, config: Path, users: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OKTA_TOKEN": TOKEN, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "idsync.cli", "import", str(users), "--tenant", "t", *_options(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _created(store_url: str) -> int:
    store = Store(store_url)
    try:
        record = store.imports.get("imp-crash")
        return record.counts.get("created", 0) if record is not None else 0
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["triggered", "filling", "early"])
def test_a_run_killed_mid_session_resumes_from_the_store(tmp_path: Path, phase: str) -> None:
    # 60 users a (0.12 s) minute: a session of 1,000 users stays TRIGGERED for about 2 s.
    # Killed while filling: each call takes 150 ms, so the uploads of the session take seconds.
    latency = {"faults": {"latency_ms": 150.0}} if phase == "filling" else {}
    state = "filling" if phase == "filling" else "triggered"
    with EmulatorThread(emulator_settings(identity_source_users_per_minute=60, **latency)) as emu:
        admin = EmulatorAdmin(emu.url)
        source = admin.create_identity_source("idsync")
        # early: one session of all 1,500 users, the import's last; its users are read as Okta writes them
        config = _config(tmp_path, emu.url, source, 5 if phase == "triggered" else 50)
        users = write_users(tmp_path / "u.jsonl", USERS)
        store_url = f"sqlite:///{tmp_path / 'idsync.db'}"
        first = _import(tmp_path, config, users)
        try:
            eventually(
                lambda: (
                    first.poll() is None
                    and (tmp_path / "idsync.db").exists()
                    and any(s["state"] == state and s["uploads"] >= 2 for s in store_sessions(store_url))
                    and (phase != "early" or 0 < _created(store_url) < USERS)
                ),
                timeout_s=120,
                every_s=0.02,
            )
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(timeout=30)
        killed = {s["id"]: s["state"] for s in store_sessions(store_url)}
        caught = [sid for sid, seen in killed.items() if seen == state]
        assert caught, killed
        at_kill = {s["id"]: s["status"] for s in admin.identity_source(source)["sessions"]}
        assert at_kill[caught[0]] in (("CREATED",) if phase == "filling" else ("TRIGGERED", "COMPLETED"))

        second = _import(tmp_path, config, users)
        out, _ = second.communicate(timeout=300)
        assert second.returncode == 0, out
        okta = accounts(emu.url)
        view = admin.identity_source(source)
    assert len(okta) == USERS
    completed = [s for s in view["sessions"] if s["status"] == "COMPLETED"]
    closed = {s["id"] for s in view["sessions"] if s["status"] == "CLOSED"}
    if phase != "filling":
        assert caught[0] in {s["id"] for s in completed}  # waited for and read back, not redone
    else:
        assert caught[0] in closed  # never started: deleted, its users went into a new session
    assert sum(s["upserts"] for s in completed) == USERS  # every user in exactly one completed session
    assert all(s["upserts"] == 0 for s in view["sessions"] if s["status"] == "CLOSED")
    assert len(view["users"]) == USERS
    store = Store(store_url)
    try:
        record = store.imports.get("imp-crash")
        assert record is not None
        counts = store.imports.recount("imp-crash")
        results = store.imports.results("imp-crash", limit=USERS + 10)
    finally:
        store.close()
    assert record.counts["created"] == counts["created"] == USERS and record.counts["failed"] == 0
    assert {r["status"] for r in results} == {Status.CREATED.value}
    assert {r["idp_id"] for r in results} == {u["id"] for u in okta.values()}
