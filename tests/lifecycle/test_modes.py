"""A tenant switched to `sync_and_activate`: its staged users get activated, once, at the next start."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from idsync.adapters.store import Store
from idsync.adapters.store.features.activation import switch_mode
from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess

from .helpers import TENANT, TOKEN, idsync, store_counts, write_config, write_users


def test_switch_to_sync_and_activate_activates_staged_users_once(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    admin = EmulatorAdmin(emulator.url)
    write_users(workdir / "phase1.jsonl", range(10))
    first = idsync(workdir, "import", "phase1.jsonl", "--tenant", TENANT)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "activation job" not in first.stderr  # mode sync: nothing to activate
    assert Counter(u["status"] for u in admin.users()) == {"STAGED": 10}

    # The operator edits the configuration; the next start-up (here an import) sees the switch.
    write_config(workdir / "idsync.toml", emulator.url, mode="sync_and_activate")
    write_users(workdir / "new.jsonl", range(100, 102))
    second = idsync(workdir, "import", "new.jsonl", "--tenant", TENANT)
    assert second.returncode == 0, second.stdout + second.stderr
    match = re.search(r"activation job (act-\S+) queued for 10 staged users", second.stderr)
    assert match, second.stderr
    assert Counter(u["status"] for u in admin.users()) == {"PROVISIONED": 12}  # 2 created active
    emails = Counter(e["userId"] for e in admin.outbox() if e["kind"] == "activation")
    assert len(emails) == 12 and set(emails.values()) == {1}
    job = store_counts(workdir, match.group(1))
    assert (job["origin"], job["activated"], job["state"]) == ("activation", 10, "completed")

    third = idsync(workdir, "import", "new.jsonl", "--tenant", TENANT)  # same mode: no new job
    assert third.returncode == 0 and "activation job" not in third.stderr
    assert sum(1 for e in admin.outbox() if e["kind"] == "activation") == 12


def test_only_one_instance_records_a_switch(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert switch_mode(store, "t", expected=None, mode="sync", activation_job=None)
        assert not switch_mode(store, "t", expected=None, mode="sync", activation_job=None)
        assert switch_mode(store, "t", expected="sync", mode="sync_and_activate", activation_job="act-1")
        assert not switch_mode(store, "t", expected="sync", mode="sync_and_activate", activation_job="act-2")
    finally:
        store.close()


def _answering(workdir: Path, answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`idsync ARGS` with `answer` typed at its prompt."""
    env = {**os.environ, "LC_OKTA_TOKEN": TOKEN, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "idsync.cli", *args],
        cwd=workdir,
        env=env,
        input=answer,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _tenants(workdir: Path) -> dict[str, object]:
    listed = idsync(workdir, "tenants", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    return dict(row)


def test_set_mode_at_runtime_estimates_asks_and_keeps_the_mode_until_the_file_changes(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    admin = EmulatorAdmin(emulator.url)
    write_users(workdir / "phase1.jsonl", range(4))
    assert idsync(workdir, "import", "phase1.jsonl", "--tenant", TENANT).returncode == 0
    listed = idsync(workdir, "tenants")
    cells = [c.strip() for c in next(x for x in listed.stdout.splitlines() if TENANT in x).split("│")[1:-1]]
    assert cells[:3] == [TENANT, "sync", "config"] and cells[4:] == ["sync", "4", "4", "0", "0"], cells

    wrong = idsync(workdir, "tenants", "set-mode", TENANT, "always")
    assert wrong.returncode == 2 and "MODE: 'always' is not a sync mode" in wrong.stderr
    declined = _answering(workdir, "n\n", "tenants", "set-mode", TENANT, "sync_and_activate")
    assert declined.returncode == 1, declined.stdout + declined.stderr
    assert "staged users (created, not activated): 4" in declined.stdout
    assert "activation e-mails the IdP will send: 4" in declined.stdout
    assert "nothing was changed" in declined.stdout and _tenants(workdir)["mode"] == "sync"

    agreed = _answering(workdir, "y\n", "tenants", "set-mode", TENANT, "sync_and_activate")
    assert agreed.returncode == 0, agreed.stdout + agreed.stderr
    job = re.search(r"activation job (act-\S+) queued for 4 staged users", agreed.stdout)
    assert job, agreed.stdout
    row = _tenants(workdir)
    assert (row["mode"], row["configured_mode"], row["previous_mode"]) == (
        "sync_and_activate",
        "sync",
        "sync",
    )
    assert str(row["set_by"]).startswith("cli:") and row["activation_job"] == job.group(1)
    # The next command's worker works on the job too, and creates new users active. The file
    # still says `sync`, unchanged: the mode switched at runtime stays in force.
    write_users(workdir / "new.jsonl", range(10, 12))
    assert idsync(workdir, "import", "new.jsonl", "--tenant", TENANT).returncode == 0
    assert Counter(u["status"] for u in admin.users()) == {"PROVISIONED": 6}
    status = json.loads(idsync(workdir, "status", job.group(1), "--json").stdout)
    assert (status["state"], status["activated"]) == ("completed", 4)
    again = idsync(workdir, "tenants", "set-mode", TENANT, "sync_and_activate", "--yes")
    assert again.returncode == 1 and "is in mode sync_and_activate already" in again.stderr

    # An edit of the file is a switch too, at the next start-up, by `config`.
    write_config(workdir / "idsync.toml", emulator.url, mode="off")
    assert idsync(workdir, "import", "new.jsonl", "--tenant", TENANT).returncode == 0
    row = _tenants(workdir)
    assert (row["mode"], row["set_by"], row["configured_mode"]) == ("off", "config", "off")
    trail = idsync(workdir, "audit", "--action", "mode.switch", "--json")
    entries = [json.loads(line) for line in trail.stdout.splitlines()]
    assert [(e["actor"][:4], e["outcome"], e["detail"].get("to")) for e in reversed(entries)] == [
        ("cli:", "ok", "sync_and_activate"),
        ("cli:", "failed", "sync_and_activate"),
        ("conf", "ok", "off"),
    ]
