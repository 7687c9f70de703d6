"""`idsync demo --serve` as a user runs it: a subprocess that prints the dashboard's URL and
token after the demo, serves the demo's imports until Ctrl-C (SIGINT), then exits cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from .support import eventually


def test_demo_serve_prints_a_working_url_and_token_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    idsync = Path(sys.executable).parent / "idsync"
    proc = subprocess.Popen(
        [str(idsync), "demo", "--users", "100", "--workdir", str(tmp_path / "demo"), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        serving = lambda: any("until Ctrl-C" in line for line in lines) or proc.poll() is not None  # noqa: E731
        eventually(serving, timeout_s=120)
        text = "".join(lines)
        url = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/dashboard)\n", text)
        token = re.search(r"API token: (\S+)\n", text)
        assert url and token, text
        with httpx.Client(timeout=10) as c:

            def up() -> bool:  # the URL is printed just before the server listens
                try:
                    return c.get(url.group(1)).status_code == 200
                except httpx.ConnectError:
                    return False

            eventually(up, timeout_s=30)
            assert c.get(f"{url.group(1)}/api/overview").status_code == 401
            assert c.post(f"{url.group(1)}/login", data={"token": token.group(1)}).status_code == 303
            imports = c.get(f"{url.group(1)}/api/overview").json()["imports"]
        kinds = sorted(i["kind"] for i in imports)
        assert kinds == ["activation"] + ["import"] * 4, imports  # phase 1 (2 files), re-run (2), phase 2
        assert all(i["state"] == "completed" for i in imports)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = proc.wait(timeout=60)
    assert code == 0, "".join(lines)
