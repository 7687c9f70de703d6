"""One person, one account: a login already held by an account, under each `existing_account`
policy, with EFS-shaped data (an admin and a panelist with one e-mail, logins differing in case,
two tenants in one org, accounts made by hand), against the emulator over HTTP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.runtime import Runtime

from .support import FAST, accounts, calls, change, linked_ids, make_settings, sync


def _store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'idsync.db'}"


async def test_a_panelist_with_the_admins_email_is_refused_by_default(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    settings = make_settings(_store(tmp_path), org.url, {"efs": {}})
    async with Runtime(settings, worker_options=FAST) as rt:
        first = await sync(rt, tmp_path, "efs", [change("efs", "efs-admin", "4711", "ann.lee@example.com")])
        assert first.status("efs-admin", "4711") == "created"
        account = accounts(admin)["ann.lee@example.com"]
        second = await sync(
            rt,
            tmp_path,
            "efs",
            [change("efs", "panelist", "p-9", "Ann.Lee@Example.com", first="Annie", last="Panel")],
        )
        assert second.status("panelist", "p-9") == "failed"
        code, message = second.reason("panelist", "p-9")
        assert code == "login_taken"
        assert message is not None and "efs-admin/4711" in message
        # Known from our own links: no failed create, no lookup, no update.
        assert second.report.api_calls == 0
        assert Counter(linked_ids(rt)).most_common(1)[0][1] == 1
    after = accounts(admin)["ann.lee@example.com"]
    assert (after["id"], after["profile"]["firstName"], after["status"]) == (
        account["id"],
        "Ann",
        account["status"],
    )
    assert len(admin.users()) == 1


async def test_logins_that_differ_only_in_case_are_one_account(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    settings = make_settings(_store(tmp_path), org.url, {"efs": {}})
    async with Runtime(settings, worker_options=FAST) as rt:
        out = await sync(
            rt,
            tmp_path,
            "efs",
            [
                change("efs", "app", "1", "Bea.Kaur@Example.com", first="Bea"),
                change("efs", "app", "2", "bea.kaur@example.COM", first="Beatrix"),
            ],
        )
        statuses = sorted([out.status("app", "1"), out.status("app", "2")])
        assert statuses == ["created", "failed"]
        loser = "1" if out.status("app", "1") == "failed" else "2"
        winner = "2" if loser == "1" else "1"
        code, message = out.reason("app", loser)
        assert code == "login_taken" and message is not None and f"app/{winner}" in message
        assert len(linked_ids(rt)) == 1
    assert len(admin.users()) == 1


@pytest.mark.parametrize("policy", ["reject", "adopt_unlinked", "merge_sources"])
async def test_another_tenants_account_is_never_reached(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path, policy: str
) -> None:
    tenant_b: dict[str, object] = {"existing_account": policy, "mode": "sync_and_activate"}
    if policy == "merge_sources":
        tenant_b["source_priority"] = ["efs-admin", "panelist"]
    settings = make_settings(_store(tmp_path), org.url, {"tenant-a": {}, "tenant-b": tenant_b})
    async with Runtime(settings, worker_options=FAST) as rt:
        await sync(rt, tmp_path, "tenant-a", [change("tenant-a", "efs-admin", "a-1", "cleo@example.com")])
        before = accounts(admin)["cleo@example.com"]
        out = await sync(
            rt,
            tmp_path,
            "tenant-b",
            [change("tenant-b", "panelist", "b-7", "CLEO@example.com", first="Mallory", last="Evil")],
        )
        assert out.status("panelist", "b-7") == "failed"
        code, message = out.reason("panelist", "b-7")
        assert code == "login_taken"
        assert message is not None and "not managed by this tenant" in message
        assert "a-1" not in message and "tenant-a" not in message
        assert len(linked_ids(rt)) == 1
    after = accounts(admin)["cleo@example.com"]
    assert after["profile"] == before["profile"] and after["status"] == before["status"] == "STAGED"
    assert admin.stats(windows=False)["emails_sent"] == 0


async def test_an_account_made_by_hand_is_adopted_only_when_the_tenant_says_so(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    hand = {"login": "dev@example.com", "email": "dev@example.com", "firstName": "Dev", "lastName": "Hand"}
    admin._post("/users", {"users": [{"profile": hand, "status": "ACTIVE"}]})
    held = accounts(admin)["dev@example.com"]
    rejecting = make_settings(_store(tmp_path), org.url, {"efs": {}})
    async with Runtime(rejecting, worker_options=FAST) as rt:
        out = await sync(rt, tmp_path, "efs", [change("efs", "app", "d-1", "dev@example.com", first="Devi")])
        assert out.status("app", "d-1") == "failed"
        assert out.reason("app", "d-1")[0] == "login_taken"
    assert accounts(admin)["dev@example.com"]["profile"]["firstName"] == "Dev"  # not touched
    adopting = make_settings(_store(tmp_path), org.url, {"efs": {"existing_account": "adopt_unlinked"}})
    async with Runtime(adopting, worker_options=FAST) as rt:
        out = await sync(rt, tmp_path, "efs", [change("efs", "app", "d-1", "dev@example.com", first="Devi")])
        assert out.status("app", "d-1") == "updated"
        assert out.rows[("app", "d-1")]["idp_id"] == held["id"]
        link = rt.store.links.get("efs", "app", "d-1")
        assert link is not None and link.idp_id == held["id"]
        # A second identity of the tenant with the same login is refused: the account is linked now.
        again = await sync(rt, tmp_path, "efs", [change("efs", "crm", "c-5", "DEV@example.com")])
        assert again.status("crm", "c-5") == "failed"
        code, message = again.reason("crm", "c-5")
        assert code == "login_taken" and message is not None and "app/d-1" in message
    assert accounts(admin)["dev@example.com"]["profile"]["firstName"] == "Devi"
    assert len(admin.users()) == 1


async def test_merge_sources_shares_one_account_and_the_first_source_masters_it(
    org: EmulatorThread, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    merging = {
        "existing_account": "merge_sources",
        "source_priority": ["efs-admin", "panelist"],
        "delete_policy": "deactivate",
    }
    settings = make_settings(_store(tmp_path), org.url, {"efs": merging})
    login = "eve.stone@example.com"
    async with Runtime(settings, worker_options=FAST) as rt:
        out = await sync(rt, tmp_path, "efs", [change("efs", "panelist", "p-1", login, first="Evie")])
        assert out.status("panelist", "p-1") == "created"
        account_id = accounts(admin)[login]["id"]
        # The admin joins the panelist's account and, ranking higher, brings its profile.
        out = await sync(
            rt, tmp_path, "efs", [change("efs", "efs-admin", "4711", login.upper(), first="Eve")]
        )
        assert out.status("efs-admin", "4711") == "updated"
        assert out.rows[("efs-admin", "4711")]["idp_id"] == account_id
        assert accounts(admin)[login]["profile"]["firstName"] == "Eve"
        # A lower source never overwrites the profile.
        out = await sync(rt, tmp_path, "efs", [change("efs", "panelist", "p-1", login, first="Evelyn")])
        assert out.status("panelist", "p-1") == "skipped"
        assert out.reason("panelist", "p-1")[0] == "profile_mastered"
        assert accounts(admin)[login]["profile"]["firstName"] == "Eve"
        out = await sync(rt, tmp_path, "efs", [change("efs", "efs-admin", "4711", login, first="Eva")])
        assert out.status("efs-admin", "4711") == "updated"
        assert accounts(admin)[login]["profile"]["firstName"] == "Eva"
        # A second user of one source never shares: that is two people.
        out = await sync(rt, tmp_path, "efs", [change("efs", "panelist", "p-2", login)])
        assert out.status("panelist", "p-2") == "failed"
        assert out.reason("panelist", "p-2")[0] == "login_taken"
        # Removing the person from one source leaves the account alone while the other has it.
        out = await sync(rt, tmp_path, "efs", [change("efs", "panelist", "p-1", login, op="delete")])
        assert out.status("panelist", "p-1") == "skipped"
        assert out.reason("panelist", "p-1")[0] == "shared_account"
        assert accounts(admin)[login]["status"] == "STAGED"
        assert linked_ids(rt) == [account_id]
        remaining = rt.store.links.get("efs", "efs-admin", "4711")
        assert remaining is not None and remaining.idp_id == account_id and not remaining.sharers
        out = await sync(rt, tmp_path, "efs", [change("efs", "efs-admin", "4711", login, op="delete")])
        assert out.status("efs-admin", "4711") == "deactivated"
    assert accounts(admin)[login]["status"] == "DEPROVISIONED"
    assert len(admin.users()) == 1
    assert calls(admin, "POST /api/v1/users") == 1
