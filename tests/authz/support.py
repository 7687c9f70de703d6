"""A served idsync with two tenants, their objects (imports, changes, activation jobs, safety runs,
portals) and one API token per kind of caller, for the access tests.

`efs-a` is the callers' own tenant, `efs-b` the other one. The Okta emulator runs in-process
(IdP type `emulator`), so users really are created, activated and deactivated.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from idsync.adapters.store.features.tokens import create_token
from idsync.config import settings_from_dict
from idsync.domain.authz import Role
from idsync.web.app import create_app
from tests.common import ServerThread, eventually
from tests.reliability.scan import SCAN

__all__ = ["ADMIN_TOKEN", "OTHER", "OWN", "Caller", "World", "serve_world"]

OWN, OTHER = "efs-a", "efs-b"
ADMIN_TOKEN = "authz-config-token-6b1e-0f3a-91cc"
HOOK_SECRET = "authz-hook-secret-27d4-c8e1-55aa"
SCAN.add_secret(ADMIN_TOKEN, HOOK_SECRET)


@dataclass(frozen=True)
class Caller:
    """A caller of the matrix: its token, and its role on each tenant ("*": every tenant)."""

    name: str
    token: str
    grants: dict[str, str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    url: str
    app: Any
    callers: dict[str, Caller] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)  # tenant -> import id
    changes: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)
    spare_token: str = ""  # an API token id the matrix may revoke

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)


def settings(tmp: Path) -> Any:
    raw = {
        "store": {"url": f"sqlite:///{tmp / 'idsync.db'}"},
        "service": {"api_token_env": "AUTHZ_API_TOKEN", "interactive_wait_s": 0},
        "idps": {"okta": {"type": "emulator"}},
        "tenants": {
            OWN: {"idp": "okta", "max_deprovision_share": 1.0},
            OTHER: {"idp": "okta", "max_deprovision_share": 1.0},
        },
        "inbound": {
            "app": {
                "idp": "okta",
                "hook_secret_env": "AUTHZ_HOOK_SECRET",
                "public_url": "http://127.0.0.1:1",
                "target": {"type": "sql", "url": f"sqlite:///{tmp / 'app.db'}"},
            }
        },
    }
    return settings_from_dict(raw, {"AUTHZ_API_TOKEN": ADMIN_TOKEN, "AUTHZ_HOOK_SECRET": HOOK_SECRET})


def user_line(tenant: str, key: str, **extra: Any) -> dict[str, Any]:
    login = f"{tenant}-{key}@example.com"
    profile = {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"}
    return {
        "tenant": tenant,
        "op": "upsert",
        "source": "app",
        "key": key,
        "version": 1,
        "user": profile,
        **extra,
    }


def ndjson(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _tokens(world: World) -> None:
    store = world.app.state.runtime.store
    kinds = {
        "viewer-a": (Role.VIEWER, (OWN,)),
        "operator-a": (Role.OPERATOR, (OWN,)),
        "admin-a": (Role.ADMIN, (OWN,)),
        "admin-all": (Role.ADMIN, ()),
        # What a sign-in through the IdP may have (a group mapped to viewer on every tenant);
        # `idsync tokens create` makes no such token, so it is put in the store directly.
        "viewer-all": (Role.VIEWER, ()),
    }
    for name, (role, tenants) in kinds.items():
        _, token = create_token(store, name=name, role=role, tenants=tenants, created_by="test")
        SCAN.add_secret(token)
        world.callers[name] = Caller(name, token, dict.fromkeys(tenants, role.label) or {"*": role.label})
    world.callers["config"] = Caller("config", ADMIN_TOKEN, {"*": "admin"})
    spare, token = create_token(store, name="spare", role=Role.VIEWER, tenants=(OWN,), created_by="test")
    SCAN.add_secret(token)
    world.spare_token = spare.id


def _objects(world: World) -> None:
    """Per tenant: an import (4 users, one invalid), a change, an activation job, a safety run
    (a deactivation), a portal."""
    with world.admin() as c:
        for tenant in (OWN, OTHER):
            import_id = f"imp-{tenant}"
            lines = [user_line(tenant, str(i)) for i in range(3)] + [
                user_line(
                    tenant, "bad", user={"login": "x", "email": "nope", "firstName": "A", "lastName": "B"}
                )
            ]
            c.post(
                "/imports", params={"tenant": tenant, "import_id": import_id}, content=ndjson(lines)
            ).raise_for_status()
            world.imports[tenant] = import_id
            eventually(lambda: c.get(f"/imports/{import_id}").json()["state"] == "completed", timeout_s=120)
            change = c.post("/changes", json=user_line(tenant, "single"))
            world.changes[tenant] = change.json()["change_id"]
            job = c.post("/activations", json={"tenant": tenant})
            assert job.status_code == 202, job.text
            world.jobs[tenant] = job.json()["job_id"]
            off = {**user_line(tenant, "0"), "op": "deactivate", "version": 2}
            c.post("/changes", json=off).raise_for_status()
            runs = eventually(lambda: c.get("/safety/runs", params={"tenant": tenant}).json(), timeout_s=60)
            world.runs[tenant] = runs[0]["run_id"]
            portal = {
                "tenant": tenant,
                "portal": {
                    "name": "panel",
                    "base_url": f"https://{tenant}.example.com",
                    "redirect_uris": [f"https://{tenant}.example.com/cb"],
                },
            }
            c.post("/portals", json=portal).raise_for_status()


def serve_world(tmp: Path) -> Iterator[World]:
    app = create_app(settings(tmp))
    with ServerThread(app) as server:
        world = World(server.url, app)
        _tokens(world)
        _objects(world)
        yield world


def fresh_id() -> str:
    return f"m-{uuid.uuid4().hex[:12]}-{int(time.time())}"
