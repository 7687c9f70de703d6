"""The SCIM server the demo and the tests start: `ScimServerProcess` and `idsync emulator scim`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from idsync.adapters.scim.server import ScimServerProcess


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().split()[2] != "Z"


def test_the_process_serves_scim_with_its_token_and_stops_by_pid() -> None:
    with ScimServerProcess(service_provider_config={"bulk": {"supported": False}}) as scim:
        pid = scim.pid
        config = httpx.get(f"{scim.url}/ServiceProviderConfig").json()
        refused = httpx.get(f"{scim.url}/Users")
        allowed = httpx.get(f"{scim.url}/Users", headers={"Authorization": f"Bearer {scim.token}"})
        assert scim.users_by_status() == {"active": 0, "inactive": 0}
        assert scim.idp_settings("SCIM_TOKEN") == {"type": "scim", "url": scim.url, "token_env": "SCIM_TOKEN"}
        with pytest.raises(RuntimeError, match=f"did not start on 127.0.0.1:{scim.port}"):
            ScimServerProcess(port=scim.port).start()  # taken: a clear error, not the other's answers
        assert httpx.get(f"{scim.url}/ServiceProviderConfig").status_code == 200
    assert config["bulk"]["supported"] is False
    assert (refused.status_code, allowed.status_code) == (401, 200)
    assert not _alive(pid)


def test_the_cli_command_prints_the_settings_and_stops_its_server_on_sigterm() -> None:
    cli = subprocess.Popen(
        [str(Path(sys.executable).parent / "idsync"), "emulator", "scim", "--token", "t0k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert cli.stdout is not None
        first = cli.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first
        url = first.split("listening on ")[1].split()[0]
        server_pid = int(first.rsplit("pid ", 1)[1])
        users = httpx.get(f"{url}/Users", headers={"Authorization": "Bearer t0k"})
        assert users.status_code == 200
    finally:
        cli.send_signal(signal.SIGTERM)
        cli.wait(timeout=15)
    deadline = time.monotonic() + 5
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(server_pid)
