"""The audit trail: every state-changing action, over HTTP and from the CLI, is recorded with who,
when, what and the outcome (refusals too), and read back per tenant through `GET /audit`, the
dashboard's JSON and `idsync audit`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.common import run_idsync

from .support import ADMIN_TOKEN, OTHER, OWN, World, serve_world

STARTED = time.time()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from serve_world(tmp_path_factory.mktemp("authz-audit"))


def _as(world: World, name: str) -> httpx.Client:
    return httpx.Client(base_url=world.url, headers=world.callers[name].headers, timeout=60)


def _trail(world: World, caller: str, **params: Any) -> list[dict[str, Any]]:
    with _as(world, caller) as c:
        answer = c.get("/audit", params=params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _one(entries: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [e for e in entries if all(e[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, entries)
    return found[0]


def test_http_actions_are_recorded_with_who_what_and_the_outcome(world: World) -> None:
    with _as(world, "operator-a") as op, _as(world, "admin-all") as admin, _as(world, "viewer-a") as viewer:
        assert op.post(f"/imports/{world.imports[OWN]}/retry").status_code == 202
        assert op.post(f"/safety/runs/{world.runs[OWN]}/discard").status_code == 200
        assert op.post(f"/safety/runs/{world.runs[OWN]}/release").status_code == 403
        assert viewer.post("/changes", json={"tenant": OWN}).status_code == 403
        assert admin.post(f"/safety/runs/{world.runs[OTHER]}/release").status_code == 200
        assert admin.post("/inbound/app/pause").status_code == 200
        assert (
            admin.post("/tokens", json={"name": "efs-app", "role": "operator", "tenants": [OWN]}).status_code
            == 201
        )
    trail = _trail(world, "config")
    retry = _one(trail, action="import.retry")
    assert (retry["actor"], retry["target"], retry["tenant"], retry["outcome"]) == (
        "token:operator-a",
        world.imports[OWN],
        OWN,
        "ok",
    )
    assert retry["detail"] == {
        "requeued": 0
    }  # its one failure is invalid input: not retried; and STARTED <= retry["at"] <= time.time()
    discard = _one(trail, action="safety.discard")
    assert (discard["actor"], discard["target"], discard["tenant"]) == (
        "token:operator-a",
        world.runs[OWN],
        OWN,
    )
    denied = _one(trail, action="force", outcome="denied")
    assert denied["actor"] == "token:operator-a" and denied["target"].endswith("/release")
    assert "needs the admin role" in denied["detail"]["reason"]
    assert _one(trail, action="submit", outcome="denied")["actor"] == "token:viewer-a"
    release = _one(trail, action="safety.release")
    assert (release["actor"], release["tenant"]) == ("token:admin-all", OTHER)
    pause = _one(trail, action="inbound.pause")
    assert (pause["actor"], pause["tenant"], pause["target"]) == ("token:admin-all", None, "app")
    made = _one(trail, action="token.create")
    assert made["detail"]["name"] == "efs-app" and made["tenant"] == OWN
    # The fixtures' own actions: activation jobs and portal registrations of both tenants.
    assert {(e["tenant"], e["actor"]) for e in trail if e["action"] == "activation.start"} == {
        (OWN, "config-token"),
        (OTHER, "config-token"),
    }
    assert len([e for e in trail if e["action"] == "portal.register" and e["outcome"] == "ok"]) == 2
    ids = [e["id"] for e in trail]
    assert ids == sorted(ids, reverse=True), "newest first"


def test_each_caller_reads_only_its_tenants(world: World) -> None:
    mine = _trail(world, "viewer-a")
    assert mine and {e["tenant"] for e in mine} == {OWN}
    every = _trail(world, "admin-all")
    assert {OWN, OTHER, None} <= {e["tenant"] for e in every}
    assert len(every) > len(mine)
    with _as(world, "viewer-a") as c:
        refused = c.get("/audit", params={"tenant": OTHER})
        assert refused.status_code == 403 and OTHER in refused.json()["detail"]
        dashboard = c.get("/dashboard/api/audit").json()["items"]
    assert [e["id"] for e in dashboard] == [e["id"] for e in mine]
    only = _trail(world, "config", action="safety")
    assert only and {e["action"] for e in only} <= {"safety.release", "safety.discard"}
    by = _trail(world, "config", actor="token:operator-a")
    assert by and {e["actor"] for e in by} == {"token:operator-a"}
    page = _trail(world, "config", limit=2)
    older = _trail(world, "config", limit=2, before=page[-1]["id"])
    assert len(page) == 2 and older and older[0]["id"] < page[-1]["id"]


def test_cli_actions_are_recorded_and_idsync_audit_reads_them(world: World, tmp_path: Path) -> None:
    db = world.app.state.settings.store.url
    (tmp_path / "idsync.toml").write_text(
        f'[store]\nurl = "{db}"\n[idps.okta]\ntype = "emulator"\n[tenants.{OWN}]\nidp = "okta"\n'
        f'[tenants.{OTHER}]\nidp = "okta"\n'
    )
    cfg = ["--config", str(tmp_path / "idsync.toml")]
    released = run_idsync(tmp_path, "safety", "release", world.runs[OWN], *cfg)
    assert released.returncode == 0, released.stderr
    shown = run_idsync(tmp_path, "audit", "--tenant", OWN, "--action", "safety.release", "--json", *cfg)
    assert shown.returncode == 0, shown.stderr
    (entry,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert entry["actor"].startswith("cli:") and "@" in entry["actor"]
    assert (entry["target"], entry["tenant"], entry["outcome"]) == (world.runs[OWN], OWN, "ok")
    table = run_idsync(tmp_path, "audit", "--limit", "5", *cfg)
    assert table.returncode == 0 and "safety.release" in table.stdout and ADMIN_TOKEN not in table.stdout
    assert _one(_trail(world, "viewer-a"), action="safety.release")["actor"] == entry["actor"]
