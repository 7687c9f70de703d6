"""The `idsync` command line as a user runs it: a subprocess against the emulator over HTTP."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from tests.common import run_idsync

TOKEN = "cli-token"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=TOKEN, time_scale=0.02)) as emu:
        yield emu


@pytest.fixture
def workdir(tmp_path: Path, emulator: EmulatorThread) -> Path:
    EmulatorAdmin(emulator.url).reset()
    (tmp_path / "idsync.toml").write_text(f"""
[store]
url = "sqlite:///{tmp_path / "idsync.db"}"

[idps.okta]
type = "okta"
url = "{emulator.url}"
token_env = "CLI_OKTA_TOKEN"

[tenants.acme]
idp = "okta"
mode = "sync"
external_idps = [{{ name = "partner-adfs", domains = ["partner.example"] }}]
""")
    return tmp_path


def idsync(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {"CLI_OKTA_TOKEN": TOKEN, "COLUMNS": "160", **(env or {})}
    return run_idsync(cwd, *args, env=environment, timeout_s=180)


def user_line(key: int, email: str | None = None, **extra: object) -> str:
    email = email or f"u{key}@example.com"
    return json.dumps(
        {
            "tenant": "acme",
            "op": "upsert",
            "source": "app",
            "key": str(key),
            "user": {"login": email, "email": email, "firstName": "Ann", "lastName": "Lee", **extra},
        }
    )


def test_import_exit_codes_summary_and_status(workdir: Path, emulator: EmulatorThread) -> None:
    good = workdir / "good.csv"
    good.write_text(
        "key,login,email,firstName,lastName,source\n"
        + "".join(f"{i},u{i}@example.com,u{i}@example.com,Ann,Lee,app\n" for i in range(20))
    )
    first = idsync(workdir, "import", str(good), "--tenant", "acme")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created" in first.stdout and "20" in first.stdout
    again = idsync(workdir, "import", str(good), "--tenant", "acme", "--import-id", "imp-again")
    assert again.returncode == 0
    assert "API calls: 0" in again.stdout
    status = idsync(workdir, "status", "imp-again", "--json")
    assert status.returncode == 0, status.stderr
    progress = json.loads(status.stdout)
    assert progress["unchanged"] == 20 and progress["state"] == "completed" and progress["pending"] == 0
    listing = idsync(workdir, "status")
    assert "imp-again" in listing.stdout
    assert len(EmulatorAdmin(emulator.url).users()) == 20


def test_failures_exit_1_and_are_named(workdir: Path) -> None:
    lines = [
        user_line(1),
        user_line(2, email="broken"),
        "{not json",
        user_line(3, email="x@partner.example"),
        json.dumps({"tenant": "acme", "op": "zap", "source": "app", "key": "9"}),
    ]
    path = workdir / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = idsync(workdir, "import", str(path), "--tenant", "acme")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "failed" in result.stdout and "external_idp" in result.stdout
    status = json.loads(idsync(workdir, "status", "--json").stdout)[0]
    assert (status["created"], status["failed"], status["skipped"]) == (1, 3, 1)


def test_usage_and_config_errors_exit_2(workdir: Path) -> None:
    users = workdir / "u.jsonl"
    users.write_text(user_line(1) + "\n")
    unknown = idsync(workdir, "import", str(users), "--tenant", "nope")
    assert unknown.returncode == 2 and "tenant 'nope' is not configured" in unknown.stderr
    missing = idsync(workdir, "import", str(workdir / "absent.jsonl"), "--tenant", "acme")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    (workdir / "bad.toml").write_text('[tenants.acme]\nidp = "okta"\nmode = "sometimes"\n')
    bad = idsync(workdir, "import", str(users), "--tenant", "acme", "--config", str(workdir / "bad.toml"))
    assert bad.returncode == 2
    assert "tenants.acme.mode" in bad.stderr and "Traceback" not in bad.stderr
    sourceless = workdir / "users.csv"
    sourceless.write_text("key,login,email,firstName,lastName\n1,a@example.com,a@example.com,Ann,Lee\n")
    for command in ("import", "plan"):
        no_source = idsync(workdir, command, str(sourceless), "--tenant", "acme")
        assert no_source.returncode == 2, no_source.stdout
        assert "no 'source' column: pass --source" in no_source.stderr.replace("\n", " ")
    no_token = idsync(workdir, "import", str(users), "--tenant", "acme", env={"CLI_OKTA_TOKEN": ""})
    assert no_token.returncode == 2 and "CLI_OKTA_TOKEN is not set" in no_token.stderr


def test_secrets_never_reach_the_output(workdir: Path) -> None:
    users = workdir / "u.jsonl"
    users.write_text(user_line(1) + "\n")
    result = idsync(workdir, "import", str(users), "--tenant", "acme", "--verbose")
    assert TOKEN not in result.stdout + result.stderr
