"""`idsync activate` as a support engineer runs it: dry run, real run, one source, refusals."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess

from .helpers import TENANT, idsync, seed_import, user, write_config, write_users


def phase_one(workdir: Path, admins: int = 4, panelists: int = 20) -> None:
    write_users(workdir / "admins.jsonl", range(admins), source="efs-admin")
    write_users(
        workdir / "panel.jsonl",
        range(100, 100 + panelists),
        extra_lines=(user("ext", "someone@bigcorp.example"),),
    )
    for name in ("admins.jsonl", "panel.jsonl"):
        assert seed_import(workdir, workdir / name).progress.failed == 0


def activation_emails(url: str) -> Counter[str]:
    return Counter(e["userId"] for e in EmulatorAdmin(url).outbox() if e["kind"] == "activation")


def test_dry_run_changes_nothing_and_says_how_many_and_how_long(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    phase_one(workdir)
    admin = EmulatorAdmin(emulator.url)
    requests_before = admin.stats()["requests"]
    result = idsync(workdir, "activate", "--tenant", TENANT, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "staged users (created, not activated): 24 would be activated" in out
    assert "activation e-mails the IdP would send: 24" in out
    assert "API calls: 24" in out
    assert re.search(r"expected duration: (< 1 s|\d+ s|\d+ min)", out), out
    assert "learned" in out  # phase 1 taught the governor this org's limit for the users bucket
    assert "nothing was changed (dry run)" in out
    assert admin.stats()["requests"] == requests_before  # not a single IdP call
    assert admin.outbox() == []
    assert {u["status"] for u in admin.users()} == {"STAGED"}


def test_real_run_activates_every_staged_user_once_and_a_rerun_nobody(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    phase_one(workdir)
    result = idsync(workdir, "activate", "--tenant", TENANT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"activated\s+│\s+24", result.stdout), result.stdout
    assert "API calls: 24" in result.stdout
    emails = activation_emails(emulator.url)
    assert len(emails) == 24 and set(emails.values()) == {1}
    assert {u["status"] for u in EmulatorAdmin(emulator.url).users()} == {"PROVISIONED"}

    again = idsync(workdir, "activate", "--tenant", TENANT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no staged users, nothing to activate" in again.stdout
    assert sum(activation_emails(emulator.url).values()) == 24
    dry = idsync(workdir, "activate", "--tenant", TENANT, "--dry-run")
    assert "staged users (created, not activated): 0 would be activated" in dry.stdout


def test_one_source_only(workdir: Path, emulator: EmulatorProcess) -> None:
    phase_one(workdir, admins=3, panelists=5)
    result = idsync(workdir, "activate", "--tenant", TENANT, "--source", "efs-admin")
    assert result.returncode == 0, result.stdout + result.stderr
    users = EmulatorAdmin(emulator.url).users()
    by_status = Counter((u["login"].startswith("user10"), u["status"]) for u in users)
    assert by_status == {(False, "PROVISIONED"): 3, (True, "STAGED"): 5}


def test_refusals_exit_2(workdir: Path, emulator: EmulatorProcess) -> None:
    unknown = idsync(workdir, "activate", "--tenant", "nope")
    assert unknown.returncode == 2 and "tenant 'nope' is not configured" in unknown.stderr
    write_config(workdir / "off.toml", emulator.url, mode="off")
    off = idsync(workdir, "activate", "--tenant", TENANT, "--config", "off.toml")
    assert off.returncode == 2 and "sync mode off" in off.stderr
    assert "Traceback" not in unknown.stderr + off.stderr
