"""The store contract, part 4: line marks (domain/marks.py). A link keeps the mark the worker
gave it with its write, every other write of the link clears it, a received change keeps its
line's fingerprint for the worker, and links of shared accounts never answer. Run against every
store idsync ships (fixture `stores`)."""

from __future__ import annotations

from dataclasses import replace

from idsync.domain.links import IdpStatus, PendingOp
from idsync.domain.models import Status
from idsync.domain.records import Finished, Outcome
from idsync.ports import Stores

from .store_support import T, claim_all, link, row

M1, M2 = "p" * 16 + "1" * 32, "p" * 16 + "2" * 32


async def _received_and_marked(stores: Stores, key: str, mark: str) -> None:
    """A change of crm/key received with a line fingerprint, claimed, finished with its link marked."""
    await stores.queue.receive([replace(row(key), line_fp=mark[16:])])
    [user] = [u for u in await claim_all(stores) if u.key == key]
    assert [c.line_fp for c in user.changes] == [mark[16:]]  # kept for the worker
    outcome = Outcome(user.changes[0].id, Status.CREATED, f"00u{key}")
    await stores.queue.write_batch(
        saved_links=[link("crm", key, f"00u{key}", f"{key}@example.com")],
        finished=[Finished(user.user_key, "w1", [outcome], line_mark=(T, "crm", key, mark))],
    )


async def test_a_link_keeps_the_mark_written_with_it(stores: Stores) -> None:
    await _received_and_marked(stores, "1", M1)

    assert await stores.links.at_rest_lines(T, [M1, M2]) == {M1: ("crm", "1")}
    assert await stores.links.at_rest_lines("beta", [M1]) == {}  # another tenant's lines
    assert await stores.links.at_rest_lines(T, []) == {}


async def test_any_other_write_of_the_link_clears_its_mark(stores: Stores) -> None:
    await _received_and_marked(stores, "1", M1)
    await _received_and_marked(stores, "2", M2)
    current = await stores.links.get(T, "crm", "1")
    assert current is not None

    await stores.links.save(replace(current, idp_status=IdpStatus.ACTIVE))  # e.g. an activation

    assert await stores.links.at_rest_lines(T, [M1, M2]) == {M2: ("crm", "2")}
    # A worker's write without a mark (its line is not at rest against the new link) clears it too.
    await stores.queue.write_batch(saved_links=[link("crm", "2", "00u2", "two@example.com")])
    assert await stores.links.at_rest_lines(T, [M1, M2]) == {}


async def test_links_of_a_shared_account_never_answer(stores: Stores) -> None:
    await _received_and_marked(stores, "1", M1)
    await stores.links.save(
        link("panel", "p1", "00u1", "1@example.com", via=("crm", "1"), idp_status=IdpStatus.STAGED)
    )
    # The sharer's write wrote to its holder's row: the mark is gone; marked again, it is still
    # not passed over while another identity shares the account.
    assert await stores.links.at_rest_lines(T, [M1]) == {}
    await stores.queue.receive([replace(row("1"), line_fp=M1[16:])])
    [user] = [u for u in await claim_all(stores, now=2000.0) if u.key == "1"]
    holder = await stores.links.get(T, "crm", "1")
    assert holder is not None and holder.sharers == ("panel",)
    await stores.queue.write_batch(
        finished=[
            Finished(
                user.user_key,
                "w1",
                [Outcome(user.changes[0].id, Status.UNCHANGED)],
                line_mark=(T, "crm", "1", M1),
            )
        ],
    )
    assert await stores.links.at_rest_lines(T, [M1]) == {}


async def test_a_link_found_unchanged_is_marked_only_if_still_as_read(stores: Stores) -> None:
    read_1 = link("crm", "1", "00u1", "1@example.com", profile_hash="h1", version=3)
    read_2 = link("crm", "2", "00u2", "2@example.com", profile_hash="h2")
    await stores.links.save(read_1)
    await stores.links.save(read_2)
    # Between the ingest's read and its mark, another way activates crm/2.
    await stores.links.save(replace(read_2, idp_status=IdpStatus.ACTIVE))

    await stores.links.mark_at_rest([(read_1, M1), (read_2, M2)])

    assert await stores.links.at_rest_lines(T, [M1, M2]) == {M1: ("crm", "1")}
    # A link with a write in flight is never marked.
    busy = replace(read_2, idp_status=IdpStatus.ACTIVE, pending_op=PendingOp.ACTIVATE)
    await stores.links.save(busy)
    await stores.links.mark_at_rest([(busy, M2)])
    assert await stores.links.at_rest_lines(T, [M2]) == {}
