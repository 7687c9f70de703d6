"""The worker, ingest and apply on the in-memory parts (tests/engine/support.py): what reaches the
IdP and what the store records, for creates, updates, coalescing, versions, lanes and failures."""

from __future__ import annotations

from dataclasses import replace

from idsync.domain.links import IdpStatus, PendingOp
from idsync.domain.policy import SyncMode

from .support import FAST, drain, upsert, world


async def test_a_new_user_is_created_and_linked() -> None:
    w = world()
    [cid] = await w.send(upsert("1", "ann.lee@example.com", title="Analyst", version=3))

    await drain(w)

    account = w.org.user("ann.lee@example.com")
    assert account is not None and account.status is IdpStatus.STAGED  # mode sync: not activated
    assert (account.profile["firstName"], account.profile["title"]) == ("Ann", "Analyst")
    result = await w.result(cid)
    assert (result["status"], result["idp_id"], result["reason_code"]) == ("created", account.id, None)
    link = await w.link("1")
    assert link is not None and (link.idp_id, link.login, link.version) == (account.id, account.login, 3)
    assert (link.idp_status, link.pending_op, link.profile_hash is not None) == (IdpStatus.STAGED, None, True)
    assert w.org.log == ["create"] and w.org.outbox == []


async def test_a_changed_profile_is_updated_and_a_new_login_renames() -> None:
    w = world()
    await w.send(upsert("1", "bo.chan@example.com"))
    await drain(w)
    account_id = w.account("bo.chan@example.com").id

    [cid] = await w.send(upsert("1", "bo.chan@example.com", firstName="Bob"))
    await drain(w)
    assert (await w.result(cid))["status"] == "updated"
    assert w.org.accounts[account_id].profile["firstName"] == "Bob"

    [cid] = await w.send(upsert("1", "robert.chan@example.com", firstName="Bob"))
    await drain(w)
    assert (await w.result(cid))["status"] == "updated"
    assert w.org.logins() == ["robert.chan@example.com"]  # renamed, not a second account
    link = await w.link("1")
    assert link is not None and (link.idp_id, link.login) == (account_id, "robert.chan@example.com")
    assert w.org.log == ["create", "update", "update"]


async def test_an_unchanged_user_is_decided_at_once_without_a_call() -> None:
    w = world()
    await w.send(upsert("1", "cy.dunn@example.com"))
    await drain(w)

    [cid] = await w.send(upsert("1", "cy.dunn@example.com"))

    result = await w.result(cid)
    assert (result["state"], result["status"]) == ("done", "unchanged")
    assert w.org.log == ["create"]


async def test_queued_upserts_of_one_user_coalesce_into_one_call() -> None:
    """Three upserts waiting for one user cost one create; the highest version wins the run,
    wherever it arrived."""
    w = world()
    ids = await w.send(
        upsert("1", "di.ek@example.com", title="v2", version=2),
        upsert("1", "di.ek@example.com", title="v5", version=5),
        upsert("1", "di.ek@example.com", title="v4", version=4),
    )

    await drain(w)

    assert w.org.log == ["create"]
    account = w.org.user("di.ek@example.com")
    assert account is not None and account.profile["title"] == "v5"
    assert [(await w.result(i))["status"] for i in ids] == ["created"] * 3
    link = await w.link("1")
    assert link is not None and link.version == 5


async def test_an_older_version_never_acts() -> None:
    w = world()
    await w.send(upsert("1", "ed.fox@example.com", title="new", version=7))
    await drain(w)

    [cid] = await w.send(upsert("1", "ed.fox@example.com", title="old", version=6))
    await drain(w)

    result = await w.result(cid)
    assert (result["status"], result["reason_code"]) == ("skipped", "outdated_version")
    assert w.account("ed.fox@example.com").profile["title"] == "new"
    assert w.org.log == ["create"]
    link = await w.link("1")
    assert link is not None and link.version == 7


async def test_the_interactive_lane_goes_first() -> None:
    """A single change (interactive) that arrives after a bulk import is created first."""
    w = world(replace(FAST, concurrency=1, interactive_slots=1))
    await w.send(*(upsert(f"b{i}", f"bulk{i}@example.com") for i in range(3)), import_id="imp-1")
    await w.send(upsert("i1", "now@example.com"))

    await drain(w)

    created = [a.login for a in w.org.accounts.values()]  # in creation order
    assert created[0] == "now@example.com"
    assert sorted(created[1:]) == ["bulk0@example.com", "bulk1@example.com", "bulk2@example.com"]
    record = await w.stores.imports.get("imp-1")
    assert record is not None and record.state.value == "completed" and record.counts["created"] == 3


async def test_an_unavailable_idp_is_retried_with_backoff() -> None:
    w = world()
    await w.send(upsert("1", "fay.gill@example.com"))
    await drain(w)
    w.org.fail_with(503, ops=("update",), times=3)  # the connector's two retries fail too
    started = w.clock.time()
    [cid] = await w.send(upsert("1", "fay.gill@example.com", title="Lead"))

    await drain(w, advance=False)

    waiting = await w.result(cid)
    assert (waiting["state"], waiting["attempts"]) == ("pending", 1)
    assert FAST.retry_base_s / 2 <= float(str(waiting["not_before"])) - started <= FAST.retry_base_s
    assert "title" not in w.account("fay.gill@example.com").profile
    await drain(w)
    assert (await w.result(cid))["status"] == "updated"
    assert w.account("fay.gill@example.com").profile["title"] == "Lead"
    assert w.clock.time() - started >= FAST.retry_base_s / 2
    assert w.org.log.count("update") == 4


async def test_a_lost_create_answer_is_looked_up_not_repeated() -> None:
    """The create reached the IdP but its answer was lost: the login is looked up and the account
    found is taken as this create's, so there is one account and the result is `created`."""
    w = world()
    w.org.drop_answers(ops=("create",), times=1)
    [cid] = await w.send(upsert("1", "gus.hale@example.com"))

    await drain(w)

    assert w.org.log == ["create", "find"]
    account = w.org.user("gus.hale@example.com")
    assert account is not None and w.org.logins() == ["gus.hale@example.com"]
    result = await w.result(cid)
    assert (result["status"], result["idp_id"]) == ("created", account.id)
    link = await w.link("1")
    assert link is not None and (link.idp_id, link.pending_op) == (account.id, None)


async def test_a_create_that_may_have_failed_is_looked_up_before_it_is_sent_again() -> None:
    w = world()
    w.org.fail_with(500, ops=("create",), times=1)  # not carried out; the worker cannot know
    [cid] = await w.send(upsert("1", "hal.ito@example.com"))

    await drain(w)

    assert w.org.log == ["create", "find", "create"]
    assert w.org.logins() == ["hal.ito@example.com"]
    assert (await w.result(cid))["status"] == "created"


async def test_an_interrupted_create_is_looked_up_first_on_retry() -> None:
    """A create that kept failing (unknown outcome each time) goes back to the queue with its
    write-ahead intent; the retry looks the login up before it creates."""
    w = world()
    w.org.fail_with(500, ops=("create",), times=3)
    [cid] = await w.send(upsert("1", "ida.jones@example.com"))

    await drain(w, advance=False)
    link = await w.link("1")
    assert link is not None and (link.idp_id, link.pending_op) == (None, PendingOp.CREATE)
    assert (await w.result(cid))["attempts"] == 1

    await drain(w)
    assert w.org.log == ["create", "find"] * 3 + ["find", "create"]
    assert w.org.logins() == ["ida.jones@example.com"]
    assert (await w.result(cid))["status"] == "created"


async def test_an_account_created_before_an_interruption_is_reported_created() -> None:
    """Silent activation: the create lands, the activation's answer is lost (it may have gone
    through). The retry reads the status before activating again, and the result is `created`
    (the change made the account), not `activated` or `unchanged`."""
    w = world(mode=SyncMode.SYNC_AND_ACTIVATE, send_activation_email=False)
    w.org.fail_with(500, ops=("activate",), times=1)
    [cid] = await w.send(upsert("1", "ivy.lund@example.com"))

    await drain(w, advance=False)
    link = await w.link("1")
    account = w.account("ivy.lund@example.com")
    assert link is not None and (link.idp_id, link.pending_op) == (account.id, PendingOp.CREATE)
    assert (await w.result(cid))["attempts"] == 1

    await drain(w)
    result = await w.result(cid)
    assert (result["status"], result["idp_id"]) == ("created", account.id)
    assert w.org.log == ["create", "activate", "get", "activate"]
    link = await w.link("1")
    assert link is not None and (link.idp_status, link.pending_op) == (IdpStatus.PROVISIONED, None)
    assert w.org.outbox == []  # the tenant said no e-mail, on the retry too


async def test_sync_mode_off_calls_nothing() -> None:
    w = world(mode=SyncMode.OFF)
    [cid] = await w.send(upsert("1", "jo.kim@example.com"))

    result = await w.result(cid)
    assert (result["status"], result["reason_code"]) == ("skipped", "sync_off")
    assert w.org.log == [] and w.org.accounts == {}


async def test_an_interrupted_update_of_an_active_account_does_not_look_for_an_activation() -> None:
    """A worker died holding an update (attempt counted). The account was active before, so that
    worker cannot have sent an activation: the retry neither reads the status first nor
    activates, and the result is `updated`."""
    w = world(mode=SyncMode.SYNC_AND_ACTIVATE, send_activation_email=False)
    await w.send(upsert("1", "kim.berg@example.com"))
    await drain(w)
    account = w.account("kim.berg@example.com")
    before = len(w.org.log)
    link = await w.link("1")
    assert link is not None and link.idp_status is IdpStatus.PROVISIONED

    [cid] = await w.send(upsert("1", "kim.berg@example.com", firstName="Kimberly"))
    assert await w.stores.queue.claim("dead", limit=10, lease_s=1.0, now=w.clock.time())
    assert await w.stores.queue.release_expired(owner="dead") == 1
    await drain(w)

    result = await w.result(cid)
    assert (result["status"], result["idp_id"], result["attempts"]) == ("updated", account.id, 1)
    assert w.org.log[before:] == ["update"]
