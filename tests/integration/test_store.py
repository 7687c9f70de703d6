"""The state store on real databases: queue, claims, results, counters, resume.

Every test runs against SQLite (a file) and PostgreSQL (the session's throwaway server, a fresh
database per test): one interface, one suite, two engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, String, Table, inspect

from idsync.adapters.store import Store, schema
from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ImportState, Lane, Reason, Status, user_key
from idsync.domain.records import Finished, IngestRow, Outcome

NOW = 1_700_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'idsync.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def row(
    key: str,
    *,
    lane: Lane = Lane.BULK,
    import_id: str | None = "imp",
    op: str = "upsert",
    version: int | None = None,
    status: Status | None = None,
    ref: str | None = None,
) -> IngestRow:
    return IngestRow(
        tenant="t",
        source="s",
        key=key,
        op=op,
        lane=lane,
        payload="{}",
        origin="file",
        user_key=user_key("t", "s", key),
        version=version,
        import_id=import_id,
        origin_ref=ref,
        result_status=status,
        reason=Reason(code="invalid", message="x") if status else None,
    )


def test_received_changes_complete_an_import_with_exact_counts(store: Store) -> None:
    store.imports.create("imp", "t", "file", total=4, now=NOW)
    store.inbox.receive(
        [row("1"), row("2"), row("3", status=Status.FAILED), row("4", status=Status.UNCHANGED)],
        import_id="imp",
        cursor=4,
        now=NOW,
    )
    store.imports.finish_input("imp", now=NOW)
    users = store.queue.claim("w1", limit=10, lease_s=60, now=NOW)
    assert sorted(u.key for u in users) == ["1", "2"]
    for u in users:
        store.queue.write_batch(
            finished=[
                Finished(
                    u.user_key, "w1", [Outcome(c.id, Status.CREATED, "00u", None, "imp") for c in u.changes]
                )
            ],
            now=NOW,
        )
    record = store.imports.get("imp")
    assert record is not None and record.state is ImportState.COMPLETED
    assert record.counts == {
        **{s.value: 0 for s in Status},
        "received": 4,
        "created": 2,
        "failed": 1,
        "unchanged": 1,
    }
    assert store.imports.recount("imp") == record.counts
    assert record.input_cursor == 4


def test_a_users_changes_are_claimed_together_and_by_one_worker(store: Store) -> None:
    store.inbox.receive([row("1", version=1), row("2"), row("1", version=2)], now=NOW)
    first = store.queue.claim("w1", limit=1, lease_s=60, now=NOW)
    assert [(u.key, [c.version for c in u.changes]) for u in first] == [("1", [1, 2])]
    store.inbox.receive([row("1", version=3)], now=NOW)
    second = store.queue.claim("w2", limit=10, lease_s=60, now=NOW)
    assert [u.key for u in second] == ["2"]  # user 1 is held by w1, its new change waits


def test_interactive_lane_first_and_lane_limits(store: Store) -> None:
    store.inbox.receive(
        [row(str(i)) for i in range(5)] + [row("i1", lane=Lane.INTERACTIVE, import_id=None)], now=NOW
    )
    users = store.queue.claim(
        "w", limit=10, lease_s=60, now=NOW, lane_limits={Lane.INTERACTIVE: 5, Lane.BULK: 2}
    )
    assert [u.key for u in users] == ["i1", "0", "1"]


def test_claim_carries_the_link(store: Store) -> None:
    store.queue.save_links([Link("t", "s", "1", "okta", "00u1", "a@b.co", "h", IdpStatus.STAGED, 3)])
    store.inbox.receive([row("1")], now=NOW)
    (user,) = store.queue.claim("w", limit=1, lease_s=60, now=NOW)
    assert user.link is not None and user.link.idp_id == "00u1" and user.link.idp_status is IdpStatus.STAGED


def test_postponed_changes_wait_until_due(store: Store) -> None:
    store.inbox.receive([row("1")], now=NOW)
    (user,) = store.queue.claim("w", limit=1, lease_s=60, now=NOW)
    store.queue.postpone(user, "w", not_before=NOW + 30)
    assert store.queue.claim("w", limit=1, lease_s=60, now=NOW + 10) == []
    assert store.queue.next_due() == NOW + 30
    (again,) = store.queue.claim("w", limit=1, lease_s=60, now=NOW + 31)
    assert again.changes[0].attempts == 1


def test_expired_leases_are_taken_back_and_marked_interrupted(store: Store) -> None:
    store.inbox.receive([row("1"), row("2")], now=NOW)
    store.queue.claim("dead", limit=1, lease_s=60, now=NOW)
    assert store.queue.release_expired(NOW + 30) == 0
    assert store.queue.release_expired(NOW + 61) == 1
    users = store.queue.claim("alive", limit=5, lease_s=60, now=NOW + 62)
    assert {u.key: u.changes[0].attempts for u in users} == {"1": 1, "2": 0}
    assert store.queue.release_all() == 2


def test_duplicate_deliveries_are_stored_once(store: Store) -> None:
    store.imports.create("imp", "t", "kafka", now=NOW)
    first = store.inbox.receive([row("1", ref="topic:0:7"), row("2", ref="topic:0:8")], now=NOW)
    again = store.inbox.receive([row("1", ref="topic:0:7"), row("3", ref="topic:0:9")], now=NOW)
    assert None not in first
    assert again[0] is None and again[1] is not None
    record = store.imports.get("imp")
    assert record is not None and record.counts["received"] == 3


def test_failed_changes_can_be_retried(store: Store) -> None:
    store.imports.create("imp", "t", "file", now=NOW)
    store.inbox.receive([row("1")], import_id="imp", cursor=1, now=NOW)
    store.imports.finish_input("imp", now=NOW)
    (user,) = store.queue.claim("w", limit=1, lease_s=60, now=NOW)
    store.queue.complete(
        user,
        "w",
        [
            Outcome(
                user.changes[0].id, Status.FAILED, None, Reason(code="idp_unavailable", message="503"), "imp"
            )
        ],
        None,
        now=NOW,
    )
    assert store.imports.reason_summary("imp") == [("failed", "idp_unavailable", 1, "503")]
    assert store.imports.requeue_failed("imp") == 1
    record = store.imports.get("imp")
    assert record is not None and record.state is ImportState.RUNNING and record.counts["failed"] == 0
    assert [u.key for u in store.queue.claim("w", limit=1, lease_s=60, now=NOW)] == ["1"]


def test_links_by_status_pages_in_key_order(store: Store) -> None:
    store.queue.save_links(
        [
            Link(
                "t",
                "s",
                f"{i:03d}",
                "okta",
                f"00u{i}",
                idp_status=IdpStatus.STAGED if i % 2 else IdpStatus.ACTIVE,
            )
            for i in range(10)
        ]
    )
    page = store.links.by_status("t", [IdpStatus.STAGED], limit=3)
    assert [lk.key for lk in page] == ["001", "003", "005"]
    rest = store.links.by_status("t", [IdpStatus.STAGED], after=("s", "005"))
    assert [lk.key for lk in rest] == ["007", "009"]
    assert store.links.count("t", [IdpStatus.STAGED]) == 5


def test_migrations_bring_an_older_database_forward(store_url: str) -> None:
    url = store_url
    Store(url).close()
    extra = Table("test_feature_table", schema.metadata, Column("id", String(10), primary_key=True))
    schema.register("test_0001", "a feature table", lambda conn: extra.create(conn))
    try:
        reopened = Store(url)
        assert "test_feature_table" in inspect(reopened.engine).get_table_names()
        reopened.close()
        Store(url).close()  # idempotent: nothing left to apply
    finally:
        schema.MIGRATIONS[:] = [m for m in schema.MIGRATIONS if m[0] != "test_0001"]
        schema.metadata.remove(extra)
