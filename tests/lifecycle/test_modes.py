"""A tenant switched to `sync_and_activate`: its staged users get activated, once, at the next start."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from idsync.adapters.store import Store
from idsync.adapters.store.features.activation import switch_mode
from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess

from .helpers import TENANT, idsync, store_counts, write_config, write_users


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
