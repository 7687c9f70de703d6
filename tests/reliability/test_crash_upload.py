"""SIGKILL in the middle of an NDJSON upload: sending the same body again after the restart
resumes after the stored lines, within seconds (the dead upload's lease held it for 120 s)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.support import AUTH, ServeProcess, eventually, ndjson, user_message, write_config

LINES = 5000


def test_an_upload_killed_midway_is_resumed_within_seconds(tmp_path: Path, secret_scan: Any) -> None:
    raw = {
        "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
        "idps": {"okta": {"type": "emulator"}},
        "tenants": {"t": {"idp": "okta", "mode": "off"}},  # decided at once: no IdP involved
    }
    serve = ServeProcess(write_config(tmp_path / "idsync.toml", raw), tmp_path).start().ready()
    body = ndjson(user_message(i) for i in range(LINES))
    cut = len(body) // 2
    stored = threading.Event()

    def slow() -> Iterator[bytes]:  # half the body, then the client waits (the server dies)
        yield body[:cut]
        stored.wait(60)
        yield body[cut:]

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
            httpx.post(
                f"{serve.url}/imports",
                params={"tenant": "t", "import_id": "cut"},
                content=slow(),
                headers={**AUTH, "Content-Type": "application/x-ndjson"},
                timeout=60,
            )

    uploader = threading.Thread(target=send, daemon=True)
    uploader.start()
    try:
        eventually(lambda: (v := serve.try_get("/imports/cut")) and v["received"] >= 1000, timeout_s=60)
        serve.kill()
        stored.set()
        uploader.join(30)
        serve.start().ready()
        before = serve.get("/imports/cut")["received"]
        started = time.monotonic()

        def resend() -> httpx.Response | None:  # 409 while the dead upload's lease lasts
            answer = httpx.post(
                f"{serve.url}/imports",
                params={"tenant": "t", "import_id": "cut"},
                content=body,
                headers={**AUTH, "Content-Type": "application/x-ndjson"},
                timeout=60,
            )
            return answer if answer.status_code != 409 else None

        again = eventually(resend, timeout_s=60, every_s=0.5)
        waited = time.monotonic() - started
        assert again.status_code == 202, again.text
        view = eventually(
            lambda: (v := serve.get("/imports/cut")) and v["state"] == "completed" and v, timeout_s=60
        )
    finally:
        assert serve.terminate() == 0, serve.output()
    assert again.json()["resumed_after"] == before and 0 < before < LINES
    assert view["received"] == LINES and view["skipped"] == LINES  # none lost, none twice
    assert waited < 30, waited  # the lease of the dead upload lasts 15 s (it was 120 s)
