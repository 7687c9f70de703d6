"""The session store on SQLite and PostgreSQL: write-ahead of uploads (entries with the links'
create intents in one transaction), read-back results, the users a source masters, abandoning a
session (intents cleared only when it never started), the source lease."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.adapters.store import Store
from idsync.adapters.store.sessions import SessionTable
from idsync.domain.links import Link, PendingOp
from idsync.domain.sessions import EntryKind, ReadResult, SessionEntry, SessionRecord, SessionState


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'idsync.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    s = Store(str(url))
    yield s
    s.close()


def entry(session: str, key: str, upload: int = 1, kind: EntryKind = EntryKind.CREATE) -> SessionEntry:
    return SessionEntry(
        session_id=session,
        user_key=f"t\x1fapp\x1f{key}",
        tenant="t",
        source="app",
        key=key,
        external_id=f"t/app/{key}",
        login=f"{key}@example.com",
        kind=kind,
        profile={"login": f"{key}@example.com", "firstName": "Ann"},
        profile_hash="h" + key,
        upload=upload,
        idp_id="00u" + key if kind is EntryKind.UPDATE else None,
    )


def intent(key: str) -> Link:
    return Link("t", "app", key, "okta", login=f"{key}@example.com", pending_op=PendingOp.CREATE)


def record(session: str, state: SessionState = SessionState.FILLING) -> SessionRecord:
    return SessionRecord("okta", session, "0oaSRC", state, "2026-01-01T00:00:00.000Z")


def test_an_upload_is_written_ahead_with_its_intents_and_read_back_by_session(store: Store) -> None:
    t = SessionTable(store)
    t.save_session(record("aps1"))
    t.add_upload("okta", [entry("aps1", "1"), entry("aps1", "2")], [intent("1"), intent("2")])
    t.add_upload("okta", [entry("aps1", "3", upload=2)], [intent("3")])
    assert [e.key for e in t.entries("aps1")] == ["1", "2", "3"]
    assert t.entries("aps1")[0].profile == {"login": "1@example.com", "firstName": "Ann"}
    (only,) = t.sessions("okta", [SessionState.FILLING])
    assert (only.id, only.uploads, only.started) == ("aps1", 2, None)
    assert store.links.get("t", "app", "2").pending_op is PendingOp.CREATE  # type: ignore[union-attr]
    keys = [e.user_key for e in t.entries("aps1")]
    assert set(t.live_entries("okta", [*keys, "t\x1fapp\x1f9"])) == set(keys)
    assert t.live_entries("other-idp", keys) == {}


def test_results_make_the_source_master_linked_and_updated_users(store: Store) -> None:
    t = SessionTable(store)
    t.save_session(record("aps1", SessionState.TRIGGERED))
    t.add_upload(
        "okta", [entry("aps1", "1"), entry("aps1", "2"), entry("aps1", "3", kind=EntryKind.UPDATE)], []
    )
    keys = [e.user_key for e in t.entries("aps1")]
    t.record(
        "okta",
        "aps1",
        [
            (keys[0], ReadResult.LINKED, "00uA", "STAGED"),
            (keys[1], ReadResult.FOREIGN, "00uB", "ACTIVE"),
            (keys[2], ReadResult.UPDATED, "00u3", "STAGED"),
        ],
    )
    (read,) = t.sessions("okta", [SessionState.READ])
    assert read.id == "aps1"
    assert t.mastered("okta", keys) == {keys[0], keys[2]}
    live = t.live_entries("okta", keys)
    assert (live[keys[0]].result, live[keys[0]].idp_id) == (ReadResult.LINKED, "00uA")
    t.forget("aps1", keys[:2])
    assert t.sessions("okta", [SessionState.READ])  # one entry left
    t.forget("aps1", keys[2:])
    assert t.sessions("okta", [SessionState.READ]) == []  # closed with its last entry
    assert t.mastered("okta", keys) == {keys[0], keys[2]}  # mastering outlives the session


def test_results_read_while_okta_still_runs_the_session_leave_it_triggered(store: Store) -> None:
    t = SessionTable(store)
    t.save_session(record("aps1", SessionState.TRIGGERED))
    t.add_upload("okta", [entry("aps1", "1"), entry("aps1", "2")], [])
    keys = [e.user_key for e in t.entries("aps1")]
    t.record("okta", "aps1", [(keys[0], ReadResult.LINKED, "00uA", "STAGED")], final=False)
    t.forget("aps1", keys[:1])
    (running,) = t.sessions("okta", [SessionState.TRIGGERED])  # a restart still waits for it
    assert running.id == "aps1"
    assert t.mastered("okta", keys) == {keys[0]}
    assert [e.key for e in t.entries("aps1")] == ["2"]
    t.record("okta", "aps1", [(keys[1], ReadResult.LINKED, "00uB", "STAGED")])
    t.forget("aps1", keys[1:])
    assert t.sessions("okta", [SessionState.TRIGGERED, SessionState.READ]) == []


@pytest.mark.parametrize("never_started", [True, False])
def test_abandoning_clears_intents_only_of_a_session_that_never_started(
    store: Store, never_started: bool
) -> None:
    t = SessionTable(store)
    t.save_session(record("aps1"))
    t.add_upload("okta", [entry("aps1", "1")], [intent("1")])
    t.abandon("okta", "aps1", never_started=never_started)
    assert t.entries("aps1") == []
    assert t.sessions("okta", [SessionState.ABANDONED])[0].id == "aps1"
    pending = store.links.get("t", "app", "1").pending_op  # type: ignore[union-attr]
    assert pending is (None if never_started else PendingOp.CREATE)


def test_one_instance_drives_a_source(store: Store) -> None:
    t = SessionTable(store)
    assert t.take_source("okta", "a", 30.0, 100.0)
    assert not t.take_source("okta", "b", 30.0, 110.0)
    assert t.take_source("okta", "a", 30.0, 120.0)  # renewed
    assert t.take_source("okta", "b", 30.0, 151.0)  # a's lease ran out
    assert t.release_sources() == 1
    assert t.take_source("okta", "c", 30.0, 152.0)
