"""`idsync serve` with no configuration at all: SQLite and the built-in Okta emulator, the HTTP
API answering, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import free_port

from .support import API_TOKEN, AUTH, change, eventually


def test_serve_runs_on_sqlite_alone_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDSYNC_")}
    env["IDSYNC_API_TOKEN"] = API_TOKEN
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("idsync")), "serve", "--port", str(port)],
            cwd=tmp_path,  # no idsync.toml here: the embedded default
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(ready, timeout_s=60)
        answer = httpx.post(f"{url}/changes", json=change(1), headers=AUTH, timeout=30)
        assert answer.status_code == 200 and answer.json()["result"]["status"] == "created", answer.text
        service = httpx.get(f"{url}/service", headers=AUTH, timeout=10).json()
        assert service["store"] == "sqlite" and service["kafka"] is None
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    output = log.read_text()
    assert code == 0, output
    assert (tmp_path / "var" / "idsync.db").exists()
    assert API_TOKEN not in output
