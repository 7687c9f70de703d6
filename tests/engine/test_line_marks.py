"""A re-import passes over the lines it proved unchanged before (domain/marks.py), and over no
other: a link written since, a user with another change waiting (in the queue, or further up the
same batch), a changed policy and a shared account all send the line through the planner."""

from __future__ import annotations

import json
from dataclasses import replace

from idsync.domain.links import IdpStatus
from idsync.domain.models import Lane
from idsync.domain.policy import ExistingAccount, SyncMode
from idsync.domain.records import received_from_text
from idsync.engine.ingest import Defaults, batches

from .support import T, World, drain, upsert, world

ANN = upsert("1", "ann.lee@example.com", title="Analyst")
BO = upsert("2", "bo.chan@example.com")
CY = upsert("3", "cy.diaz@example.com", firstName="Cýrus", lastName="Díaz")  # non-ASCII names
LINES = [json.dumps(m) for m in (ANN, BO, CY)]


async def file_import(w: World, lines: list[str], import_id: str, *, batch: int = 1000) -> dict[str, int]:
    """The lines as a file import receives them (lifecycle/imports.py), then worked off; its counts."""
    await w.stores.imports.create(import_id, T, "file")
    defaults = Defaults(origin="file", tenant=T, import_id=import_id, record_unchanged=False)
    for n, chunk in enumerate(batches(lines, batch)):
        await w.ingestor.receive([received_from_text(t) for t in chunk], defaults, cursor=n)
    await w.stores.imports.finish_input(import_id)
    w.worker.notify(Lane.BULK)
    await drain(w)
    record = await w.stores.imports.get(import_id)
    assert record is not None
    return dict(record.counts)


async def test_a_reimport_passes_over_every_line_it_proved_unchanged() -> None:
    w = world()
    first = await file_import(w, LINES, "first")
    assert first["created"] == 3 and w.org.log == ["create"] * 3

    again = await file_import(w, LINES, "again")

    assert (again["unchanged"], again["received"]) == (3, 3)
    assert w.ingestor.passed_over == 3  # not one line was parsed
    assert w.org.log == ["create"] * 3


async def test_a_line_edited_by_a_byte_is_read_and_planned() -> None:
    w = world()
    await file_import(w, LINES, "first")
    edited = [LINES[0].replace('", "', '","', 1), LINES[1], LINES[2]]  # same user, other text

    again = await file_import(w, edited, "again")

    assert again["unchanged"] == 3 and w.ingestor.passed_over == 2


async def test_a_link_written_since_is_not_passed_over() -> None:
    w = world()
    await file_import(w, LINES, "first")
    account = w.account("ann.lee@example.com")
    link = await w.link("1")
    assert link is not None
    # Another way changed the link (the account was edited in Okta and the change came back).
    w.org.accounts[account.id].profile["title"] = "Boss"
    await w.stores.links.save(replace(link, profile_hash="from-okta"))

    again = await file_import(w, LINES, "again")

    assert w.ingestor.passed_over == 2
    assert (again["updated"], again["unchanged"]) == (1, 2)
    assert w.org.accounts[account.id].profile["title"] == "Analyst"  # the file's word again


async def test_a_user_with_a_change_waiting_is_decided_behind_it() -> None:
    w = world()
    await file_import(w, LINES, "first")
    ann = w.account("ann.lee@example.com").id
    # A change waits in the queue (not worked off yet) when the same file comes again.
    await w.ingestor.receive(
        [received_from_text(json.dumps(upsert("1", "ann.lee@example.com", title="Queued")))],
        Defaults(origin="http"),
    )

    again = await file_import(w, LINES, "again")

    assert w.ingestor.passed_over == 2
    # Ann's line queued behind the waiting change and, the later of the two, won their run: had it
    # been passed over, the waiting change would have renamed her title afterwards.
    assert again["unchanged"] == 3
    assert w.org.accounts[ann].profile["title"] == "Analyst" and "update" not in w.org.log


async def test_a_users_earlier_line_in_the_same_batch_is_decided_first() -> None:
    w = world()
    await file_import(w, LINES, "first")
    bo = w.account("bo.chan@example.com").id
    changed = json.dumps(upsert("2", "bo.chan@example.com", title="Interim"))

    again = await file_import(w, [changed, *LINES], "again")

    assert w.ingestor.passed_over == 2  # Bo's second line waits behind his first
    # Both of Bo's lines formed one run, won by the later: unchanged. Had the later been passed
    # over, the earlier would have given him a title.
    assert (again["updated"], again["unchanged"]) == (0, 4)
    assert "title" not in w.org.accounts[bo].profile and "update" not in w.org.log


async def test_a_changed_policy_reads_every_line() -> None:
    w = world()
    await file_import(w, LINES, "first")
    w.set_policy(mode=SyncMode.OFF)

    again = await file_import(w, LINES, "again")

    assert w.ingestor.passed_over == 0
    assert again["skipped"] == 3  # sync mode off, said of each user


async def test_a_shared_account_is_never_passed_over() -> None:
    w = world(existing_account=ExistingAccount.MERGE_SOURCES)
    panel = upsert("p1", "ann.lee@example.com", source="panel", title="Analyst")
    await file_import(w, LINES, "first")
    joined = await file_import(w, [json.dumps(panel)], "panel")  # the panel has Ann too
    assert joined["unchanged"] == 1 and len(w.org.accounts) == 3  # she shares her account
    lines = [*LINES, json.dumps(panel)]

    again = await file_import(w, lines, "again")

    assert w.ingestor.passed_over == 2  # Bo and Cy; Ann's two identities share one account
    assert again["unchanged"] + again["skipped"] == 4


async def test_lines_found_unchanged_against_a_link_written_another_way_are_marked() -> None:
    """Phase 2 activates every account (links written without marks): the next re-import reads
    each line, finds it unchanged and marks its link; the one after passes over them all."""
    w = world(mode=SyncMode.SYNC)
    await file_import(w, LINES, "first")
    for key in ("1", "2", "3"):  # as the activation job leaves them
        link = await w.link(key)
        assert link is not None
        await w.stores.links.save(replace(link, idp_status=IdpStatus.ACTIVE))

    read = await file_import(w, LINES, "read")
    assert (read["unchanged"], w.ingestor.passed_over) == (3, 0)

    again = await file_import(w, LINES, "again")
    assert (again["unchanged"], w.ingestor.passed_over) == (3, 3)
    assert w.org.log == ["create"] * 3
