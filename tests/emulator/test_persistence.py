"""`--state-file`: the org survives a restart and a SIGKILL of the emulator process."""

from __future__ import annotations

from pathlib import Path

import httpx

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess, EmulatorSettings, EmulatorThread

from .conformance import from_admin, problems
from .conftest import new_user


def test_state_survives_sigkill_of_the_process(tmp_path: Path) -> None:
    settings = EmulatorSettings(state_file=str(tmp_path / "org.sqlite"), seed=5, record_exchanges=True)
    emu = EmulatorProcess(settings, log_path=tmp_path / "emulator.log").start()
    try:
        with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as c:
            staged = c.post("/api/v1/users?activate=false", json=new_user("kept@example.com")).json()
            provisioned = c.post("/api/v1/users?activate=true", json=new_user("mailed@example.com")).json()
            group = c.post("/api/v1/groups", json={"profile": {"name": "Kept"}}).json()
            c.put(f"/api/v1/groups/{group['id']}/users/{staged['id']}")
            gone = c.post("/api/v1/users", json=new_user("gone@example.com", password=True)).json()
            c.delete(f"/api/v1/users/{gone['id']}")
            c.delete(f"/api/v1/users/{gone['id']}")
        before = EmulatorAdmin(emu.url).users()
        assert problems(from_admin(EmulatorAdmin(emu.url).exchanges())) == []
    finally:
        emu.kill()  # SIGKILL: no clean shutdown
    assert emu.proc is not None
    assert emu.proc.returncode == -9

    with EmulatorProcess(settings, log_path=tmp_path / "emulator2.log") as again:
        admin = EmulatorAdmin(again.url)
        assert admin.users() == before
        assert [m["userId"] for m in admin.outbox()] == [provisioned["id"]]
        with httpx.Client(base_url=again.url, headers={"Authorization": f"SSWS {again.token}"}) as c:
            assert c.get("/api/v1/users/kept@example.com").json()["id"] == staged["id"]
            groups = c.get(f"/api/v1/users/{staged['id']}/groups").json()
            assert [g["profile"]["name"] for g in groups] == ["Everyone", "Kept"]
            duplicate = c.post("/api/v1/users", json=new_user("KEPT@example.com"))
            assert duplicate.status_code == 400  # the login index was rebuilt too
            assert c.get(f"/api/v1/users/{gone['id']}").status_code == 404
        assert problems(from_admin(admin.exchanges())) == []
        admin.reset()
        assert admin.users() == []
    with EmulatorThread(settings) as third:  # reset emptied the file as well
        assert EmulatorAdmin(third.url).users() == []


def test_process_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    emu = EmulatorProcess(EmulatorSettings(), log_path=tmp_path / "log.txt").start()
    assert EmulatorAdmin(emu.url).health()["status"] == "ok"
    assert emu.stop() == 0
    log = (tmp_path / "log.txt").read_text()
    assert "Okta emulator listening on http://127.0.0.1:" in log
    assert f"API token: {emu.token}" in log
