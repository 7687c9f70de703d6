"""What the in-memory IdP offers beyond the connector suite (tests/conformance runs that on it):
activation links and e-mails, the user's side of activation, faults aimed at some operations or
some calls, deltas by lastUpdated, and rate limits waited out on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from idsync.clock import FakeClock
from idsync.domain.links import IdpStatus
from idsync.errors import IllegalTransition, InvalidRequest, Unavailable
from idsync.testing import MemoryIdp, MemoryOrg


def _profile(login: str) -> dict[str, str]:
    return {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"}


async def test_activation_links_and_emails() -> None:
    org = MemoryOrg()
    idp = MemoryIdp("okta", org)
    silent = await idp.create_user(_profile("ann@example.com"), activate=False)
    loud = await idp.create_user(_profile("bo@example.com"), activate=True)

    link = await idp.activate_user(silent.id, send_email=False)

    assert link.activation_url == f"{org.url}/tokens/{link.activation_token}/verify"
    assert [(e.to, e.user_id) for e in org.outbox] == [("bo@example.com", loud.id)]  # only the loud one
    assert link.activation_url is not None
    assert org.follow_activation(link.activation_url).status is IdpStatus.ACTIVE
    with pytest.raises(InvalidRequest, match="not valid"):
        org.follow_activation(link.activation_url)  # used already
    with pytest.raises(IllegalTransition, match="already active"):
        await idp.activate_user(silent.id, send_email=False)
    assert org.follow_activation(org.outbox[0].activation_url).status is IdpStatus.ACTIVE
    await idp.deactivate_user(loud.id)
    again = await idp.activate_user(loud.id, send_email=True)  # a deactivated user comes back
    assert again.activation_url is None and len(org.emails_to("BO@example.com")) == 2
    assert org.accounts[loud.id].status is IdpStatus.PROVISIONED


async def test_faults_aimed_at_an_operation_and_a_number_of_calls() -> None:
    org = MemoryOrg()
    idp = MemoryIdp("okta", org, max_retries=2)
    user = await idp.create_user(_profile("cy@example.com"), activate=False)

    org.fail_with(503, ops=("update",), times=2)
    assert await idp.find_user("cy@example.com") is not None  # other operations are not hit
    updated = await idp.update_user(user.id, {"title": "Lead"})  # the third try goes through
    assert updated.profile["title"] == "Lead"
    assert org.log == ["create", "find", "update", "update", "update"] and org.fault is None

    org.drop_answers(ops=("update",))
    with pytest.raises(Unavailable, match="no answer"):
        await idp.update_user(user.id, {"title": "Chief"})
    org.clear_faults()
    assert org.accounts[user.id].profile["title"] == "Chief"  # the write happened, the answer was lost


async def test_a_refused_profile_names_the_field() -> None:
    idp = MemoryIdp()
    with pytest.raises(InvalidRequest, match=r"lastName: The field cannot be left blank"):
        await idp.create_user({**_profile("di@example.com"), "lastName": " "}, activate=False)
    with pytest.raises(InvalidRequest, match=r"login: Username must be in the form of an email address"):
        await idp.create_user({**_profile("di@example.com"), "login": "di"}, activate=False)
    assert idp.org.accounts == {}


async def test_a_delta_lists_only_users_updated_since() -> None:
    clock = FakeClock()
    org = MemoryOrg(clock=clock)
    idp = MemoryIdp("okta", org)
    old = await idp.create_user(_profile("ed@example.com"), activate=False)
    clock.advance(60)
    new = await idp.create_user(_profile("fay@example.com"), activate=False)
    assert old.last_updated is not None and old.last_updated < str(new.last_updated)

    delta = [u.login async for u in idp.list_users(page_size=1, updated_since=old.last_updated)]

    assert delta == ["fay@example.com"]
    assert org.log.count("list") == 1


async def test_a_rate_limit_is_waited_out_on_the_orgs_clock() -> None:
    clock = FakeClock()
    org = MemoryOrg(clock=clock)
    idp = MemoryIdp("okta", org)
    org.rate_limit(for_s=30)

    call = asyncio.create_task(idp.create_user(_profile("gus@example.com"), activate=False))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not call.done() and clock.sleepers == 1 and org.served_429 == 1

    clock.advance(30)
    user = await call
    assert org.user("gus@example.com") is not None and user.status is IdpStatus.STAGED
    assert org.served_429 == 1
