"""The store contract, part 2: the change queue (receive, claim, write_batch, postpone, leases),
run against every store idsync ships (fixture `stores`: SQLite, PostgreSQL, memory)."""

from __future__ import annotations

from idsync.domain.links import IdpStatus, PendingOp
from idsync.domain.models import Lane, Reason, Status, user_key
from idsync.domain.records import Finished, Outcome
from idsync.ports import Stores

from .store_support import T, claim_all, done, link, row, state_of


async def test_receive_stores_every_change_and_drops_redeliveries(stores: Stores) -> None:
    first = await stores.queue.receive([row("1", origin_ref="k:0:1"), row("2"), row("3", origin_ref="k:0:3")])
    again = await stores.queue.receive([row("3", origin_ref="k:0:3"), row("4", origin_ref="k:0:4")])

    a, b, c = first.ids
    assert a is not None and b is not None and c is not None and a < b < c
    assert again.ids[0] is None and again.ids[1] is not None and again.ids[1] > c
    assert first.tripped == [] and again.tripped == []
    stored = await stores.queue.change_result(a)
    assert stored is not None
    assert {k: stored[k] for k in ("tenant", "source", "key", "op", "state", "status", "attempts")} == {
        "tenant": T,
        "source": "crm",
        "key": "1",
        "op": "upsert",
        "state": "pending",
        "status": None,
        "attempts": 0,
    }
    assert (stored["payload"], stored["origin_ref"], stored["message_id"]) == ('{"key": "1"}', "k:0:1", "m-1")
    assert stored["user_key"] == user_key(T, "crm", "1") and int(str(stored["lane"])) == int(Lane.BULK)
    assert await stores.queue.change_result(c + 1000) is None
    assert await stores.queue.queue_depth() == {Lane.INTERACTIVE: 0, Lane.BULK: 4}


async def test_a_change_decided_at_once_is_stored_done(stores: Stores) -> None:
    reason = Reason(code="invalid", message="user.email: is not an e-mail address")
    ids = (
        await stores.queue.receive(
            [
                row("1", status=Status.FAILED, reason=reason),
                row("2", status=Status.UNCHANGED, idp_id="00u2"),
                row("3"),
            ]
        )
    ).ids

    failed = await stores.queue.change_result(ids[0] or 0)
    assert failed is not None and (failed["state"], failed["status"]) == ("done", "failed")
    assert (failed["reason_code"], failed["reason_message"]) == ("invalid", reason.message)
    unchanged = await stores.queue.change_result(ids[1] or 0)
    assert unchanged is not None and (unchanged["status"], unchanged["idp_id"]) == ("unchanged", "00u2")
    assert [u.key for u in await claim_all(stores)] == ["3"]
    keys = [user_key(T, "crm", k) for k in "123"]
    assert await stores.queue.open_user_keys(keys) == {keys[2]}


async def test_open_users_are_those_with_a_change_not_done(stores: Stores) -> None:
    await stores.queue.receive([row("1"), row("2", status=Status.UNCHANGED), row("3", lane=Lane.INTERACTIVE)])
    keys = [user_key(T, "crm", k) for k in ("1", "2", "3", "4")]
    assert await stores.queue.open_user_keys(keys) == {keys[0], keys[2]}

    [u3, u1] = await claim_all(stores)
    assert (u3.key, u1.key) == ("3", "1")
    assert await stores.queue.open_user_keys(keys) == {keys[0], keys[2]}  # in progress is open
    await stores.queue.write_batch(finished=[done(u1, "w1", Status.CREATED)])
    assert await stores.queue.open_user_keys(keys) == {keys[2]}
    assert await stores.queue.open_user_keys([]) == set()


async def test_claim_takes_the_interactive_lane_first_with_all_of_a_users_changes(stores: Stores) -> None:
    await stores.links.save(link("crm", "b1", "00uB1", "b1@example.com", idp_status=IdpStatus.ACTIVE))
    ids = (
        await stores.queue.receive(
            [
                row("b1", version=1),
                row("b2"),
                row("i1", lane=Lane.INTERACTIVE),
                row("b1", lane=Lane.INTERACTIVE, op="deactivate", version=2),
            ]
        )
    ).ids

    users = await claim_all(stores)

    assert [u.key for u in users] == ["i1", "b1", "b2"]
    b1 = users[1]
    assert [c.id for c in b1.changes] == [ids[0], ids[3]]  # both lanes, arrival order
    assert [(c.op, c.version, c.lane) for c in b1.changes] == [
        ("upsert", 1, Lane.BULK),
        ("deactivate", 2, Lane.INTERACTIVE),
    ]
    assert b1.lane is Lane.INTERACTIVE and b1.user_key == user_key(T, "crm", "b1")
    assert b1.link is not None and b1.link.idp_id == "00uB1"
    assert users[0].link is None and users[2].link is None
    assert b1.changes[0].payload == '{"key": "b1"}' and b1.changes[0].message_id == "m-b1"
    assert (b1.changes[0].attempts, b1.changes[0].origin, b1.changes[0].import_id) == (0, "http", None)
    assert await stores.queue.pending_by_lane() == {Lane.INTERACTIVE: 0, Lane.BULK: 0}
    assert await stores.queue.queue_depth() == {Lane.INTERACTIVE: 2, Lane.BULK: 2}
    assert await claim_all(stores, owner="w2") == []


async def test_claim_keeps_to_its_limits_and_lanes(stores: Stores) -> None:
    await stores.queue.receive(
        [row(f"b{i}") for i in range(4)] + [row(f"i{i}", lane=Lane.INTERACTIVE) for i in range(3)]
    )

    bulk_only = await claim_all(stores, lanes=(Lane.BULK,), limit=2)
    assert [u.key for u in bulk_only] == ["b0", "b1"]
    mixed = await claim_all(stores, owner="w2", limit=3, lane_limits={Lane.INTERACTIVE: 1, Lane.BULK: 5})
    assert [u.key for u in mixed] == ["i0", "b2", "b3"]
    rest = await claim_all(stores, owner="w3", lane_limits={Lane.INTERACTIVE: 0, Lane.BULK: 5})
    assert rest == []
    assert await stores.queue.pending_by_lane() == {Lane.INTERACTIVE: 2, Lane.BULK: 0}


async def test_the_backlog_is_counted_up_to_a_cap_a_lane(stores: Stores) -> None:
    await stores.queue.receive(
        [row(f"b{i}") for i in range(5)] + [row(f"i{i}", lane=Lane.INTERACTIVE) for i in range(2)]
    )
    assert await stores.queue.pending_by_lane() == {Lane.INTERACTIVE: 2, Lane.BULK: 5}
    assert await stores.queue.pending_by_lane(cap=3) == {Lane.INTERACTIVE: 2, Lane.BULK: 3}
    await claim_all(stores, lanes=(Lane.BULK,), limit=4)
    assert await stores.queue.pending_by_lane(cap=3) == {Lane.INTERACTIVE: 2, Lane.BULK: 1}


async def test_a_change_not_due_yet_waits(stores: Stores) -> None:
    await stores.queue.receive([row("1"), row("2")])
    [u1, u2] = await claim_all(stores, now=1000.0)
    await stores.queue.postpone(u1, "w1", not_before=1030.0)
    await stores.queue.postpone(u2, "w1", not_before=1010.0, count_attempt=False)

    assert await stores.queue.next_due() == 1010.0
    assert await claim_all(stores, now=1005.0) == []
    [again] = await claim_all(stores, now=1010.0)
    assert again.key == "2" and again.changes[0].attempts == 0
    assert await stores.queue.next_due() == 1030.0
    [later] = await claim_all(stores, now=1030.0)
    assert later.key == "1" and later.changes[0].attempts == 1
    assert await stores.queue.next_due() is None


async def test_postpone_puts_back_only_what_it_names_and_saves_the_link(stores: Stores) -> None:
    ids = (await stores.queue.receive([row("1", version=1), row("1", op="deactivate", version=2)])).ids
    [user] = await claim_all(stores)
    intent = link("crm", "1", None, "ann@example.com", pending_op=PendingOp.CREATE)

    await stores.queue.write_batch(
        finished=[Finished(user.user_key, "w1", [Outcome(user.changes[0].id, Status.CREATED)], release=False)]
    )
    await stores.queue.postpone(user, "w1", not_before=0.0, link=intent, only=user.changes[1:])

    assert await state_of(stores, ids[0]) == ("done", "created", 0)
    assert await state_of(stores, ids[1]) == ("pending", None, 1)
    assert await stores.links.get(T, "crm", "1") == intent
    [again] = await claim_all(stores, owner="w2")  # released: another worker may take it
    assert [c.id for c in again.changes] == [ids[1]] and again.link == intent


async def test_write_batch_records_results_links_and_releases(stores: Stores) -> None:
    ids = (await stores.queue.receive([row("1"), row("2")])).ids
    u1, u2 = await claim_all(stores)
    made = link("crm", "1", "00u1", "ann@example.com", idp_status=IdpStatus.PROVISIONED)

    await stores.queue.write_batch(
        saved_links=[link("crm", "1", None, "ann@example.com", pending_op=PendingOp.CREATE), made],
        finished=[
            done(u1, "w1", Status.CREATED, idp_id="00u1", activation_url="https://o/tokens/t/verify"),
            done(u2, "w1", Status.FAILED, reason=Reason(code="login_taken", message="held"), release=False),
        ],
    )

    assert await stores.links.get(T, "crm", "1") == made  # the last link of a key wins
    r1 = await stores.queue.change_result(ids[0] or 0)
    assert r1 is not None and (r1["state"], r1["status"], r1["idp_id"]) == ("done", "created", "00u1")
    assert r1["activation_url"] == "https://o/tokens/t/verify" and r1["finished_at"] is not None
    r2 = await stores.queue.change_result(ids[1] or 0)
    assert r2 is not None and (r2["status"], r2["reason_code"], r2["reason_message"]) == (
        "failed",
        "login_taken",
        "held",
    )
    await stores.queue.receive([row("1"), row("2")])
    assert [u.key for u in await claim_all(stores, owner="w2")] == ["1"]  # 2 is still held by w1
    await stores.queue.write_batch(finished=[Finished(u2.user_key, "w1", [])])
    assert [u.key for u in await claim_all(stores, owner="w2")] == ["2"]
    await stores.queue.write_batch()  # nothing to write is no error


async def test_a_release_by_another_owner_is_ignored(stores: Stores) -> None:
    await stores.queue.receive([row("1"), row("2")])
    u1, u2 = await claim_all(stores)
    await stores.queue.write_batch(finished=[Finished(u1.user_key, "intruder", [])])
    await stores.queue.postpone(u2, "intruder", not_before=0.0)

    await stores.queue.receive([row("1")])
    assert await claim_all(stores, owner="w2") == []  # 1 held by w1; 2 held by w1 though pending


async def test_expired_leases_are_taken_back_with_an_attempt_counted(stores: Stores) -> None:
    ids = (await stores.queue.receive([row("1"), row("2"), row("3")])).ids
    await claim_all(stores, owner="dead", now=1000.0, limit=2, lease_s=30.0)
    await claim_all(stores, owner="alive", now=1000.0, lease_s=30.0)

    assert await stores.queue.renew_leases("alive", 30.0, 1020.0) == 1
    assert await stores.queue.renew_leases("nobody", 30.0, 1020.0) == 0
    assert await stores.queue.release_expired(1040.0) == 2

    assert [await state_of(stores, i) for i in ids] == [
        ("pending", None, 1),
        ("pending", None, 1),
        ("inflight", None, 0),
    ]
    taken = await claim_all(stores, owner="w2", now=1040.0)
    assert [(u.key, u.changes[0].attempts) for u in taken] == [("1", 1), ("2", 1)]
    assert await stores.queue.release_expired(owner="alive") == 1  # all of an owner's claims
    assert await state_of(stores, ids[2]) == ("pending", None, 1)
    assert await stores.queue.release_expired(1040.0) == 0
