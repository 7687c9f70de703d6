"""The connector contract, part 1: what a connector does when the IdP says yes.

Each test drives the connector and then reads the server's state through the backend (never
through the connector under test), so it fails if the connector only pretends.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from idsync.domain.links import IdpStatus
from idsync.errors import Conflict, IllegalTransition
from idsync.ports import IdentityProvider

from .backends import Backend, profile


async def test_create_stages_the_user_without_activating(
    connector: IdentityProvider, backend: Backend
) -> None:
    user = await connector.create_user(profile("ann.lee@example.com", title="Analyst"), activate=False)

    held = backend.user("ann.lee@example.com")
    assert held is not None
    assert (held.id, held.login, held.active) == (user.id, "ann.lee@example.com", False)
    assert (held.first_name, held.last_name, held.email, held.title) == (
        "Ann",
        "Tester",
        "ann.lee@example.com",
        "Analyst",
    )
    assert user.status is IdpStatus.STAGED
    assert user.login == "ann.lee@example.com"


async def test_create_with_activation_makes_an_active_user(
    connector: IdentityProvider, backend: Backend
) -> None:
    user = await connector.create_user(profile("bo.chan@example.com"), activate=True)

    held = backend.user("bo.chan@example.com")
    assert held is not None and held.active and held.id == user.id
    assert user.status.is_active


async def test_create_is_idempotent_by_login(connector: IdentityProvider, backend: Backend) -> None:
    """A second create of the same login (any case) is a Conflict and leaves one account, which
    find_user returns: the engine adopts it instead of creating a duplicate."""
    first = await connector.create_user(profile("cy.dunn@example.com"), activate=False)

    with pytest.raises(Conflict):
        await connector.create_user(profile("Cy.Dunn@Example.com"), activate=False)

    assert backend.logins() == ["cy.dunn@example.com"]
    found = await connector.find_user("CY.DUNN@example.com")
    assert found is not None and found.id == first.id


async def test_update_changes_the_profile_at_the_idp(connector: IdentityProvider, backend: Backend) -> None:
    user = await connector.create_user(profile("di.ek@example.com", title="Intern"), activate=False)

    updated = await connector.update_user(user.id, {"firstName": "Diana", "title": "Engineer"})

    held = backend.user("di.ek@example.com")
    assert held is not None
    assert (held.first_name, held.last_name, held.title) == ("Diana", "Tester", "Engineer")
    assert updated.id == user.id and updated.login == "di.ek@example.com"
    assert updated.profile["firstName"] == "Diana" and updated.profile["title"] == "Engineer"
    assert updated.status is IdpStatus.STAGED  # an update never activates


async def test_update_with_a_new_login_renames_the_account(
    connector: IdentityProvider, backend: Backend
) -> None:
    user = await connector.create_user(profile("ed.fox@example.com"), activate=True)

    renamed = await connector.update_user(
        user.id, {"login": "edward.fox@example.com", "email": "edward.fox@example.com"}
    )

    assert backend.logins() == ["edward.fox@example.com"]
    held = backend.user("edward.fox@example.com")
    assert held is not None and held.id == user.id and held.email == "edward.fox@example.com"
    assert renamed.login == "edward.fox@example.com"
    assert await connector.find_user("ed.fox@example.com") is None
    found = await connector.find_user("edward.fox@example.com")
    assert found is not None and found.id == user.id


async def test_profile_reads_back_unchanged(connector: IdentityProvider) -> None:
    """What was written reads back equal, attribute by attribute: the engine compares the two to
    report `unchanged` and to skip the update call."""
    written = profile("fay.gill@example.com", title="Lead")
    user = await connector.create_user(written, activate=False)

    by_login = await connector.find_user("fay.gill@example.com")
    by_id = await connector.get_user(user.id)

    for read in (by_login, by_id):
        assert read is not None and read.id == user.id
        assert {k: read.profile.get(k) for k in written} == written


async def test_activate_and_deactivate_follow_the_lifecycle(
    connector: IdentityProvider, backend: Backend
) -> None:
    user = await connector.create_user(profile("gus.hale@example.com"), activate=False)

    await connector.activate_user(user.id, send_email=False)
    held = backend.user("gus.hale@example.com")
    assert held is not None and held.active
    read = await connector.get_user(user.id)
    assert read is not None and read.status.is_active

    await connector.deactivate_user(user.id)
    held = backend.user("gus.hale@example.com")
    assert held is not None and not held.active
    read = await connector.get_user(user.id)
    assert read is not None and not read.status.is_active and read.status.activatable

    await connector.deactivate_user(user.id)  # deactivating an inactive user is no error
    await connector.activate_user(user.id, send_email=False)  # a deactivated user can come back
    held = backend.user("gus.hale@example.com")
    assert held is not None and held.active


async def test_activating_an_active_user_leaves_it_active(
    connector: IdentityProvider, backend: Backend
) -> None:
    """Either no error or IllegalTransition (Okta's answer); the engine handles both alike."""
    user = await connector.create_user(profile("hal.ito@example.com"), activate=True)

    with contextlib.suppress(IllegalTransition):
        await connector.activate_user(user.id, send_email=False)

    held = backend.user("hal.ito@example.com")
    assert held is not None and held.active


@pytest.mark.parametrize("deactivate_first", [False, True])
async def test_delete_removes_the_account(
    connector: IdentityProvider, backend: Backend, deactivate_first: bool
) -> None:
    keep = await connector.create_user(profile("ida.jones@example.com"), activate=True)
    gone = await connector.create_user(profile("jo.kim@example.com"), activate=True)
    if deactivate_first:
        await connector.deactivate_user(gone.id)

    await connector.delete_user(gone.id, deprovisioned=deactivate_first)

    assert backend.logins() == ["ida.jones@example.com"]
    assert await connector.get_user(gone.id) is None
    assert await connector.get_user(keep.id) is not None
    await connector.delete_user(gone.id, deprovisioned=True)  # gone already: no error


async def test_list_users_pages_through_everyone(connector: IdentityProvider, backend: Backend) -> None:
    logins = [f"user{i}@example.com" for i in range(5)]
    ids = [(await connector.create_user(profile(login), activate=True)).id for login in logins]
    await connector.deactivate_user(ids[0])  # deactivated users are listed too

    listed = [u async for u in connector.list_users(page_size=2)]

    assert sorted(u.login for u in listed) == logins == backend.logins()
    assert sorted(u.id for u in listed) == sorted(ids)


async def test_concurrent_creates_each_get_their_own_account(
    connector: IdentityProvider, backend: Backend
) -> None:
    """What the worker does: many users at once. Each caller gets the id of its own login."""
    logins = [f"crowd{i:02}@example.com" for i in range(20)]

    users = await asyncio.gather(
        *(connector.create_user(profile(login), activate=i % 2 == 0) for i, login in enumerate(logins))
    )

    assert backend.logins() == logins
    for i, (login, user) in enumerate(zip(logins, users, strict=True)):
        held = backend.user(login)
        assert held is not None and held.id == user.id and user.login == login
        assert held.active is (i % 2 == 0)
