"""Shared helpers of the reliability suite: `idsync serve` processes we kill and restart,
the users of an import, figures written for docs/reliability.md."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from tests.common import eventually
from tests.reliability.scan import SCAN
from tests.servers import free_port
from tests.service.instances import to_toml

API_TOKEN = "reliability-api-token-5c0ffee-9b1d"
OKTA_TOKEN = "reliability-okta-token-4a7e-e11d"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ENV = {"IDSYNC_API_TOKEN": API_TOKEN, "OKTA_TOKEN": OKTA_TOKEN}
SCAN.add_secret(API_TOKEN, OKTA_TOKEN)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability"


def write_figures(name: str, figures: dict[str, Any]) -> None:
    """The figures of the last run, quoted by docs/reliability.md."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stamped = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), **figures}
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(stamped, indent=2, sort_keys=True) + "\n")
    print(f"\n{name}: {json.dumps(figures, sort_keys=True)}")


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(to_toml(raw))
    return path


def user_message(
    i: int, *, tenant: str = "t", version: int = 1, first: str = "Ann", import_id: str | None = None
) -> dict[str, Any]:
    login = f"user{i}@example.com"
    message: dict[str, Any] = {
        "tenant": tenant,
        "op": "upsert",
        "source": "app",
        "key": str(i),
        "version": version,
        "user": {"login": login, "email": login, "firstName": first, "lastName": f"Lee{i}"},
    }
    if import_id is not None:
        message["import_id"] = import_id
    return message


def ndjson(messages: Iterable[dict[str, Any] | bytes]) -> bytes:
    return b"".join((m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n" for m in messages)


class ServeProcess:
    """`idsync serve --config` as a subprocess that we SIGKILL and start again, by its PID only.

    Every incarnation gets a fresh port and its own log file (scanned for secrets)."""

    def __init__(
        self, config: Path, log_dir: Path, *, env: dict[str, str] | None = None, verbose: bool = False
    ) -> None:
        self.config = config
        self.log_dir = log_dir
        self.env = {**os.environ, **ENV, **(env or {})}
        self.verbose = verbose
        self.incarnation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.started_at = 0.0

    def start(self) -> ServeProcess:
        self.incarnation += 1
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = self.log_dir / f"serve-{self.incarnation}.log"
        SCAN.add_file(log)
        script = Path(sys.executable).with_name("idsync")
        cmd = [str(script), "serve", "--config", str(self.config), "--port", str(port)]
        if self.verbose:
            cmd.append("--verbose")
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, stdin=subprocess.DEVNULL
            )
        self.started_at = time.monotonic()
        return self

    @property
    def log(self) -> Path:
        return self.log_dir / f"serve-{self.incarnation}.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self, timeout_s: float = 90.0) -> ServeProcess:
        def up() -> bool:
            if not self.alive():
                raise AssertionError(f"idsync serve exited:\n{self.output()}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(up, timeout_s=timeout_s, every_s=0.05)
        return self

    def kill(self) -> None:
        """SIGKILL, as in a crash: no handler runs, nothing is flushed."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def terminate(self, timeout_s: float = 60.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"idsync serve did not stop on SIGTERM:\n{self.output()}") from None
        return self.proc.returncode

    def get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(f"{self.url}{path}", params=params, headers=AUTH, timeout=10)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return answer.json() if "json" in answer.headers.get("content-type", "") else answer.text

    def try_get(self, path: str) -> Any:
        """None while the process is down or starting."""
        try:
            return self.get(path)
        except httpx.HTTPError:
            return None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""
