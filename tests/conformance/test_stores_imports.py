"""The store contract, part 3: imports (counters kept with the results, input cursor, state,
results and their reasons, requeue), run against every store idsync ships (fixture `stores`)."""

from __future__ import annotations

from idsync.domain.models import ImportState, Lane, Reason, Status
from idsync.domain.records import Finished, Outcome
from idsync.ports import Stores

from .store_support import T, claim_all, done, row

ZERO = dict.fromkeys(("received", *(s.value for s in Status)), 0)


def counts(**non_zero: int) -> dict[str, int]:
    return {**ZERO, **non_zero}


async def test_an_import_is_created_once(stores: Stores) -> None:
    made = await stores.imports.create("imp-1", T, "file", input_name="users.csv")

    assert (made.id, made.tenant, made.origin, made.input_name) == ("imp-1", T, "file", "users.csv")
    assert (made.state, made.total, made.counts, made.input_cursor) == (ImportState.RUNNING, None, ZERO, 0)
    assert (made.input_done, made.rate, made.finished_at) == (False, 0.0, None)
    assert made.started_at == made.updated_at > 0
    again = await stores.imports.create("imp-1", "other", "http", total=40)
    assert (again.tenant, again.origin, again.total, again.started_at) == (T, "file", 40, made.started_at)
    assert (await stores.imports.create("imp-1", T, "file", total=99)).total == 40
    assert await stores.imports.get("imp-1") == again
    assert await stores.imports.get("nope") is None


async def test_recent_imports_newest_first(stores: Stores) -> None:
    for i, tenant in enumerate([T, "beta", T]):
        await stores.imports.create(f"imp-{i}", tenant, "file")

    assert [r.id for r in await stores.imports.recent()] == ["imp-2", "imp-1", "imp-0"]
    assert [r.id for r in await stores.imports.recent(limit=2)] == ["imp-2", "imp-1"]
    assert [r.id for r in await stores.imports.recent(tenant=T)] == ["imp-2", "imp-0"]
    assert await stores.imports.recent(tenant="nobody") == []


async def test_counters_follow_received_and_finished_changes(stores: Stores) -> None:
    await stores.imports.create("imp", T, "file", total=5)
    ids = (
        await stores.queue.receive(
            [
                row("1", import_id="imp"),
                row("2", import_id="imp"),
                row(
                    "3",
                    import_id="imp",
                    status=Status.SKIPPED,
                    reason=Reason(code="external_idp", message="x"),
                ),
                row("4"),  # not part of the import
            ],
            import_id="imp",
            cursor=4,
            unrecorded_unchanged=2,
        )
    ).ids
    record = await stores.imports.get("imp")
    assert record is not None and record.counts == counts(received=5, skipped=1, unchanged=2)
    assert record.input_cursor == 4 and record.state is ImportState.RUNNING

    users = {u.key: u for u in await claim_all(stores)}
    await stores.queue.write_batch(
        finished=[done(users["1"], "w1", Status.CREATED), done(users["4"], "w1", Status.CREATED)]
    )
    await stores.imports.finish_input("imp")
    record = await stores.imports.get("imp")
    assert record is not None and record.input_done and record.state is ImportState.RUNNING
    assert record.counts == counts(received=5, skipped=1, unchanged=2, created=1)

    await stores.queue.write_batch(
        finished=[done(users["2"], "w1", Status.FAILED, reason=Reason(code="c", message="m"))]
    )
    record = await stores.imports.get("imp")
    assert record is not None and record.state is ImportState.COMPLETED and record.finished_at is not None
    assert record.counts == counts(received=5, skipped=1, unchanged=2, created=1, failed=1)
    assert record.progress().done == 5 and record.progress().pending == 0
    # The per-change rows agree with the counters (the two unchanged users have no row).
    assert await stores.imports.recount("imp") == counts(received=3, skipped=1, created=1, failed=1)
    assert await stores.imports.recount("nope") == ZERO
    assert ids[3] is not None


async def test_an_import_of_unchanged_users_only_completes_on_finish(stores: Stores) -> None:
    await stores.imports.create("imp", T, "file")
    await stores.imports.finish_input("imp")
    record = await stores.imports.get("imp")
    assert record is not None and record.state is ImportState.COMPLETED  # nothing received, all done

    await stores.imports.create("imp-2", T, "file")
    await stores.queue.receive([], import_id="imp-2", cursor=3, unrecorded_unchanged=3)
    await stores.imports.finish_input("imp-2")
    record = await stores.imports.get("imp-2")
    assert record is not None and record.state is ImportState.COMPLETED
    assert (record.counts, record.input_cursor) == (counts(received=3, unchanged=3), 3)
    await stores.imports.finish_input("nope")  # an unknown import is no error


async def test_state_and_rate(stores: Stores) -> None:
    await stores.imports.create("imp", T, "http")

    await stores.imports.set_rate("imp", 12.5)
    await stores.imports.set_state("imp", ImportState.CANCELLED)
    record = await stores.imports.get("imp")
    assert record is not None and (record.state, record.rate) == (ImportState.CANCELLED, 12.5)
    assert record.finished_at is not None
    await stores.imports.set_state("imp", ImportState.RUNNING)
    record = await stores.imports.get("imp")
    assert record is not None and (record.state, record.finished_at) == (ImportState.RUNNING, None)


async def test_results_filter_and_page_by_id(stores: Stores) -> None:
    await stores.imports.create("imp", T, "file")
    ids = (
        await stores.queue.receive(
            [row(str(i), import_id="imp", lane=Lane.BULK) for i in range(4)] + [row("other")]
        )
    ).ids
    users = {u.key: u for u in await claim_all(stores)}
    await stores.queue.write_batch(
        finished=[
            done(users["0"], "w1", Status.CREATED, idp_id="00u0"),
            done(users["1"], "w1", Status.FAILED, reason=Reason(code="idp_rejected", message="bad")),
            done(users["2"], "w1", Status.SKIPPED, reason=Reason(code="external_idp", message="sso")),
        ]
    )

    every = await stores.imports.results("imp")
    assert [r["id"] for r in every] == ids[:4]
    first = every[0]
    assert {k: first[k] for k in ("tenant", "source", "key", "op", "state", "status", "idp_id")} == {
        "tenant": T,
        "source": "crm",
        "key": "0",
        "op": "upsert",
        "state": "done",
        "status": "created",
        "idp_id": "00u0",
    }
    assert set(first) == {
        "id", "tenant", "source", "key", "op", "version", "state", "status", "idp_id",
        "reason_code", "reason_message", "payload", "activation_url",
    }  # fmt: skip
    assert every[3]["state"] == "inflight" and every[3]["status"] is None
    problems = await stores.imports.results("imp", statuses=[Status.FAILED, Status.SKIPPED])
    assert [(r["key"], r["reason_code"]) for r in problems] == [("1", "idp_rejected"), ("2", "external_idp")]
    assert [r["key"] for r in await stores.imports.results("imp", after_id=ids[1] or 0, limit=1)] == ["2"]
    assert await stores.imports.results("nope") == []


async def test_reason_summary_counts_failed_and_skipped_by_reason(stores: Stores) -> None:
    await stores.imports.create("imp", T, "file")
    taken = Reason(code="login_taken", message="login b@x.io is taken")
    await stores.queue.receive(
        [
            row("1", import_id="imp", status=Status.FAILED, reason=taken),
            row(
                "2",
                import_id="imp",
                status=Status.FAILED,
                reason=Reason(code="login_taken", message="login a@x.io is taken"),
            ),
            row("3", import_id="imp", status=Status.SKIPPED, reason=Reason(code="sync_off", message="off")),
            row("4", import_id="imp", status=Status.UNCHANGED),
            row("5", import_id="imp", status=Status.FAILED),
            row("6", import_id="imp", status=Status.FAILED, reason=taken),
        ]
    )

    summary = await stores.imports.reason_summary("imp")

    assert summary[0] == ("failed", "login_taken", 3, "login a@x.io is taken")  # the smallest example
    assert sorted(summary[1:]) == [("failed", "", 1, ""), ("skipped", "sync_off", 1, "off")]
    assert await stores.imports.reason_summary("nope") == []


async def test_requeue_failed_puts_failed_changes_back(stores: Stores) -> None:
    await stores.imports.create("imp", T, "file")
    ids = (await stores.queue.receive([row(str(i), import_id="imp") for i in range(3)])).ids
    users = {u.key: u for u in await claim_all(stores)}
    down = Reason(code="idp_unavailable", message="503")
    await stores.queue.write_batch(
        finished=[
            done(users["0"], "w1", Status.FAILED, reason=down),
            done(users["1"], "w1", Status.FAILED, reason=Reason(code="login_taken", message="held")),
            done(users["2"], "w1", Status.CREATED),
        ]
    )
    await stores.imports.finish_input("imp")
    record = await stores.imports.get("imp")
    assert record is not None and record.state is ImportState.COMPLETED

    assert await stores.imports.requeue_failed("imp", except_codes=["login_taken"]) == 1

    record = await stores.imports.get("imp")
    assert record is not None and (record.state, record.finished_at) == (ImportState.RUNNING, None)
    assert record.counts == counts(received=3, failed=1, created=1)
    again = await stores.queue.change_result(ids[0] or 0)
    assert again is not None
    assert (again["state"], again["status"], again["reason_code"], again["attempts"]) == (
        "pending",
        None,
        None,
        0,
    )
    [retry] = await claim_all(stores, owner="w2")
    assert retry.key == "0"
    await stores.queue.write_batch(
        finished=[Finished(retry.user_key, "w2", [Outcome(ids[0] or 0, Status.CREATED, import_id="imp")])]
    )
    record = await stores.imports.get("imp")
    assert record is not None and record.state is ImportState.COMPLETED
    assert record.counts == counts(received=3, failed=1, created=2)
    assert await stores.imports.requeue_failed("imp") == 1  # without exceptions: login_taken too
    assert await stores.imports.requeue_failed("nope") == 0


async def test_the_idp_calls_of_an_import_are_counted_where_they_are_written(stores: Stores) -> None:
    await stores.imports.create("imp", T, "kafka")
    await stores.imports.create("other", T, "http")
    await stores.queue.write_batch(api_calls={"imp": 3, "other": 0, "unknown-import": 7})
    await stores.queue.write_batch(api_calls={"imp": 2})
    await stores.imports.add_api_calls("other", 4)  # e.g. the --link-existing listing

    imp, other = await stores.imports.get("imp"), await stores.imports.get("other")
    assert imp is not None and other is not None
    assert (imp.api_calls, other.api_calls) == (5, 4)
    assert imp.progress().api_calls == 5
    assert await stores.imports.get("unknown-import") is None
