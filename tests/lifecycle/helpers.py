"""Helpers of the migration-workflow tests: the config file, the CLI as a subprocess, user lines."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from idsync.config import load_settings
from idsync.engine.jobs import ImportReport
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.common import run_idsync

TOKEN = "lifecycle-test-token"
TENANT = "efs-prod"


def write_config(path: Path, url: str, *, mode: str = "sync", token_env: str = "LC_OKTA_TOKEN") -> Path:
    path.write_text(f"""
[store]
url = "sqlite:///{path.parent / "idsync.db"}"

[idps.okta]
type = "okta"
url = "{url}"
token_env = "{token_env}"

[tenants.{TENANT}]
idp = "okta"
mode = "{mode}"
external_idps = [{{ name = "bigcorp-adfs", domains = ["bigcorp.example"] }}]
""")
    return path


def idsync(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {"LC_OKTA_TOKEN": TOKEN, "COLUMNS": "200", **(env or {})}
    return run_idsync(cwd, *args, env=environment, timeout_s=120)


def user(key: int | str, email: str | None = None, *, source: str = "efs-panel", **extra: object) -> str:
    email = email or f"user{key}@example.com"
    return json.dumps(
        {
            "tenant": TENANT,
            "op": "upsert",
            "source": source,
            "key": str(key),
            "user": {"login": email, "email": email, "firstName": "Pia", "lastName": "Nel", **extra},
        }
    )


def write_users(
    path: Path, keys: range, *, source: str = "efs-panel", extra_lines: tuple[str, ...] = ()
) -> Path:
    path.write_text(
        "".join(user(k, source=source) + "\n" for k in keys) + "".join(x + "\n" for x in extra_lines)
    )
    return path


class Served:
    """An ASGI app served by uvicorn on a free 127.0.0.1 port in a thread: real HTTP, real lifespan."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self._sock.close()


def seed_import(
    workdir: Path, file: Path, *, import_id: str | None = None, token: str = TOKEN
) -> ImportReport:
    """Run an import in-process (quicker than the CLI where the import is not what is tested)."""
    settings = load_settings(workdir / "idsync.toml", {**os.environ, "LC_OKTA_TOKEN": token})

    async def run() -> ImportReport:
        async with Runtime(settings) as runtime:
            return await run_file_import(runtime, file, tenant=TENANT, import_id=import_id)

    return asyncio.run(run())


def store_counts(workdir: Path, import_id: str) -> dict[str, object]:
    """An import's counters as the store holds them."""
    with sqlite3.connect(workdir / "idsync.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM imports WHERE id = ?", (import_id,)).fetchone()
    return dict(row) if row is not None else {}
