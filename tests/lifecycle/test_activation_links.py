"""A tenant that sends no activation e-mail gets the activation links back: in each result, and
from `idsync activate --links-file` in an owner-only file. The IdP sends nothing."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess

from .helpers import TENANT, idsync, seed_import, write_config, write_users


def test_links_come_back_when_no_email_is_sent(workdir: Path, emulator: EmulatorProcess) -> None:
    config = workdir / "idsync.toml"
    write_config(config, emulator.url)
    config.write_text(config.read_text() + "send_activation_email = false\n")
    write_users(workdir / "panel.jsonl", range(5))
    assert seed_import(workdir, workdir / "panel.jsonl").progress.created == 5

    refused = idsync(workdir, "activate", "--tenant", TENANT, "--links-file", str(workdir / "missing" / "x"))
    assert refused.returncode == 2 and "does not exist" in refused.stderr

    result = idsync(workdir, "activate", "--tenant", TENANT, "--links-file", "links.jsonl")
    assert result.returncode == 0, result.stdout + result.stderr
    links_file = workdir / "links.jsonl"
    assert stat.S_IMODE(os.stat(links_file).st_mode) == 0o600
    records = [json.loads(line) for line in links_file.read_text().splitlines()]
    assert sorted(r["key"] for r in records) == [str(i) for i in range(5)]
    issued = httpx.get(f"{emulator.url}/__emulator/activation-links").json()
    assert {r["activation_url"] for r in records} == {link["activationUrl"] for link in issued}
    for r in records:
        assert r["activation_url"] not in result.stdout + result.stderr  # links only go to the file
    admin = EmulatorAdmin(emulator.url)
    assert [e for e in admin.outbox() if e["kind"] == "activation"] == []  # the IdP e-mailed nobody
    assert {u["status"] for u in admin.users()} == {"PROVISIONED"}
