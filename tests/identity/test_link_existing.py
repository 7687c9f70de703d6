"""`--link-existing`: the org's accounts are listed once (200 a page) and matched by login before
any create, so an account that exists costs no failed create and no lookup."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.runtime import Runtime
from idsync.web.app import create_app
from tests.common import ServerThread, eventually, run_idsync

from .support import API_TOKEN, FAST, TOKEN, calls, change, linked_ids, make_settings, sync

EXISTING, NEW = 450, 50


def _seed(admin: EmulatorAdmin) -> None:
    """Accounts made before idsync came: the same people as the import's first 450 users."""
    users = [
        {
            "profile": {
                "login": f"Old{i}@Example.com",
                "email": f"old{i}@example.com",
                "firstName": "Ann",
                "lastName": "Lee",
            }
        }
        for i in range(EXISTING)
    ]
    admin._post("/users", {"users": users})


def _changes() -> list[dict[str, object]]:
    out = []
    for i in range(EXISTING):
        c = change("efs", "app", f"o{i}", f"old{i}@example.com")
        c["user"]["login"] = f"Old{i}@Example.com"  # type: ignore[index]
        out.append(c)
    out += [change("efs", "app", f"n{i}", f"new{i}@example.com") for i in range(NEW)]
    return out


async def test_existing_accounts_are_linked_without_a_failed_create(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    _seed(admin)
    settings = make_settings(
        f"sqlite:///{tmp_path / 'idsync.db'}", org.url, {"efs": {"existing_account": "adopt_unlinked"}}
    )
    async with Runtime(settings, worker_options=FAST) as rt:
        out = await sync(rt, tmp_path, "efs", _changes(), link_existing=True)
        assert out.report.progress.unchanged == EXISTING and out.report.progress.created == NEW
        assert len(set(linked_ids(rt))) == EXISTING + NEW
        # 3 pages of 200 listed the org; then one create per new user and nothing else.
        assert out.report.api_calls == 3 + NEW
    assert admin.stats(windows=False)["requests"]["POST /api/v1/users"] == {"200": NEW}
    assert calls(admin, "GET /api/v1/users/{userId}") == 0
    assert admin.stats(windows=False)["duplicate_login_rejections"] == 0
    assert len(admin.users()) == EXISTING + NEW


async def test_under_reject_existing_accounts_fail_without_a_call(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    _seed(admin)
    settings = make_settings(f"sqlite:///{tmp_path / 'idsync.db'}", org.url, {"efs": {}})
    async with Runtime(settings, worker_options=FAST) as rt:
        out = await sync(rt, tmp_path, "efs", _changes(), link_existing=True)
    assert out.report.progress.failed == EXISTING and out.report.progress.created == NEW
    assert {out.reason("app", f"o{i}")[0] for i in range(EXISTING)} == {"login_taken"}
    assert out.report.api_calls == 3 + NEW
    assert admin.stats(windows=False)["duplicate_login_rejections"] == 0


def test_the_cli_and_the_http_api_take_the_option(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    _seed(admin)
    config = tmp_path / "idsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "idsync.db"}"\n'
        f'[idps.okta]\ntype = "okta"\nurl = "{org.url}"\ntoken_env = "OKTA_TOKEN"\n'
        '[tenants.efs]\nidp = "okta"\nexisting_account = "adopt_unlinked"\n'
    )
    half = _changes()[: EXISTING // 2]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(c) + "\n" for c in half))
    done = run_idsync(
        tmp_path,
        "import",
        str(tmp_path / "a.jsonl"),
        "--tenant",
        "efs",
        "--config",
        str(config),
        "--link-existing",
        env={"OKTA_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert admin.stats(windows=False)["requests"].get("POST /api/v1/users", {}) == {}
    rest = _changes()[EXISTING // 2 :]
    settings = make_settings(
        f"sqlite:///{tmp_path / 'idsync.db'}", org.url, {"efs": {"existing_account": "adopt_unlinked"}}
    )
    with (
        ServerThread(create_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        started = client.post(
            "/imports",
            params={"tenant": "efs", "link_existing": "true"},
            content="".join(json.dumps(c) + "\n" for c in rest).encode(),
            headers={**auth, "Content-Type": "application/x-ndjson"},
        )
        assert started.status_code == 202, started.text
        url = started.json()["url"]
        final = eventually(lambda: (r := client.get(url, headers=auth).json())["state"] == "completed" and r)
    assert final["unchanged"] == EXISTING - EXISTING // 2 and final["created"] == NEW and final["failed"] == 0
    assert admin.stats(windows=False)["requests"]["POST /api/v1/users"] == {"200": NEW}
