"""`idsync portals sync`: one OpenID Connect app per portal, idempotent, secrets never printed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx

from idsync.emulator.okta import EmulatorProcess

from .helpers import TENANT, TOKEN, idsync

PORTALS = (
    "name,base URL,redirect URIs\n"
    "panel-de,https://panel.example.de,https://panel.example.de/oidc/callback\n"
    "panel-en,https://panel.example.com,https://panel.example.com/oidc/callback https://panel.example.com/oidc/silent\n"
    "survey,https://survey.example.com,https://survey.example.com/login/callback\n"
)


def apps(url: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/v1/apps", params={"limit": "200"}, headers={"Authorization": f"SSWS {TOKEN}"})
    r.raise_for_status()
    body: list[dict[str, Any]] = r.json()
    return body


def test_sync_twice_creates_once_and_keeps_secrets_in_an_owner_only_file(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    (workdir / "portals.csv").write_text(PORTALS)
    dry = idsync(workdir, "portals", "sync", "--tenant", TENANT, "--file", "portals.csv", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert dry.stdout.count("would_create") == 4 and "nothing was changed (dry run)" in dry.stdout
    assert apps(emulator.url) == []

    first = idsync(
        workdir, "portals", "sync", "--tenant", TENANT, "--file", "portals.csv",
        "--secrets-file", "secrets.jsonl", "--verbose",
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("created") >= 3
    created = apps(emulator.url)
    assert sorted(a["label"] for a in created) == [
        "idsync/efs-prod/panel-de",
        "idsync/efs-prod/panel-en",
        "idsync/efs-prod/survey",
    ]
    by_label = {a["label"]: a for a in created}
    uris = by_label["idsync/efs-prod/panel-en"]["settings"]["oauthClient"]["redirect_uris"]
    assert uris == ["https://panel.example.com/oidc/callback", "https://panel.example.com/oidc/silent"]
    everyone = httpx.get(
        f"{emulator.url}/api/v1/groups",
        params={"q": "Everyone"},
        headers={"Authorization": f"SSWS {emulator.token}"},
    ).json()[0]["id"]
    for app in created:  # users can sign in only to apps they are assigned to
        assigned = httpx.get(
            f"{emulator.url}/api/v1/apps/{app['id']}/groups",
            headers={"Authorization": f"SSWS {emulator.token}"},
        ).json()
        assert [g["id"] for g in assigned] == [everyone], app["label"]

    secrets_path = workdir / "secrets.jsonl"
    assert stat.S_IMODE(os.stat(secrets_path).st_mode) == 0o600
    records = [json.loads(line) for line in secrets_path.read_text().splitlines()]
    assert {r["portal"] for r in records} == {"panel-de", "panel-en", "survey"}
    for r in records:
        assert (
            r["client_id"]
            == by_label[f"idsync/efs-prod/{r['portal']}"]["credentials"]["oauthClient"]["client_id"]
        )
        assert len(r["client_secret"]) >= 20
        assert r["client_secret"] not in first.stdout + first.stderr
        for db_file in workdir.glob("idsync.db*"):  # the database and its write-ahead log
            assert r["client_secret"] not in db_file.read_bytes().decode("latin-1")

    second = idsync(
        workdir,
        "portals",
        "sync",
        "--tenant",
        TENANT,
        "--file",
        "portals.csv",
        "--secrets-file",
        "secrets.jsonl",
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "unchanged 3" in second.stdout
    assert len(apps(emulator.url)) == 3  # a second run creates nothing
    assert len(secrets_path.read_text().splitlines()) == 3

    listing = idsync(workdir, "portals", "list", "--tenant", TENANT)
    assert listing.returncode == 0 and listing.stdout.count("registered") == 3
    for r in records:
        assert r["client_secret"] not in listing.stdout


def test_an_app_created_before_the_record_is_adopted_and_changes_are_sent(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    # A run that died between "created at Okta" and "recorded here" left this app behind.
    body = {
        "name": "oidc_client",
        "label": "idsync/efs-prod/survey",
        "signOnMode": "OPENID_CONNECT",
        "settings": {
            "oauthClient": {
                "redirect_uris": ["https://survey.example.com/login/callback"],
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
            }
        },
    }
    r = httpx.post(f"{emulator.url}/api/v1/apps", json=body, headers={"Authorization": f"SSWS {TOKEN}"})
    r.raise_for_status()
    (workdir / "portals.csv").write_text(PORTALS.splitlines()[0] + "\n" + PORTALS.splitlines()[3] + "\n")
    result = idsync(workdir, "portals", "sync", "--tenant", TENANT, "--file", "portals.csv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "adopted" in result.stdout and r.json()["id"] in result.stdout
    assert len(apps(emulator.url)) == 1

    (workdir / "moved.csv").write_text(
        "name,base_url,redirect_uris\nsurvey,https://survey.example.com,https://survey.example.com/v2/callback\n"
    )
    moved = idsync(workdir, "portals", "sync", "--tenant", TENANT, "--file", "moved.csv")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "updated" in moved.stdout
    (app,) = apps(emulator.url)
    assert app["id"] == r.json()["id"]
    assert app["settings"]["oauthClient"]["redirect_uris"] == ["https://survey.example.com/v2/callback"]


def test_without_secrets_file_the_secret_is_dropped_and_bad_rows_exit_1(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    (workdir / "portals.csv").write_text(
        "name,base_url,redirect_uris\n"
        "ok,https://ok.example.com,https://ok.example.com/cb\n"
        "plain,http://plain.example.com,http://plain.example.com/cb\n"
        "bad\u202ename,https://x.example.com,https://x.example.com/cb\n"  # a hidden character
        "frag,https://f.example.com,https://f.example.com/cb#x\n"
    )
    result = idsync(workdir, "portals", "sync", "--tenant", TENANT, "--file", "portals.csv")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "client secrets of 1 new app(s) were not kept" in out
    assert "must use https" in out and "#fragment" in out and "bidirectional" in out and "invalid 3" in out
    assert [a["label"] for a in apps(emulator.url)] == ["idsync/efs-prod/ok"]


def test_a_secrets_file_others_can_read_is_refused(workdir: Path, emulator: EmulatorProcess) -> None:
    (workdir / "portals.csv").write_text(PORTALS)
    loose = workdir / "loose.jsonl"
    loose.write_text("")
    loose.chmod(0o644)
    result = idsync(
        workdir, "portals", "sync", "--tenant", TENANT, "--file", "portals.csv", "--secrets-file", str(loose)
    )
    assert result.returncode == 2 and "can be read by others" in result.stderr
    assert apps(emulator.url) == []  # refused before anything was created
