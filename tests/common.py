"""Helpers every test package uses: polling with a deadline, an ASGI app served over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from tests.servers import free_port

__all__ = ["ServerThread", "eventually", "run_idsync"]


def eventually(check: Callable[[], Any], *, timeout_s: float = 60.0, every_s: float = 0.1) -> Any:
    """Poll until `check()` returns something truthy; fail with the last value after the timeout
    (a safety net against hangs, not a timing target)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s} s; last value: {last!r}")


class ServerThread:
    """An app served by uvicorn on 127.0.0.1 (a free port unless given) in a thread: real HTTP,
    real lifespan."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        eventually(lambda: self.server.started or not self.thread.is_alive(), timeout_s=30, every_s=0.02)
        if not self.server.started:
            raise RuntimeError("the app did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def run_idsync(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    """`idsync ARGS` as a user runs it: a subprocess in `cwd`, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "idsync.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
