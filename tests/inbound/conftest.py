"""Inbound sync over real HTTP both ways: the Okta emulator and idsync's app (uvicorn, in a
thread, on a free 127.0.0.1 port) call each other; the SQL target is a real database file (or the
session's PostgreSQL)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, String, Table, create_engine, select

from idsync.config import Settings, settings_from_dict
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.web.app import create_app
from tests.common import ServerThread

from ..servers import free_port

API_TOKEN = "inbound-api-token-0123456789"
HOOK_SECRET = "Bearer hook-secret-9f8e7d6c5b4a3210"
OKTA_TOKEN = "inbound-okta-token"
TARGET_TOKEN = "callback-token-5566778899"


def app_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The application's own schema: an unmapped `nickname` column and unmanaged roles included."""
    users = Table(
        "app_users",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320)),
        Column("login", String(320)),
        Column("first_name", String(100)),
        Column("last_name", String(100)),
        Column("title", String(200)),
        Column("active", Boolean, nullable=False, default=True),
        Column("okta_id", String(100)),
        Column("nickname", String(100)),
    )
    roles = Table(
        "app_user_roles",
        metadata,
        Column("user_id", Integer, primary_key=True),
        Column("role", String(100), primary_key=True),
    )
    return users, roles


@dataclass
class InboundEnv:
    emulator: EmulatorThread
    okta: httpx.Client
    admin: EmulatorAdmin
    api: httpx.Client
    server: ServerThread
    settings: Settings
    app_db: Engine
    users: Table
    roles: Table

    # ---- Okta side (through its real API, so events are emitted) -----------------------------

    def create_user(
        self, login: str, *, first: str = "Ann", last: str = "Lee", active: bool = True, **extra: Any
    ) -> str:
        """ACTIVE (with a password) by default, else STAGED."""
        profile = {"login": login, "email": login, "firstName": first, "lastName": last, **extra}
        body: dict[str, Any] = {"profile": profile}
        if active:
            body["credentials"] = {"password": {"value": "Pa55word!-long-enough"}}
        r = self.okta.post("/api/v1/users", params={"activate": str(active).lower()}, json=body)
        r.raise_for_status()
        return str(r.json()["id"])

    def update_user(self, user_id: str, **profile: Any) -> None:
        self.okta.post(f"/api/v1/users/{user_id}", json={"profile": profile}).raise_for_status()

    def lifecycle(self, user_id: str, op: str) -> None:
        self.okta.post(
            f"/api/v1/users/{user_id}/lifecycle/{op}", params={"sendEmail": "false"}
        ).raise_for_status()

    def delete_user(self, user_id: str) -> None:
        self.okta.delete(f"/api/v1/users/{user_id}").raise_for_status()

    def create_group(self, name: str) -> str:
        r = self.okta.post("/api/v1/groups", json={"profile": {"name": name}})
        r.raise_for_status()
        return str(r.json()["id"])

    def add_member(self, group_id: str, user_id: str) -> None:
        self.okta.put(f"/api/v1/groups/{group_id}/users/{user_id}").raise_for_status()

    def remove_member(self, group_id: str, user_id: str) -> None:
        self.okta.delete(f"/api/v1/groups/{group_id}/users/{user_id}").raise_for_status()

    def seed(self, *users: dict[str, Any]) -> None:
        """Users straight into the emulator (no validation, no events): e.g. a missing firstName."""
        httpx.post(f"{self.emulator.url}/__emulator/users", json={"users": list(users)}).raise_for_status()

    # ---- idsync side -------------------------------------------------------------------------

    def sync(self, mode: str = "initial") -> dict[str, Any]:
        r = self.api.post("/inbound/app/sync", json={"mode": mode})
        assert r.status_code == 202, r.text
        entry_id = r.json()["id"]
        return wait_for(lambda: _finished(self.api.get(f"/inbound/app/log/{entry_id}").json()))

    def log(self, **params: Any) -> list[dict[str, Any]]:
        r = self.api.get("/inbound/app/log", params={"limit": 1000, **params})
        r.raise_for_status()
        return list(r.json())

    def wait_idle(self) -> None:
        """Until the emulator has delivered every event and idsync has applied every one."""

        def idle() -> bool:
            counts = self.admin.hook_deliveries()["counts"]
            if counts["events_queued"] != counts["events_done"]:
                return False
            status = self.api.get("/inbound/app").json()
            running = [s for s in status["last_syncs"] if s["status"] in ("queued", "running")]
            return not status["events"].get("queued") and not running

        wait_for(idle)

    # ---- application side --------------------------------------------------------------------

    def rows(self) -> dict[str, dict[str, Any]]:
        """Application users by e-mail, with their roles."""
        with self.app_db.connect() as conn:
            users = {r["id"]: dict(r) for r in conn.execute(select(self.users)).mappings()}
            for user_id, role in conn.execute(select(self.roles.c.user_id, self.roles.c.role)):
                users[user_id].setdefault("roles", set()).add(role)
        return {str(u["email"]).lower(): {"roles": set(), **u} for u in users.values()}


def _finished(entry: dict[str, Any]) -> dict[str, Any] | None:
    return entry if entry["status"] not in ("queued", "running") else None


def wait_for(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """Poll until `check` returns something truthy (a deadline, not a timing target)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s: {check}")
        time.sleep(0.05)


def inbound_settings(
    tmp_path: Path,
    okta_url: str,
    port: int,
    target_url: str,
    *,
    store_url: str | None = None,
    target: dict[str, Any] | None = None,
    **inbound: Any,
) -> Settings:
    raw: dict[str, Any] = {
        "store": {"url": store_url or f"sqlite:///{tmp_path}/idsync.db"},
        "service": {"host": "127.0.0.1", "port": port, "api_token_env": "API_TOKEN"},
        "idps": {
            "okta": {
                "type": "okta",
                "url": okta_url,
                "token_env": "OKTA_TOKEN",
                "governor": {"budget_share": 1.0, "max_retries": 2, "backoff_base_s": 0.05},
            }
        },
        "inbound": {
            "app": {
                "idp": "okta",
                "hook_secret_env": "HOOK_SECRET",
                "public_url": f"http://127.0.0.1:{port}",
                "fields": {
                    "first_name": "firstName",
                    "last_name": "lastName",
                    "email": "email",
                    "title": "title",
                    "login": "login",
                },
                "match_on": ["email", "login"],
                "groups": {"App Admins": "admin", "App Editors": "editor"},
                "retry_backoff_s": 0.1,
                "target": target or {"type": "sql", "url": target_url, "external_id_column": "okta_id"},
                **inbound,
            }
        },
    }
    environ = {
        "API_TOKEN": API_TOKEN,
        "OKTA_TOKEN": OKTA_TOKEN,
        "HOOK_SECRET": HOOK_SECRET,
        "TARGET_TOKEN": TARGET_TOKEN,
    }
    return settings_from_dict(raw, environ)


@pytest.fixture
def inbound_env(tmp_path: Path) -> Iterator[Callable[..., InboundEnv]]:
    """Factory: `inbound_env(target_url=..., store_url=..., wrap=asgi_middleware)`."""
    with contextlib.ExitStack() as stack:

        def make(
            *,
            target_url: str | None = None,
            store_url: str | None = None,
            wrap: Callable[[Any], Any] | None = None,
            **inbound: Any,
        ) -> InboundEnv:
            emulator = stack.enter_context(EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, seed=7)))
            url = target_url or f"sqlite:///{tmp_path}/app.db"
            app_db = create_engine(url)
            stack.callback(app_db.dispose)
            users, roles = app_tables(MetaData())
            users.metadata.create_all(app_db)
            port = free_port()
            settings = inbound_settings(tmp_path, emulator.url, port, url, store_url=store_url, **inbound)
            app = create_app(settings, start_worker=False)
            server = stack.enter_context(ServerThread(wrap(app) if wrap else app, port))
            okta = stack.enter_context(
                httpx.Client(
                    base_url=emulator.url, headers={"Authorization": f"SSWS {OKTA_TOKEN}"}, timeout=30
                )
            )
            api = stack.enter_context(
                httpx.Client(
                    base_url=server.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30
                )
            )
            admin = EmulatorAdmin(emulator.url)
            stack.callback(admin.close)
            return InboundEnv(emulator, okta, admin, api, server, settings, app_db, users, roles)

        yield make
