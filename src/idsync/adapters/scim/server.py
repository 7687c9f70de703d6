"""A real SCIM 2.0 server for the demo and the tests: scim2-server (PyPI) in a subprocess.

scim2-server keeps users in memory and implements RFC 7643/7644 including filters, PATCH, ETags
and /Bulk. It runs as its own process on 127.0.0.1, so the connector talks to it over real HTTP
exactly as to a production SCIM server. `service_provider_config` overrides parts of what it
announces (e.g. `{"bulk": {"supported": False}}`, or a small `maxOperations`), so every path of
the connector can be exercised.

    with ScimServerProcess(token="s3cret") as scim:
        connector = ScimConnector("scim", scim.url, scim.token, governor)
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from idsync.errors import ConfigError

__all__ = ["SCIM_EXTRA", "ScimServerProcess", "free_port", "require_scim_server"]

HOST = "127.0.0.1"
SCIM_EXTRA = "pip install 'idsync[scim]'"


def require_scim_server(what: str = "the SCIM server") -> None:
    """scim2-server is an extra (`idsync[scim]`): without it, say so and how to get it."""
    try:
        import scim2_server  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{what} needs scim2-server, which is not installed: {SCIM_EXTRA} brings it"
        ) from None


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (the server binds it itself, so a race stays possible;
    `ScimServerProcess` retries with another port when the bind fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def default_service_provider_config() -> dict[str, Any]:
    require_scim_server()
    from scim2_server.utils import load_json_resource

    config: dict[str, Any] = load_json_resource("default-service-provider-config.json")
    return config


class ScimServerProcess:
    """scim2-server on 127.0.0.1 with a bearer token; a context manager that stops what it started.

    `url` is the SCIM base URL (".../v2"); with `dynamic_tenants=True` each `tenant_url(name)` is
    a separate, empty user store of the same process (how the tests isolate from each other).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        port: int = 0,
        host: str = HOST,
        service_provider_config: Mapping[str, Any] | None = None,
        dynamic_tenants: bool = False,
        log_file: str | Path | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.token = token or "scim-" + secrets.token_hex(8)
        self.host = host
        self.port = port
        self.service_provider_config = dict(service_provider_config or {})
        self.dynamic_tenants = dynamic_tenants
        self.log_file = Path(log_file) if log_file else None
        self.startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._config_path: Path | None = None
        self._log: IO[bytes] | None = None

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v2"

    def tenant_url(self, tenant: str) -> str:
        return f"{self.root}/{tenant}/v2"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def idp_settings(self, token_env: str, *, tenant: str | None = None) -> dict[str, Any]:
        """The `[idps.NAME]` table for this server (the token itself goes into `token_env`)."""
        return {
            "type": "scim",
            "url": self.tenant_url(tenant) if tenant else self.url,
            "token_env": token_env,
        }

    def users(self, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every user the server holds (SCIM JSON), read directly: what the demo reports."""
        base = self.tenant_url(tenant) if tenant else self.url
        found: list[dict[str, Any]] = []
        start = 1
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        ) as http:
            while True:
                page = (
                    http.get("/Users", params={"startIndex": start, "count": 1000}).raise_for_status().json()
                )
                found += page.get("Resources") or []
                start += len(page.get("Resources") or [])
                if not page.get("Resources") or start > int(page.get("totalResults", 0)):
                    return found

    def users_by_status(self, *, tenant: str | None = None) -> dict[str, int]:
        """{"active": n, "inactive": m}: SCIM's whole lifecycle."""
        users = self.users(tenant=tenant)
        active = sum(1 for u in users if u.get("active") is not False)
        return {"active": active, "inactive": len(users) - active}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _command(self, port: int) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "scim2_server.testserver.cli",
            "--hostname",
            self.host,
            "--port",
            str(port),
            "--bearer-token",
            self.token,
        ]
        if self._config_path is not None:
            cmd += ["--service-provider-config", str(self._config_path)]
        if self.dynamic_tenants:
            cmd.append("--dynamic-tenants")
        return cmd

    def start(self) -> ScimServerProcess:
        if self.service_provider_config:
            config = {**default_service_provider_config(), **self.service_provider_config}
            fd, name = tempfile.mkstemp(prefix="idsync-scim-spc-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(config, f)
            self._config_path = Path(name)
        else:
            default_service_provider_config()  # fail early and clearly when scim2-server is missing
        if self.log_file is not None:
            self._log = self.log_file.open("ab")
        fixed = self.port != 0
        for _ in range(1 if fixed else 5):
            port = self.port if fixed else free_port(self.host)
            out = self._log or subprocess.DEVNULL
            # stdout carries one line, printed once the port is bound; the request log goes to stderr.
            self._proc = subprocess.Popen(
                self._command(port), stdout=subprocess.PIPE, stderr=out, stdin=subprocess.DEVNULL
            )
            self.port = port
            if self._wait_ready():
                return self
            self._proc.wait(timeout=5)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            if not fixed:
                self.port = 0
        where = f"{self.host}:{self.port}" if fixed else self.host
        self.stop()
        raise RuntimeError(f"scim2-server did not start on {where} (see {self.log_file or 'its output'})")

    def _wait_ready(self) -> bool:
        """True once it said it serves (so the port is ours, not another server's) and answers HTTP;
        False when it ended first (e.g. the port was taken)."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while not selector.select(timeout=max(deadline - time.monotonic(), 0)):
                if time.monotonic() >= deadline:
                    proc.kill()
                    return False
            if b"Serving SCIM on" not in proc.stdout.readline():
                return False  # end of output: it exited
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(f"{self.url}/ServiceProviderConfig", timeout=1.0)
                return True
            except httpx.TransportError:
                time.sleep(0.05)
        proc.kill()
        return False

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stop the process this object started (by its PID) and remove its files."""
        code = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=timeout_s)
            code = self._proc.returncode
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._config_path is not None:
            self._config_path.unlink(missing_ok=True)
            self._config_path = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def __enter__(self) -> ScimServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
