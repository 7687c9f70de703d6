"""End to end: the same JSONL import through the engine into Okta (the emulator) and into SCIM
(scim2-server) gives the same results table - counts per status and reasons per phase - and
leaves the same accounts, active and inactive, at both IdPs.

This is the abstraction the seeds ask for, proved: the engine does not know which IdP it feeds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.config import settings_from_dict
from idsync.emulator.okta.client import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorThread
from idsync.emulator.okta.settings import EmulatorSettings
from idsync.engine.activation import enqueue_activation
from idsync.engine.jobs import ImportReport, run_job
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.conformance.servers import FARM, TOKEN

TENANT = "efs-parity"
PHASES = ("created", "updated", "activated", "deactivated", "deleted", "unchanged", "skipped", "failed")


@pytest.fixture(scope="session", autouse=True)
def _scim_servers() -> Iterator[None]:
    FARM.prepare("full")
    yield
    FARM.stop_all()


def _change(
    key: str,
    version: int,
    login: str,
    *,
    op: str = "upsert",
    first: str = "Ann",
    last: str = "Lee",
    **extra: Any,
) -> str:
    body: dict[str, Any] = {"tenant": TENANT, "op": op, "source": "efs-admin", "key": key, "version": version}
    if op == "upsert":
        body["user"] = {"login": login, "email": login, "firstName": first, "lastName": last, **extra}
    return json.dumps(body)


def write_input(path: Path) -> Path:
    """One of each thing an import meets, in a realistic mix."""
    lines = [
        _change(str(k), 1, f"user{k}@example.com", first=f"U{k}", **({"title": "Analyst"} if k % 3 else {}))
        for k in range(1, 41)
    ]
    lines += [_change(f"ext{k}", 1, f"boss{k}@bigcorp.example") for k in range(3)]  # external IdP: skipped
    lines.append(
        '{"tenant": "' + TENANT + '", "op": "upsert", "source": "efs-admin", "key": "bad-1", '
        '"user": {"login": "x@example.com", "email": "not-an-email", "firstName": "X", "lastName": "Y"}}'
    )
    lines.append(_change("bad-2", 1, "y@example.com", last=""))  # invalid: empty last name
    lines.append(_change("5", 2, "user5@example.com", first="U5", last="Lee-Smith", title="Analyst"))
    lines.append(_change("shared-a", 1, "shared@example.com", first="Sam"))  # two keys, one login:
    lines.append(_change("shared-b", 1, "shared@example.com", first="Samuel"))  # login_taken, not adopted
    lines.append(_change("10", 2, "", op="deactivate"))
    lines.append(_change("11", 2, "", op="delete"))
    lines.append(_change("12", 2, "", op="activate"))
    lines.append(_change("ghost", 1, "", op="deactivate"))  # never synced: skipped
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _config(store: Path, idp: dict[str, Any]) -> dict[str, Any]:
    fast = {"backoff_base_s": 0.05, "backoff_max_s": 0.2}
    return {
        "store": {"url": f"sqlite:///{store}"},
        "idps": {"target": {**idp, "governor": fast}},
        "tenants": {
            "*": {
                "idp": "target",
                "mode": "sync",
                "delete_policy": "delete",
                "external_idps": [{"name": "BigCorp SSO", "domains": ["bigcorp.example"]}],
            }
        },
    }


def table(report: ImportReport) -> dict[str, Any]:
    """What a support engineer reads: counts per status and (status, reason code) counts."""
    p = report.progress
    reasons = Counter()
    for status, code, n, _example in report.reasons:
        reasons[(status, code)] += n
    return {"received": p.received, **{s: getattr(p, s) for s in PHASES}, "reasons": dict(reasons)}


def write_changes(path: Path) -> Path:
    """Later edits in the app: new names, including for the user deactivated in phase 1 (an update
    must not bring a deactivated user back into the activation job)."""
    lines = [_change(str(k), 3, f"user{k}@example.com", first=f"U{k}", last="Changed") for k in (3, 10, 20)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def migrate(
    settings_raw: dict[str, Any], environ: dict[str, str], path: Path, changes: Path
) -> list[dict[str, Any]]:
    async with Runtime(settings_from_dict(settings_raw, environ)) as runtime:
        first = await run_file_import(runtime, path, tenant=TENANT, import_id="phase-1", poll_s=0.05)
        again = await run_file_import(runtime, path, tenant=TENANT, import_id="re-run", poll_s=0.05)
        edits = await run_file_import(runtime, changes, tenant=TENANT, import_id="edits", poll_s=0.05)
        activation = await run_job(runtime.engine, "phase-2", lambda: _enqueue(runtime), poll_s=0.05)
    return [table(first), table(again), table(edits), table(activation)]


async def _enqueue(runtime: Runtime) -> None:
    await enqueue_activation(runtime.stores, "phase-2", TENANT)


def scim_state(url: str) -> dict[str, bool]:
    r = httpx.get(f"{url}/Users", params={"count": 1000}, headers={"Authorization": f"Bearer {TOKEN}"})
    r.raise_for_status()
    return {u["userName"]: u.get("active") is not False for u in r.json().get("Resources", [])}


def okta_state(url: str) -> dict[str, bool]:
    with EmulatorAdmin(url) as admin:
        return {u["login"]: u["status"] not in ("STAGED", "DEPROVISIONED") for u in admin.users()}


async def test_an_import_gives_the_same_results_through_okta_and_scim(tmp_path: Path) -> None:
    path = write_input(tmp_path / "users.jsonl")
    changes = write_changes(tmp_path / "changes.jsonl")

    with EmulatorThread(EmulatorSettings(token="okta-parity", time_scale=0.01)) as emulator:
        okta_raw = _config(tmp_path / "okta.db", {"type": "okta", "url": emulator.url, "token_env": "OKTA_T"})
        okta_tables = await migrate(okta_raw, {"OKTA_T": emulator.token}, path, changes)
        okta_users = okta_state(emulator.url)

    scim_url = FARM.get("full").process.tenant_url("parity")
    scim_raw = _config(tmp_path / "scim.db", {"type": "scim", "url": scim_url, "token_env": "SCIM_T"})
    scim_tables = await migrate(scim_raw, {"SCIM_T": TOKEN}, path, changes)
    scim_users = scim_state(scim_url)

    assert scim_tables == okta_tables
    assert scim_users == okta_users
    # ... and the tables say what the input holds, so "equal" also means "right":
    phase1, rerun, edits, phase2 = okta_tables
    assert phase1 == {
        "received": 52,
        "created": 42,  # 40 users, key 5 twice (two changes, one account), shared-a
        "updated": 0,  # shared-b: its login is held by shared-a: login_taken, the account untouched
        "activated": 1,
        "deactivated": 1,
        "deleted": 1,
        "unchanged": 0,
        "skipped": 4,
        "failed": 3,
        "reasons": {
            ("skipped", "external_idp"): 3,
            ("skipped", "not_linked"): 1,
            ("failed", "invalid"): 2,
            ("failed", "login_taken"): 1,
        },
    }
    assert (rerun["unchanged"], rerun["created"], rerun["updated"]) == (40, 0, 0)
    assert rerun["reasons"][("failed", "login_taken")] == 1  # shared-b, decided without a call
    assert (edits["updated"], edits["failed"]) == (3, 0)
    assert phase2["activated"] == 38 and phase2["failed"] == 0  # every staged account, once
    assert len(okta_users) == 40 and sum(okta_users.values()) == 39  # user11 deleted, user10 inactive
    assert "user11@example.com" not in okta_users and okta_users["user10@example.com"] is False
