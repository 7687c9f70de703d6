"""`idsync doctor` checks the identity source of an IdP that has one: a source Okta serves, one it
refuses (a problem, or a warning when the IdP falls back to creating users one by one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from tests.common import run_idsync
from tests.sessions.support import TOKEN, emulator_settings


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(emulator_settings(time_scale=1.0)) as emu:
        yield emu


def doctor(tmp_path: Path, url: str, source: str, fallback: str = "error") -> tuple[int, str]:
    config = tmp_path / "idsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "idsync.db"}"\n\n[idps.okta]\ntype = "okta"\nurl = "{url}"\n'
        f'token_env = "OKTA_TOKEN"\nidentity_source = {{ id = "{source}", fallback = "{fallback}" }}\n\n'
        '[tenants.acme]\nidp = "okta"\n'
    )
    done = run_idsync(
        tmp_path, "doctor", "--config", str(config), env={"COLUMNS": "250", "OKTA_TOKEN": TOKEN}
    )
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out
    return done.returncode, out


def test_a_source_okta_serves_passes(emulator: EmulatorThread, tmp_path: Path) -> None:
    source = EmulatorAdmin(emulator.url).create_identity_source("idsync")
    code, out = doctor(tmp_path, emulator.url, source)
    assert code == 0, out
    assert "list import sessions (identity source): 200; bucket identitySources" in out


@pytest.mark.parametrize(("fallback", "code"), [("error", 1), ("standard", 0)])
def test_a_source_okta_refuses_is_explained(
    emulator: EmulatorThread, tmp_path: Path, fallback: str, code: int
) -> None:
    got, out = doctor(tmp_path, emulator.url, "0oaNOSUCHSOURCE00000", fallback)
    assert got == code, out
    assert "list import sessions (identity source): Okta 404 E0000007" in out
    assert "fix: ask Okta to enable Identity Source Apps for the org" in out
    assert ("will create users one by one" in out) is (fallback == "standard")
