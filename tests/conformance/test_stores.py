"""The store contract, part 1: identity links. The same tests run against every store idsync
ships (SQLite, PostgreSQL, the in-memory one of idsync.testing; fixture `stores`), through the
async ports the engine uses, so an engine test on the memory store proves what it would prove on
SQL. Part 2 (the change queue) and part 3 (imports) are test_stores_queue.py and
test_stores_imports.py.
"""

from __future__ import annotations

import pytest

from idsync.domain.links import IdpStatus, Link, PendingOp
from idsync.domain.models import Status
from idsync.errors import LinkConflict
from idsync.ports import IdpUser, Stores

from .store_support import T, claim_all, done, link, row, state_of


async def test_a_link_reads_back_as_written(stores: Stores) -> None:
    written = link(
        "crm",
        "1",
        "00uA",
        "ann@example.com",
        profile_hash="h1",
        idp_status=IdpStatus.PROVISIONED,
        version=7,
        pending_op=PendingOp.ACTIVATE,
        last_error_code="idp_unavailable",
        last_error_message="down",
    )
    await stores.links.save(written)

    assert await stores.links.get(T, "crm", "1") == written
    assert await stores.links.get(T, "crm", "2") is None
    many = await stores.links.get_many([(T, "crm", "1"), (T, "crm", "2"), (T, "crm", "1")])
    assert many == {(T, "crm", "1"): written}
    assert await stores.links.get_many([]) == {}

    changed = link("crm", "1", "00uA", "ann.lee@example.com", idp_status=IdpStatus.ACTIVE, version=8)
    await stores.links.save(changed)
    assert await stores.links.get(T, "crm", "1") == changed


@pytest.mark.parametrize(
    "other",
    [("acme", "panel", "p-9"), ("acme", "crm", "2"), ("beta", "crm", "1")],
    ids=["other-source", "other-key", "other-tenant"],
)
async def test_one_account_one_identity(stores: Stores, other: tuple[str, str, str]) -> None:
    await stores.links.save(link("crm", "1", "00uA", "ann@example.com"))
    tenant, source, key = other

    with pytest.raises(LinkConflict, match="00uA"):
        await stores.links.save(link(source, key, "00uA", "ann@example.com", tenant=tenant))

    assert await stores.links.get(tenant, source, key) is None
    holder = await stores.links.holder_of("okta", "00uA")
    assert holder is not None and (holder.tenant, holder.identity) == (T, "crm/1")
    assert await stores.links.holder_of("okta", "00uNOBODY") is None
    assert await stores.links.holder_of("other-idp", "00uA") is None  # accounts are per IdP


async def test_an_account_given_up_can_be_taken(stores: Stores) -> None:
    await stores.links.save(link("crm", "1", "00uA", "ann@example.com"))
    await stores.links.save(link("crm", "1", None))
    await stores.links.save(link("crm", "2", "00uA", "ann@example.com"))

    holder = await stores.links.holder_of("okta", "00uA")
    assert holder is not None and holder.identity == "crm/2"


async def test_a_refused_link_writes_nothing_of_its_batch(stores: Stores) -> None:
    """write_batch is one transaction: a LinkConflict in it leaves links, results and claims alone."""
    await stores.links.save(link("crm", "1", "00uA", "ann@example.com"))
    [cid] = (await stores.queue.receive([row("2")])).ids
    [user] = await claim_all(stores)

    with pytest.raises(LinkConflict):
        await stores.queue.write_batch(
            saved_links=[
                link("crm", "3", "00uC", "cy@example.com"),
                link("crm", "2", "00uA", "bo@example.com"),
            ],
            finished=[done(user, "w1", Status.CREATED)],
        )

    assert await stores.links.get(T, "crm", "3") is None
    assert await stores.links.get(T, "crm", "2") is None
    assert await state_of(stores, cid) == ("inflight", None, 0)
    assert await claim_all(stores, owner="w2") == []  # still claimed by w1
    # The same writes without the refused link go through.
    await stores.queue.write_batch(
        saved_links=[link("crm", "3", "00uC", "cy@example.com")], finished=[done(user, "w1", Status.CREATED)]
    )
    assert (await stores.links.get(T, "crm", "3")) is not None
    assert await state_of(stores, cid) == ("done", "created", 0)


async def test_an_identity_shares_an_account_through_its_holder(stores: Stores) -> None:
    """merge_sources: the sharer holds no account itself; it reads its holder's, and each learns
    the other's source."""
    await stores.links.save(
        link("crm", "1", "00uA", "ann@example.com", idp_status=IdpStatus.ACTIVE, profile_hash="h-crm")
    )
    await stores.links.save(
        link(
            "panel",
            "p1",
            "00uA",
            "ann@example.com",
            via=("crm", "1"),
            idp_status=IdpStatus.ACTIVE,
            profile_hash="h-panel",
            version=3,
        )
    )

    shared = await stores.links.get(T, "panel", "p1")
    assert shared is not None
    assert (shared.idp_id, shared.login, shared.idp_status) == ("00uA", "ann@example.com", IdpStatus.ACTIVE)
    assert (shared.via, shared.sharers, shared.profile_hash, shared.version) == (
        ("crm", "1"),
        ("crm",),
        "h-panel",
        3,
    )
    holder = await stores.links.get(T, "crm", "1")
    assert holder is not None and holder.sharers == ("panel",) and holder.via is None
    by_account = await stores.links.holder_of("okta", "00uA")
    assert by_account is not None and by_account.identity == "crm/1" and by_account.sharers == ("panel",)
    # The sharer is counted and listed by its own row, which holds no status.
    assert await stores.links.count(T, [IdpStatus.ACTIVE]) == 1
    assert [lk.identity for lk in await stores.links.by_status(T, [IdpStatus.ACTIVE])] == ["crm/1"]
    assert await stores.links.count(T) == 2


async def test_what_a_sharer_learns_of_the_account_reaches_its_holder(stores: Stores) -> None:
    await stores.links.save(link("crm", "1", "00uA", "ann@example.com", idp_status=IdpStatus.ACTIVE))
    await stores.links.save(
        link("panel", "p1", "00uA", "ann@example.com", via=("crm", "1"), idp_status=IdpStatus.ACTIVE)
    )

    await stores.links.save(
        link(
            "panel", "p1", "00uA", "Ann.Lee@example.com", via=("crm", "1"), idp_status=IdpStatus.DEPROVISIONED
        )
    )

    holder = await stores.links.get(T, "crm", "1")
    assert holder is not None
    assert (holder.login, holder.idp_status) == ("Ann.Lee@example.com", IdpStatus.DEPROVISIONED)
    found = await stores.links.holder_by_login("okta", "ann.lee@EXAMPLE.com", besides=(T, "x", "y"))
    assert found is not None and found.identity == "crm/1"


async def test_a_holder_hands_a_shared_account_over(stores: Stores) -> None:
    """The first sharer (by source, key) becomes the holder, the others follow it; the one that
    left holds nothing."""
    await stores.links.save(link("crm", "1", "00uA", "ann@example.com", idp_status=IdpStatus.ACTIVE))
    for source in ("web", "panel"):
        await stores.links.save(
            link(source, "s1", "00uA", "ann@example.com", via=("crm", "1"), idp_status=IdpStatus.ACTIVE)
        )

    await stores.links.save(link("crm", "1", None, None, handover=True, version=9))

    left = await stores.links.get(T, "crm", "1")
    assert left is not None and (left.idp_id, left.login, left.via, left.version) == (None, None, None, 9)
    holder = await stores.links.holder_of("okta", "00uA")
    assert holder is not None and holder.identity == "panel/s1" and holder.via is None
    assert (holder.login, holder.idp_status, holder.sharers) == (
        "ann@example.com",
        IdpStatus.ACTIVE,
        ("web",),
    )
    follower = await stores.links.get(T, "web", "s1")
    assert follower is not None and follower.via == ("panel", "s1") and follower.idp_id == "00uA"
    assert set(follower.sharers) == {"panel"}


async def test_a_sharer_of_an_account_given_up_holds_nothing(stores: Stores) -> None:
    await stores.links.save(link("crm", "1", "00uA", "ann@example.com"))
    await stores.links.save(link("panel", "p1", "00uA", "ann@example.com", via=("crm", "1")))

    await stores.links.save(link("crm", "1", None, None))  # given up without a handover

    orphan = await stores.links.get(T, "panel", "p1")
    assert orphan is not None and (orphan.idp_id, orphan.via, orphan.sharers) == (None, None, ())


async def test_who_holds_a_login_as_the_idp_compares_it(stores: Stores) -> None:
    """Case and diacritics aside; the asker itself, sharers and links without an account are not
    holders; a create in flight (its write-ahead intent) is, after any account holder."""
    await stores.links.save(link("crm", "0", None, "zoe@example.com"))  # no account, nothing pending
    await stores.links.save(link("crm", "1", None, "Zoë@Example.com", pending_op=PendingOp.CREATE))
    me = (T, "crm", "9")
    creating = await stores.links.holder_by_login("okta", "zoe@example.com", besides=me)
    assert creating is not None and creating.identity == "crm/1" and creating.pending_op is PendingOp.CREATE
    assert await stores.links.holder_by_login("okta", "zoe@example.com", besides=(T, "crm", "1")) is None
    assert await stores.links.holder_by_login("scim", "zoe@example.com", besides=me) is None

    await stores.links.save(link("hr", "7", "00uZ", "ZOE@example.com", tenant="beta"))
    await stores.links.save(link("panel", "p", "00uZ", "zoe@example.com", tenant="beta", via=("hr", "7")))
    holder = await stores.links.holder_by_login("okta", "zoë@example.com", besides=me)
    assert holder is not None and (holder.tenant, holder.identity, holder.idp_id) == ("beta", "hr/7", "00uZ")
    assert holder.sharers == ("panel",)
    assert await stores.links.holder_by_login("okta", "nobody@example.com", besides=me) is None


async def test_the_orgs_listed_accounts_by_login(stores: Stores) -> None:
    users = [
        IdpUser("00u1", "ann@example.com", IdpStatus.ACTIVE, {"login": "ann@example.com", "title": "Lead"}),
        IdpUser("00u2", "Bö@example.com", IdpStatus.DEPROVISIONED, {"login": "Bö@example.com"}),
    ]
    assert await stores.links.save_listed("okta", users) == 2

    ann = await stores.links.listed("okta", "ANN@example.com")
    assert ann is not None and (ann.id, ann.login, ann.status) == (
        "00u1",
        "ann@example.com",
        IdpStatus.ACTIVE,
    )
    assert dict(ann.profile) == {"login": "ann@example.com", "title": "Lead"}
    bo = await stores.links.listed("okta", "bo@EXAMPLE.com")
    assert bo is not None and bo.id == "00u2"
    assert await stores.links.listed("scim", "ann@example.com") is None

    await stores.links.save_listed("okta", [IdpUser("00u3", "ann@example.com", IdpStatus.STAGED)])
    again = await stores.links.listed("okta", "ann@example.com")
    assert again is not None and (again.id, again.status) == ("00u3", IdpStatus.STAGED)
    await stores.links.forget_listed("okta", "Ann@Example.com")
    assert await stores.links.listed("okta", "ann@example.com") is None
    assert await stores.links.listed("okta", "bö@example.com") is not None
    assert await stores.links.save_listed("okta", []) == 0


async def test_login_in_use_is_the_holder_first_then_the_listed_account(stores: Stores) -> None:
    """The one lookup before a create: an identity holding the login wins over the org's listing,
    which answers only when nobody holds the login."""
    me = (T, "crm", "9")
    await stores.links.save_listed("okta", [IdpUser("00uL", "Lou@example.com", IdpStatus.ACTIVE)])
    assert await stores.links.login_in_use("okta", "nobody@example.com", besides=me) == (None, None)

    holder, listed = await stores.links.login_in_use("okta", "LOU@example.com", besides=me)
    assert holder is None and listed is not None and (listed.id, listed.login) == ("00uL", "Lou@example.com")

    await stores.links.save(link("hr", "4", "00uL", "lou@example.com"))
    holder, listed = await stores.links.login_in_use("okta", "lou@example.com", besides=me)
    assert listed is None and holder is not None and (holder.identity, holder.idp_id) == ("hr/4", "00uL")
    # The asker's own link is not a holder: the listing answers again.
    holder, listed = await stores.links.login_in_use("okta", "lou@example.com", besides=(T, "hr", "4"))
    assert holder is None and listed is not None and listed.id == "00uL"


async def test_links_by_status_page_in_key_order(stores: Stores) -> None:
    for source, key, status in [
        ("crm", "3", IdpStatus.STAGED),
        ("crm", "1", IdpStatus.STAGED),
        ("web", "1", IdpStatus.STAGED),
        ("crm", "2", IdpStatus.ACTIVE),
        ("crm", "4", IdpStatus.DEPROVISIONED),
    ]:
        await stores.links.save(
            link(source, key, f"00u{source}{key}", f"{source}{key}@x.io", idp_status=status)
        )
    await stores.links.save(link("crm", "5", "00uother", "o@x.io", tenant="beta"))

    def ids(links: list[Link]) -> list[str]:
        return [lk.identity for lk in links]

    staged = [IdpStatus.STAGED]
    assert ids(await stores.links.by_status(T, staged)) == ["crm/1", "crm/3", "web/1"]
    assert ids(await stores.links.by_status(T, staged, limit=2)) == ["crm/1", "crm/3"]
    assert ids(await stores.links.by_status(T, staged, after=("crm", "3"))) == ["web/1"]
    assert ids(await stores.links.by_status(T, staged, source="web")) == ["web/1"]
    both = [IdpStatus.STAGED, IdpStatus.ACTIVE]
    assert ids(await stores.links.by_status(T, both)) == ["crm/1", "crm/2", "crm/3", "web/1"]
    assert await stores.links.count(T) == 5
    assert await stores.links.count(T, both) == 4
    assert await stores.links.count(T, staged, source="crm") == 2
    assert await stores.links.count("beta") == 1
    assert await stores.links.count("nobody") == 0
