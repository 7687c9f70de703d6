"""Tenant isolation: a change for tenant A can never reach tenant B's IdP.

Two emulated Okta orgs, each with its own token (a call sent to the wrong org would be refused
with E0000011 and show up as a failure), and two tenants that use the same source, the same keys
and the same logins: the worst case for a link or a lookup keyed by anything less than the tenant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idsync.config import Settings, settings_from_dict
from idsync.domain.records import received_from_text
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.engine.ingest import Defaults
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.reliability.scan import SCAN
from tests.reliability.support import user_message

TOKEN_A = "tenant-a-okta-token-7f3e-91ab"
TOKEN_B = "tenant-b-okta-token-0c5d-28ef"
SCAN.add_secret(TOKEN_A, TOKEN_B)
USERS = 20


@pytest.fixture
def orgs() -> Iterator[tuple[EmulatorThread, EmulatorThread]]:
    with (
        EmulatorThread(EmulatorSettings(token=TOKEN_A, time_scale=0.01)) as a,
        EmulatorThread(EmulatorSettings(token=TOKEN_B, time_scale=0.01)) as b,
    ):
        yield a, b


def _settings(tmp_path: Path, a: str, b: str) -> Settings:
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
            "idps": {
                "org-a": {"type": "okta", "url": a, "token_env": "A_TOKEN"},
                "org-b": {"type": "okta", "url": b, "token_env": "B_TOKEN"},
            },
            "tenants": {
                "acme": {"idp": "org-a", "mode": "sync_and_activate", "delete_policy": "delete"},
                "globex": {"idp": "org-b", "mode": "sync", "delete_policy": "ignore"},
            },
        },
        {"A_TOKEN": TOKEN_A, "B_TOKEN": TOKEN_B},
    )


def _accounts(url: str) -> dict[str, dict[str, Any]]:
    return {u["login"]: u for u in EmulatorAdmin(url).users()}


async def _single(rt: Runtime, message: dict[str, Any]) -> None:
    await rt.ingestor.receive([received_from_text(json.dumps(message))], Defaults(origin="http"))
    await rt.worker.run(until_idle=lambda: True)


async def test_changes_for_one_tenant_never_reach_the_other_tenant_s_org(
    orgs: tuple[EmulatorThread, EmulatorThread], tmp_path: Path
) -> None:
    a, b = orgs
    async with Runtime(_settings(tmp_path, a.url, b.url)) as rt:
        for tenant in ("acme", "globex"):
            users = tmp_path / f"{tenant}.jsonl"
            users.write_text("".join(json.dumps(user_message(i, tenant=tenant)) + "\n" for i in range(USERS)))
            report = await run_file_import(rt, users, tenant=tenant, import_id=f"{tenant}-initial")
            assert (report.progress.created, report.progress.failed) == (USERS, 0)
        before_b = _accounts(b.url)

        # Tenant acme: a rename, a profile change, deletions; the same keys exist in globex.
        renamed = user_message(0, tenant="acme", version=2)
        renamed["user"] |= {"login": "renamed0@example.com", "email": "renamed0@example.com"}
        await _single(rt, renamed)
        await _single(rt, user_message(5, tenant="acme", version=2, first="OnlyInAcme"))
        for i in (1, 2, 3):
            await _single(
                rt, {"tenant": "acme", "op": "delete", "source": "app", "key": str(i), "version": 3}
            )

        # A line naming globex inside an acme import is refused, not sent anywhere.
        mixed = tmp_path / "mixed.jsonl"
        mixed.write_text(json.dumps(user_message(7, tenant="globex", version=9, first="Smuggled")) + "\n")
        smuggled = await run_file_import(rt, mixed, tenant="acme", import_id="acme-mixed")
        (refused,) = rt.store.imports.results("acme-mixed")

    # Org A got exactly acme's changes, activated as acme's mode says.
    after_a = _accounts(a.url)
    assert len(after_a) == USERS - 3  # user 0 renamed in place (no second account), 1-3 deleted
    assert "renamed0@example.com" in after_a and "user0@example.com" not in after_a
    assert not {"user1@example.com", "user2@example.com", "user3@example.com"} & set(after_a)
    assert after_a["user5@example.com"]["profile"]["firstName"] == "OnlyInAcme"
    assert {u["status"] for u in after_a.values()} == {"PROVISIONED"}  # activation e-mailed

    # Org B is exactly as globex left it: nothing of acme's changes, nor the smuggled line.
    after_b = _accounts(b.url)
    assert after_b == before_b
    assert len(after_b) == USERS and {u["status"] for u in after_b.values()} == {"STAGED"}
    assert after_b["user7@example.com"]["profile"]["firstName"] == "Ann"
    assert smuggled.progress.failed == 1 and smuggled.progress.created + smuggled.progress.updated == 0
    assert refused["reason_code"] == "tenant_mismatch" and "globex" in refused["reason_message"]

    # Neither org ever saw the other's token: no call went to the wrong org.
    for org in (a, b):
        statuses = EmulatorAdmin(org.url).stats(windows=False)["requests"]
        assert not [route for route, by_status in statuses.items() if "401" in by_status]
