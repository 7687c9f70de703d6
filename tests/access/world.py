"""The servers of the end-to-end login test, as a support engineer and a company would run them.

- the Okta emulator (real HTTP, 127.0.0.1);
- idsync: `idsync import`, `idsync portals sync`, `idsync activate` as subprocesses against
  it, and `idsync serve`'s HTTP API (its public routing endpoint) in a thread;
- the company's own IdP (a stub sign-in page) for the e-mail domain routed to it;
- `examples/portal` twice: a portal (logout ends both sessions) and an EFS-like installation
  (logout ends Okta's session, its own lives until it expires; its clock is the test's).

Ports are free 127.0.0.1 ports; every server is stopped by the test that started it.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from idsync.config import load_settings
from idsync.emulator.okta import EmulatorSettings, EmulatorThread
from idsync.web.app import create_app
from tests.servers import free_port
from tests.service.support import ServerThread, eventually

ROOT = Path(__file__).resolve().parents[2]
TENANT = "efs-demo"
OKTA_TOKEN = "login-e2e-okta-token"
API_TOKEN = "login-e2e-api-token"
ENV = {"E2E_OKTA_TOKEN": OKTA_TOKEN, "E2E_API_TOKEN": API_TOKEN}
ANN, BOB = "ann.lee@example.com", "bob@acme.example"


def load_portal_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "example_portal", ROOT / "examples" / "portal" / "portal.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["example_portal"] = module
    spec.loader.exec_module(module)
    return module


def external_idp_app() -> Starlette:
    """The company's own IdP: only its sign-in page, to see that the user got there."""

    async def sign_in(request: Request) -> HTMLResponse:
        hint = request.query_params.get("login_hint", "")
        return HTMLResponse(f"<h1>Acme Corporation sign-in</h1><p>Account: <b id=account>{hint}</b></p>")

    return Starlette(routes=[Route("/sso", sign_in)])


class Served:
    """An ASGI app on a given 127.0.0.1 port (the portal's port must be known before it exists)."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"portal-{port}", daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        eventually(lambda: self.server.started or not self.thread.is_alive(), timeout_s=30, every_s=0.02)
        assert self.server.started, "the portal did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class World:
    workdir: Path
    okta: EmulatorThread
    external_url: str
    portal_port: int = field(default_factory=free_port)
    efs_port: int = field(default_factory=free_port)

    @property
    def portal_url(self) -> str:  # the general URL, the one registered at Okta
        return f"http://localhost:{self.portal_port}"

    @property
    def efs_url(self) -> str:
        return f"http://localhost:{self.efs_port}"

    @property
    def config(self) -> Path:
        return self.workdir / "idsync.toml"

    def write_config(self) -> None:
        self.config.write_text(f"""
[store]
url = "sqlite:///{self.workdir / "idsync.db"}"

[service]
api_token_env = "E2E_API_TOKEN"

[idps.okta]
type = "okta"
url = "{self.okta.url}"
token_env = "E2E_OKTA_TOKEN"

[tenants.{TENANT}]
idp = "okta"
mode = "sync"
send_activation_email = false    # phase 2 answers the activation link instead of e-mailing it

[[tenants.{TENANT}.external_idps]]
name = "acme-entra"
domains = ["acme.example"]
login_url = "{self.external_url}/sso"
""")

    def idsync(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "idsync.cli", *args, "--config", str(self.config)],
            cwd=self.workdir,
            env={**os.environ, **ENV, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, f"idsync {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def import_users(self) -> str:
        users = self.workdir / "users.csv"
        with users.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["key", "login", "email", "firstName", "lastName", "source"])
            writer.writerow(["1", ANN, ANN, "Ann", "Lee", "efs-admin"])
            writer.writerow(["2", BOB, BOB, "Bob", "Acme", "efs-admin"])
        return self.idsync("import", str(users), "--tenant", TENANT).stdout

    def register_portals(self) -> dict[str, dict[str, Any]]:
        """`idsync portals sync`; the client secrets come back in the 0600 secrets file."""
        portals = self.workdir / "portals.csv"
        portals.write_text(
            "name,base_url,redirect_uris\n"
            f"portal,{self.portal_url},{self.portal_url}/callback\n"
            f"efs,{self.efs_url},{self.efs_url}/callback\n"
        )
        secrets_file = self.workdir / "portal-secrets.jsonl"
        self.idsync(
            "portals", "sync", "--tenant", TENANT, "--file", str(portals), "--secrets-file", str(secrets_file)
        )
        records = [json.loads(line) for line in secrets_file.read_text().splitlines()]
        return {r["portal"]: r for r in records}

    def activation_link(self, login: str) -> str:
        links = httpx.get(f"{self.okta.url}/__emulator/activation-links", params={"login": login}).json()
        assert len(links) == 1, links
        return str(links[0]["activationUrl"])

    def ensure_active(self, login: str, password: str) -> None:
        """For a test run on its own: do what the activation page would have done."""
        (user,) = httpx.get(f"{self.okta.url}/__emulator/users", params={"login": login}).json()
        if user["status"] == "PROVISIONED":
            base = f"{self.okta.url}/__emulator/users/{user['id']}"
            httpx.post(f"{base}/password", json={"password": password}).raise_for_status()
            httpx.post(f"{base}/complete-activation").raise_for_status()

    def okta_sessions(self, login: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = httpx.get(
            f"{self.okta.url}/__emulator/sessions", params={"login": login}
        ).json()
        return result

    def okta_users(self) -> dict[str, str]:
        users = httpx.get(f"{self.okta.url}/__emulator/users").json()
        return {u["login"]: u["status"] for u in users}

    def idsync_api(self) -> ServerThread:
        settings = load_settings(self.config, ENV)
        return ServerThread(create_app(settings))


def start_okta() -> EmulatorThread:
    return EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.02)).start()


def start_external_idp() -> ServerThread:
    return ServerThread(external_idp_app()).__enter__()
