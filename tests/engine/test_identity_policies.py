"""Whose is an account, and who gets an e-mail: the tenant's `existing_account` policy and the
activation settings, carried out by the engine on the in-memory parts (tests/engine/support.py)."""

from __future__ import annotations

import logging

import pytest

from idsync.domain.links import IdpStatus
from idsync.domain.policy import ExistingAccount, SyncMode

from .support import drain, upsert, world


async def test_reject_leaves_an_account_it_does_not_manage_alone() -> None:
    w = world(existing_account=ExistingAccount.REJECT)
    by_hand = w.made_by_hand("kai.lund@example.com")
    [cid] = await w.send(upsert("1", "Kai.Lund@example.com"))

    await drain(w)

    result = await w.result(cid)
    assert (result["status"], result["reason_code"]) == ("failed", "login_taken")
    assert w.org.logins() == ["kai.lund@example.com"]
    assert w.org.accounts[by_hand].profile["firstName"] == "Hand"  # untouched
    link = await w.link("1")
    assert link is None or link.idp_id is None
    assert await w.stores.links.holder_of("okta", by_hand) is None


async def test_reject_keeps_a_login_held_by_another_identity_without_calling() -> None:
    w = world(existing_account=ExistingAccount.REJECT)
    await w.send(upsert("1", "lea.moss@example.com"))
    await drain(w)

    [cid] = await w.send(upsert("2", "LEA.moss@example.com"))
    await drain(w)

    result = await w.result(cid)
    assert (result["status"], result["reason_code"]) == ("failed", "login_taken")
    assert w.org.log == ["create"]  # the store knew the holder: no call for the second
    holder = await w.stores.links.holder_of("okta", w.account("lea.moss@example.com").id)
    assert holder is not None and holder.identity == "crm/1"


async def test_adopt_unlinked_links_the_account_and_brings_it_in_step() -> None:
    w = world(existing_account=ExistingAccount.ADOPT_UNLINKED)
    by_hand = w.made_by_hand("mo.nash@example.com")
    [cid] = await w.send(upsert("1", "mo.nash@example.com", firstName="Mo"))

    await drain(w)

    result = await w.result(cid)
    assert (result["status"], result["idp_id"]) == ("updated", by_hand)
    assert w.org.logins() == ["mo.nash@example.com"]
    assert (w.org.accounts[by_hand].profile["firstName"], w.org.accounts[by_hand].profile["lastName"]) == (
        "Mo",
        "Tester",
    )
    holder = await w.stores.links.holder_of("okta", by_hand)
    assert holder is not None and holder.identity == "crm/1"
    assert w.org.log == ["create", "find", "update"]


async def test_an_adopted_account_whose_update_failed_is_updated_on_the_retry() -> None:
    """The claim of the account is stored before its update; when the update fails, the retry
    must still send it (the stored link does not pretend the profile is in step)."""
    w = world(existing_account=ExistingAccount.ADOPT_UNLINKED)
    by_hand = w.made_by_hand("oz.park@example.com")
    w.org.fail_with(500, ops=("update",), times=w.idp.max_retries + 1)
    [cid] = await w.send(upsert("1", "oz.park@example.com", firstName="Oz"))

    await drain(w)

    result = await w.result(cid)
    assert (result["status"], result["idp_id"]) == ("updated", by_hand)
    assert w.org.accounts[by_hand].profile["firstName"] == "Oz"
    assert w.org.log.count("update") == w.idp.max_retries + 2


async def test_adopt_unlinked_never_takes_another_identitys_account() -> None:
    w = world(existing_account=ExistingAccount.ADOPT_UNLINKED)
    await w.send(upsert("1", "ned.olds@example.com"))
    await drain(w)

    [cid] = await w.send(upsert("2", "ned.olds@example.com", source="panel"))
    await drain(w)

    assert (await w.result(cid))["reason_code"] == "login_taken"
    holder = await w.stores.links.holder_of("okta", w.account("ned.olds@example.com").id)
    assert holder is not None and holder.identity == "crm/1" and holder.sharers == ()


async def test_merge_sources_shares_one_account_between_sources() -> None:
    w = world(existing_account=ExistingAccount.MERGE_SOURCES, source_priority=("crm", "panel"))
    await w.send(upsert("1", "ola.park@example.com", title="from crm"))
    await drain(w)

    [cid] = await w.send(upsert("p-7", "ola.park@example.com", source="panel", title="from panel"))
    await drain(w)

    account = w.account("ola.park@example.com")
    result = await w.result(cid)
    assert (result["status"], result["reason_code"]) == ("unchanged", "shared_account")
    assert result["idp_id"] == account.id
    assert w.org.logins() == ["ola.park@example.com"]
    assert account.profile["title"] == "from crm"  # crm masters the profile
    shared = await w.link("p-7", source="panel")
    assert shared is not None and shared.idp_id == account.id
    assert (shared.via, shared.sharers) == (("crm", "1"), ("crm",))
    holder = await w.stores.links.holder_of("okta", account.id)
    assert holder is not None and holder.identity == "crm/1" and holder.sharers == ("panel",)


async def test_two_sources_of_one_person_in_one_import_share_one_account(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both identities are worked on at once: the second's create is refused while the first's is
    in flight; it waits for that create to be recorded, then shares the account (no traceback)."""
    w = world(existing_account=ExistingAccount.MERGE_SOURCES, source_priority=("crm", "panel"))
    crm, panel = await w.send(
        upsert("1", "ola.park@example.com", title="from crm"),
        upsert("p-7", "Ola.Park@example.com", source="panel", title="from panel"),
        import_id="both",
    )

    await drain(w)

    account = w.account("ola.park@example.com")
    assert w.org.logins() == ["ola.park@example.com"]
    assert ((await w.result(crm))["status"], (await w.result(crm))["idp_id"]) == ("created", account.id)
    shared = await w.result(panel)
    assert (shared["status"], shared["reason_code"], shared["idp_id"]) == (
        "unchanged",
        "shared_account",
        account.id,
    )
    assert account.profile["title"] == "from crm"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_merge_sources_never_crosses_tenants() -> None:
    w = world(existing_account=ExistingAccount.MERGE_SOURCES)
    w.set_policy("beta", existing_account=ExistingAccount.MERGE_SOURCES)
    await w.send(upsert("1", "pat.quinn@example.com"))
    await drain(w)

    message = upsert("1", "pat.quinn@example.com", source="panel")
    message["tenant"] = "beta"
    [cid] = await w.send(message)
    await drain(w)

    assert (await w.result(cid))["reason_code"] == "login_taken"
    assert w.org.logins() == ["pat.quinn@example.com"]


async def test_silent_activation_sends_no_email_and_returns_the_link() -> None:
    """Created staged, then activated with sendEmail=false: the activation link comes back with
    the result instead of an e-mail."""
    w = world(mode=SyncMode.SYNC_AND_ACTIVATE, send_activation_email=False)
    [cid] = await w.send(upsert("1", "quin.ross@example.com"))

    await drain(w)

    account = w.account("quin.ross@example.com")
    assert account.status is IdpStatus.PROVISIONED and w.org.outbox == []
    assert w.org.log == ["create", "activate"]
    result = await w.result(cid)
    assert result["status"] == "created"
    assert result["activation_url"] == f"{w.org.url}/tokens/{account.activation_token}/verify"
    link = await w.link("1")
    assert link is not None and (link.idp_status, link.pending_op) == (IdpStatus.PROVISIONED, None)


async def test_activation_with_email_goes_to_the_user() -> None:
    w = world(mode=SyncMode.SYNC_AND_ACTIVATE)
    [cid] = await w.send(upsert("1", "rae.sol@example.com"))

    await drain(w)

    account = w.account("rae.sol@example.com")
    assert account.status is IdpStatus.PROVISIONED and w.org.log == ["create"]
    [email] = w.org.outbox
    assert (email.to, email.user_id) == ("rae.sol@example.com", account.id)
    result = await w.result(cid)
    assert (result["status"], result["activation_url"]) == ("created", None)


async def test_a_staged_user_is_activated_silently_when_the_tenant_turns_activation_on() -> None:
    w = world()
    await w.send(upsert("1", "sam.tate@example.com"))
    await drain(w)
    assert w.account("sam.tate@example.com").status is IdpStatus.STAGED
    w.set_policy(mode=SyncMode.SYNC_AND_ACTIVATE, send_activation_email=False)

    [cid] = await w.send(upsert("1", "sam.tate@example.com"))
    await drain(w)

    result = await w.result(cid)
    assert result["status"] == "activated" and result["activation_url"] is not None
    assert w.account("sam.tate@example.com").status is IdpStatus.PROVISIONED and w.org.outbox == []
