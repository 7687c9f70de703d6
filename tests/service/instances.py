"""`idsync serve` processes for the multi-instance and shutdown tests, stopped by their PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port

from .support import AUTH, ENV, eventually


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(value)


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for idsync.toml: nested tables of scalars."""
    scalars = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    lines = ([f"[{prefix}]"] if prefix and scalars else []) + scalars
    for k, v in data.items():
        if isinstance(v, dict):
            name = f"{prefix}.{k}" if prefix else k
            quoted = ".".join(f'"{p}"' if not p.replace("_", "").isalnum() else p for p in name.split("."))
            lines.append(to_toml(v, quoted))
    return "\n".join(line for line in lines if line) + "\n"


class Instance:
    """One `idsync serve --config` process on a free port; its output goes to a log file."""

    def __init__(self, config: Path, name: str, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        assert tomllib.loads(config.read_text())  # a broken file would only show as a start failure
        script = Path(sys.executable).with_name("idsync")
        cmd = [str(script), "serve", "--config", str(config), "--port", str(self.port), "--instance-id", name]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **ENV}, stdin=subprocess.DEVNULL
            )

    def ready(self) -> Instance:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(up, timeout_s=60, every_s=0.1)
        return self

    def get(self, path: str) -> Any:
        """The JSON (or text) of a GET; None when it is not found (yet)."""
        answer = httpx.get(f"{self.url}{path}", headers=AUTH, timeout=10)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return answer.json() if "json" in answer.headers.get("content-type", "") else answer.text

    def post(self, path: str, body: Any) -> Any:
        answer = httpx.post(f"{self.url}{path}", json=body, headers=AUTH, timeout=60)
        assert answer.status_code in (200, 202), answer.text
        return answer.json()

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM to our own PID and wait for the graceful stop; SIGKILL only if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"{self.name} did not stop on SIGTERM:\n{self.output()}") from None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]
