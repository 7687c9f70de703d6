"""The store contract, part 4: pausing, resuming and cancelling an import (docs/migration.md),
run against every store idsync ships (fixture `stores`: SQLite, PostgreSQL, memory)."""

from __future__ import annotations

from idsync.domain.models import ImportControl, ImportState, Lane, Reason, Status
from idsync.ports import Stores

from .store_support import T, claim_all, done, row, state_of

PAUSE, RESUME, CANCEL = ImportControl.PAUSE, ImportControl.RESUME, ImportControl.CANCEL


async def _state(stores: Stores, import_id: str) -> ImportState:
    record = await stores.imports.get(import_id)
    assert record is not None
    return record.state


async def test_a_paused_import_is_not_claimed_until_it_is_resumed(stores: Stores) -> None:
    await stores.imports.create("imp", T, "file")
    ids = (await stores.queue.receive([row(str(i), import_id="imp") for i in range(3)] + [row("x")])).ids
    [first] = await claim_all(stores, limit=1)  # in flight when the import is paused
    assert first.key == "0"

    assert await stores.imports.control("imp", PAUSE) is True
    assert await _state(stores, "imp") is ImportState.PAUSED
    assert await state_of(stores, ids[1]) == ("paused", None, 0)
    assert [u.key for u in await claim_all(stores)] == ["x"]  # other work goes on
    # A change that arrives for the paused import waits too; so does any later change of a user
    # who has a paused change (one user's changes keep their order).
    late = (
        await stores.queue.receive(
            [row("3", import_id="imp"), row("1", lane=Lane.INTERACTIVE)], import_id="imp", cursor=4
        )
    ).ids
    assert await state_of(stores, late[0]) == ("paused", None, 0)
    assert await claim_all(stores, owner="w2") == []
    # What was in flight finishes and is counted; the paused import does not complete.
    await stores.queue.write_batch(finished=[done(first, "w1", Status.CREATED)])
    await stores.imports.finish_input("imp")
    record = await stores.imports.get("imp")
    assert record is not None and record.state is ImportState.PAUSED and record.counts["created"] == 1
    assert record.input_cursor == 4

    assert await stores.imports.control("imp", RESUME) is True
    assert await _state(stores, "imp") is ImportState.RUNNING
    resumed = await claim_all(stores, owner="w3")
    assert sorted(u.key for u in resumed) == ["1", "2", "3"]
    assert [c.id for u in resumed if u.key == "1" for c in u.changes] == [ids[1], late[1]]
    await stores.queue.write_batch(finished=[done(u, "w3", Status.CREATED) for u in resumed])
    assert await _state(stores, "imp") is ImportState.COMPLETED


async def test_cancel_ends_unsent_changes_as_cancelled_and_lets_in_flight_ones_finish(stores: Stores) -> None:
    await stores.imports.create("imp", T, "file", total=5)
    ids = (await stores.queue.receive([row(str(i), import_id="imp") for i in range(4)])).ids
    [flying] = await claim_all(stores, limit=1)
    await stores.imports.control("imp", PAUSE)  # a paused import can be cancelled too
    why = Reason(code="import_cancelled", message="cancelled by cli:ann@host")

    assert await stores.imports.control("imp", CANCEL, why) is True

    record = await stores.imports.get("imp")
    assert record is not None and record.state is ImportState.CANCELLED and record.finished_at is not None
    assert (record.counts["received"], record.counts["cancelled"], record.progress().pending) == (4, 3, 1)
    ended = await stores.queue.change_result(ids[2] or 0)
    assert ended is not None
    assert (ended["state"], ended["status"], ended["reason_code"], ended["reason_message"]) == (
        "done",
        "cancelled",
        "import_cancelled",
        why.message,
    )
    assert await claim_all(stores, owner="w2") == []
    await stores.queue.write_batch(finished=[done(flying, "w1", Status.CREATED)])
    late = (await stores.queue.receive([row("4", import_id="imp")], import_id="imp", cursor=5)).ids
    record = await stores.imports.get("imp")
    assert record is not None and record.state is ImportState.CANCELLED  # never completed
    assert (record.counts["created"], record.counts["cancelled"], record.progress().pending) == (1, 4, 0)
    assert await state_of(stores, late[0]) == ("done", "cancelled", 0)
    assert await stores.imports.recount("imp") == {**record.counts, "unchanged": 0}
    cancelled = await stores.imports.results("imp", statuses=[Status.CANCELLED])
    assert [r["key"] for r in cancelled] == ["1", "2", "3", "4"]


async def test_a_control_acts_only_from_the_states_it_applies_to(stores: Stores) -> None:
    await stores.imports.create("imp", T, "file")
    assert await stores.imports.control("imp", RESUME) is False  # running: nothing to resume
    assert await stores.imports.control("imp", PAUSE) is True
    assert await stores.imports.control("imp", PAUSE) is False  # already paused
    assert await stores.imports.control("imp", CANCEL) is True
    for control in ImportControl:
        assert await stores.imports.control("imp", control) is False  # cancelled is final
    assert await _state(stores, "imp") is ImportState.CANCELLED
    await stores.imports.create("done", T, "file")
    await stores.imports.finish_input("done")
    assert await stores.imports.control("done", CANCEL) is False
    assert await stores.imports.control("nope", PAUSE) is False
    assert CANCEL.refusal(ImportState.COMPLETED) == (
        "the import is completed; only a running or paused import can be cancelled"
    )
    assert PAUSE.refusal(ImportState.PAUSED) == "the import is already paused"
    assert RESUME.refusal(ImportState.PAUSED) is None


async def test_a_change_back_in_the_queue_after_a_cancel_ends_cancelled(stores: Stores) -> None:
    """A change in flight at the cancel that fails retryably goes back to the queue; the next
    claim ends it `cancelled` instead of sending it. A retry of the import sends nothing."""
    await stores.imports.create("imp", T, "file")
    ids = (await stores.queue.receive([row("1", import_id="imp"), row("2", import_id="imp")])).ids
    users = {u.key: u for u in await claim_all(stores)}
    assert await stores.imports.control("imp", CANCEL) is True
    await stores.queue.postpone(users["1"], "w1", not_before=0.0)
    await stores.queue.write_batch(
        finished=[done(users["2"], "w1", Status.FAILED, reason=Reason(code="idp_unavailable", message="503"))]
    )

    assert await claim_all(stores, owner="w2") == []
    assert await state_of(stores, ids[0]) == ("done", "cancelled", 1)
    record = await stores.imports.get("imp")
    assert record is not None and record.state is ImportState.CANCELLED
    assert (record.counts["cancelled"], record.counts["failed"], record.progress().pending) == (1, 1, 0)
    assert await stores.imports.requeue_failed("imp") == 0
    assert await _state(stores, "imp") is ImportState.CANCELLED
    assert await claim_all(stores, owner="w3") == []
