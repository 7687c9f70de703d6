"""What the command line prints besides its answers: logs as JSON lines for a collector, no
library warning on any command, and a clear word when an optional package is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from tests.common import run_idsync

TOKEN = "cli-output-token"
FIELDS = {"time", "level", "logger", "message", "exc_info", "stack_info"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=TOKEN, time_scale=0.02)) as emu:
        yield emu


@pytest.fixture
def workdir(tmp_path: Path, emulator: EmulatorThread) -> Path:
    EmulatorAdmin(emulator.url).reset()
    (tmp_path / "idsync.toml").write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "idsync.db"}"\n'
        f'[idps.okta]\ntype = "okta"\nurl = "{emulator.url}"\ntoken_env = "CLI_OKTA_TOKEN"\n'
        '[tenants.acme]\nidp = "okta"\nmode = "sync"\n'
    )
    (tmp_path / "u.csv").write_text(
        "key,login,email,firstName,lastName\n"
        + "".join(f"{i},o{i}@example.com,o{i}@example.com,Ann,Lee\n" for i in range(5))
        + "5,not-an-address,x,Ann,Lee\n"
    )
    return tmp_path


def idsync(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_idsync(cwd, *args, env={"CLI_OKTA_TOKEN": TOKEN, "COLUMNS": "200", **env})


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of `text` as a JSON object with idsync's log fields (fails on any other line)."""
    out = []
    for line in text.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict) and set(record) <= FIELDS and {"level", "message"} <= set(record), (
            line
        )
        out.append(record)
    return out


def test_logs_are_json_lines_with_the_option_or_the_environment(workdir: Path) -> None:
    by_option = idsync(
        workdir, "--log-format", "json", "import", "u.csv", "--tenant", "acme", "--source", "app", "-v"
    )
    assert by_option.returncode == 1, by_option.stdout + by_option.stderr  # the invalid row failed
    records = json_lines(by_option.stderr)
    assert records and all(isinstance(r["time"], str) for r in records)
    assert TOKEN not in by_option.stdout + by_option.stderr
    by_env = idsync(
        workdir, "import", "u.csv", "--tenant", "acme", "--source", "app", "-v", IDSYNC_LOG_FORMAT="json"
    )
    assert json_lines(by_env.stderr) and TOKEN not in by_env.stderr
    text = idsync(workdir, "import", "u.csv", "--tenant", "acme", "--source", "app", "-v")
    assert text.stderr.strip() and not text.stderr.lstrip().startswith("{")  # the default: lines for people
    wrong = idsync(workdir, "--log-format", "xml", "status")
    assert wrong.returncode == 2 and "--log-format" in wrong.stderr


def test_no_command_prints_a_library_warning(workdir: Path) -> None:
    first = idsync(workdir, "import", "u.csv", "--tenant", "acme", "--source", "app", "--import-id", "imp-w")
    assert first.returncode == 1, first.stdout + first.stderr
    runs = [
        first,
        idsync(workdir, "status"),
        idsync(workdir, "status", "imp-w"),
        idsync(workdir, "plan", "u.csv", "--tenant", "acme", "--source", "app"),
        idsync(workdir, "failures", "imp-w"),
        idsync(workdir, "links", "conflicts"),
        idsync(workdir, "safety", "list"),
        idsync(workdir, "activate", "--tenant", "acme", "--dry-run"),
    ]
    for run in runs:
        assert run.returncode in (0, 1), run.args[3:]
        assert "Warning" not in run.stderr and "Traceback" not in run.stderr, (run.args[3:], run.stderr)
    status = runs[2].stdout
    assert "API calls: 5" in status  # one create per valid user


BLOCK_SCIM_SERVER = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "scim2_server":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
sys.argv = ["idsync", *sys.argv[1:]]
from idsync.cli.main import main
main()
"""


@pytest.mark.parametrize(
    ("args", "what"),
    [(["emulator", "scim"], "idsync emulator scim"), (["demo", "--idp", "scim"], "idsync demo --idp scim")],
)
def test_without_the_scim_extra_the_scim_commands_say_how_to_get_it(
    tmp_path: Path, args: list[str], what: str
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_SCIM_SERVER,
            *args,
            *(["--workdir", str(tmp_path / "d")] if "demo" in args else []),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{what} needs scim2-server, which is not installed: pip install 'idsync[scim]'" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "d").exists()
