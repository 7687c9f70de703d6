"""The promise of phase 2: kill the activation at any moment, run it again, and every staged user
gets exactly one activation (one call answered 200, no call refused) and exactly one e-mail.

The emulator runs in its own process with a state file and records every exchange; `idsync
activate` runs as a subprocess and is SIGKILLed while the outbox shows some but not all e-mails.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess, EmulatorSettings

from .helpers import TENANT, TOKEN, idsync, write_config, write_users

USERS = 200
ACTIVATE = re.compile(r"^/api/v1/users/([^/]+)/lifecycle/activate$")


@pytest.fixture
def durable_emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    settings = EmulatorSettings(
        token=TOKEN,
        time_scale=0.05,  # a rate-limit minute lasts 3 s: 200 activations take a few seconds
        state_file=str(tmp_path / "okta-state.db"),
        record_exchanges=True,
        faults={"latency_ms": 30.0, "latency_jitter_ms": 10.0},  # calls are in flight when it dies
        seed=7,
    )
    with EmulatorProcess(settings) as emu:
        yield emu


def activate_in_background(workdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "LC_OKTA_TOKEN": TOKEN, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "idsync.cli", "activate", "--tenant", TENANT],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_killed_activation_resumes_without_a_second_activation_or_email(
    tmp_path: Path, durable_emulator: EmulatorProcess
) -> None:
    url = durable_emulator.url
    admin = EmulatorAdmin(url)
    write_config(tmp_path / "idsync.toml", url)
    write_users(tmp_path / "panel.jsonl", range(USERS))
    phase1 = idsync(tmp_path, "import", "panel.jsonl", "--tenant", TENANT)
    assert phase1.returncode == 0, phase1.stdout + phase1.stderr
    staged = {u["id"] for u in admin.users(status="STAGED")}
    assert len(staged) == USERS

    proc = activate_in_background(tmp_path)
    sent_at_kill = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            sent_at_kill = len(admin.outbox())
            if sent_at_kill >= 30:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None and sent_at_kill < 30:
            proc.kill()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        first_output = proc.stdout.read()
    assert proc.returncode == -signal.SIGKILL, first_output
    after_kill = len(admin.outbox())
    assert 0 < after_kill < USERS, f"the kill must land mid-run ({after_kill} e-mails of {USERS})"

    resumed = idsync(tmp_path, "activate", "--tenant", TENANT)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming activation job" in resumed.stdout
    assert re.search(r"activated\s+│\s+200", resumed.stdout), resumed.stdout

    # Every staged user: exactly one activation e-mail.
    emails = Counter(e["userId"] for e in admin.outbox() if e["kind"] == "activation")
    assert set(emails) == staged
    assert set(emails.values()) == {1}
    assert {u["activation_emails"] for u in admin.users()} == {1}
    # Every staged user: exactly one activation call, answered 200; none refused as already done.
    calls: dict[str, list[int]] = {}
    for exchange in admin.exchanges():
        match = ACTIVATE.match(exchange["path"])
        if exchange["method"] == "POST" and match:
            calls.setdefault(match.group(1), []).append(exchange["status"])
    assert set(calls) == staged
    assert all(statuses == [200] for statuses in calls.values()), {
        k: v for k, v in calls.items() if v != [200]
    }
    # The kill interrupted work in progress: the resume found changes to look at before writing.
    with sqlite3.connect(tmp_path / "idsync.db") as db:
        interrupted = db.execute(
            "SELECT count(*) FROM changes WHERE origin = 'activation' AND attempts > 0"
        ).fetchone()[0]
        states = dict(db.execute("SELECT idp_status, count(*) FROM links GROUP BY idp_status").fetchall())
        job = db.execute("SELECT received, activated, failed, state FROM imports WHERE origin = 'activation'")
        jobs = job.fetchall()
    assert interrupted > 0
    assert states == {"PROVISIONED": USERS}
    assert jobs == [(USERS, USERS, 0, "completed")]  # one job, resumed; counts exact
