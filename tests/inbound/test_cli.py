"""`idsync inbound ...` against a TOML configuration, the emulator over HTTP and a SQLite target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from idsync.cli.main import app
from idsync.emulator.okta import EmulatorSettings, EmulatorThread

TOKEN = "cli-okta-token"


@pytest.fixture
def okta() -> Iterator[httpx.Client]:
    with (
        EmulatorThread(EmulatorSettings(token=TOKEN)) as emu,
        httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {TOKEN}"}) as client,
    ):
        yield client


def _config(tmp_path: Path, okta_url: str, extra: str = "") -> Path:
    path = tmp_path / "idsync.toml"
    path.write_text(f"""
[store]
url = "sqlite:///{tmp_path}/idsync.db"

[idps.okta]
type = "okta"
url = "{okta_url}"
token_env = "CLI_OKTA_TOKEN"

[inbound.portal]
idp = "okta"
hook_secret_env = "CLI_HOOK_SECRET"
public_url = "https://idsync.example.com"
{extra}
[inbound.portal.groups]
"Portal Admins" = "admin"

[inbound.portal.target]
type = "sql"
url = "sqlite:///{tmp_path}/app.db"
create_tables = true
""")
    return path


def _user(okta: httpx.Client, login: str, **profile: str) -> str:
    body = {
        "profile": {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee", **profile},
        "credentials": {"password": {"value": "Pa55word!-long-enough"}},
    }
    r = okta.post("/api/v1/users", json=body)
    r.raise_for_status()
    return str(r.json()["id"])


def test_sync_log_pause_resume_remove(
    tmp_path: Path, okta: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLI_OKTA_TOKEN", TOKEN)
    monkeypatch.setenv("CLI_HOOK_SECRET", "Bearer cli-hook-secret-123456")
    monkeypatch.setenv("COLUMNS", "200")
    config = str(_config(tmp_path, str(okta.base_url)))
    group = okta.post("/api/v1/groups", json={"profile": {"name": "Portal Admins"}}).json()["id"]
    ann = _user(okta, "ann@example.com", title="CTO")
    okta.put(f"/api/v1/groups/{group}/users/{ann}").raise_for_status()
    _user(okta, "bob@example.com", firstName="Bob")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["inbound", *args, "-c", config])
        assert result.exit_code == 0, result.output
        return result.output

    out = run("sync", "portal")
    assert "initial_sync succeeded" in out and "2 created" in out
    db = create_engine(f"sqlite:///{tmp_path}/app.db")
    with db.connect() as conn:
        rows = conn.execute(text("SELECT email, title, active FROM app_users ORDER BY email")).all()
        roles = conn.execute(text("SELECT role FROM app_user_roles")).scalars().all()
    assert [tuple(r) for r in rows] == [("ann@example.com", "CTO", 1), ("bob@example.com", None, 1)]
    assert roles == ["admin"]

    assert "initial_sync" in run("log", "portal")
    entries = json.loads(run("log", "portal", "--json"))
    assert entries[0]["kind"] == "initial_sync" and entries[0]["detail"]["counts"] == {"created": 2}

    assert "paused" in run("pause", "portal")
    assert json.loads(run("status", "portal", "--json"))[0]["state"] == "paused"
    okta.post(f"/api/v1/users/{ann}", json={"profile": {"title": "CEO"}}).raise_for_status()
    out = run("resume", "portal")
    assert "delta_sync succeeded" in out and "1 updated" in out
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT title FROM app_users WHERE email='ann@example.com'")).scalar() == "CEO"
        )

    out = run("remove", "portal")
    assert "2 link(s) cleared" in out
    status = json.loads(run("status", "portal", "--json"))[0]
    assert status["state"] == "removed" and status["links"] == 0
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app_users")).scalar() == 2  # nothing deleted


def test_usage_errors(tmp_path: Path, okta: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLI_OKTA_TOKEN", TOKEN)
    config = str(_config(tmp_path, str(okta.base_url)))
    runner = CliRunner()
    result = runner.invoke(app, ["inbound", "sync", "nope", "-c", config])
    assert result.exit_code == 1 and "no inbound integration named 'nope'" in result.output
    result = runner.invoke(app, ["inbound", "register-hook", "portal", "-c", config])
    assert result.exit_code == 2 and "no hook secret is configured" in result.output


def test_dry_run_shows_what_a_sync_would_change_and_what_the_safety_threshold_would_hold(
    tmp_path: Path, okta: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLI_OKTA_TOKEN", TOKEN)
    monkeypatch.setenv("CLI_HOOK_SECRET", "Bearer cli-hook-secret-123456")
    monkeypatch.setenv("COLUMNS", "200")
    config = str(_config(tmp_path, str(okta.base_url), "deprovision_floor = 1"))
    users = [_user(okta, f"u{i}@example.com") for i in range(5)]
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["inbound", *args, "-c", config])
        assert result.exit_code == code, result.output
        return result.output

    preview = run("sync", "portal", "--dry-run")
    assert "would create: 5" in preview and "within the allowance" in preview
    assert "nothing was written" in preview
    assert json.loads(run("status", "portal", "--json"))[0]["links"] == 0
    run("sync", "portal")
    for user in users[:3]:
        okta.post(f"/api/v1/users/{user}/lifecycle/deactivate").raise_for_status()

    preview = run("sync", "portal", "--dry-run")
    assert "would deactivate: 3" in preview, preview
    for login in ("u0@example.com", "u1@example.com", "u2@example.com"):
        assert f"would deactivate: {login}" in preview
    assert "deactivations or role removals: 3; the allowance is 1 (5 linked users)" in preview
    assert "a real run would be held after 1 of them" in preview
    db = create_engine(f"sqlite:///{tmp_path}/app.db")
    with db.connect() as conn:  # the dry run changed nothing
        assert conn.execute(text("SELECT count(*) FROM app_users WHERE active")).scalar() == 5

    out = run("sync", "portal", code=1)  # partial: some users held
    assert "initial_sync partial" in out and out.count("held ") >= 2, out
    listed = run("safety", "list", "portal")
    assert "tripped" in listed and "holds u" in listed
    entry = json.loads(run("log", "portal", "--json", "--kind", "initial_sync"))[0]
    discarded = run("safety", "discard", "portal", f"sync-{entry['id']}")
    assert "discarded 2 held user(s)" in discarded
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app_users WHERE active")).scalar() == 4
    assert "unknown" not in run("safety", "list", "portal")
    missing = runner.invoke(app, ["inbound", "safety", "release", "portal", "sync-999", "-c", config])
    assert missing.exit_code == 1 and "no safety run 'sync-999'" in missing.output
