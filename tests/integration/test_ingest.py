"""Receiving changes: lanes, pre-decided results, ordering behind queued changes."""

from __future__ import annotations

import json
from pathlib import Path

from idsync.config import settings_from_dict
from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import Lane, Status, UserFields
from idsync.domain.profile import map_profile, profile_hash
from idsync.domain.records import Received, received_from_text
from idsync.engine.ingest import Defaults
from idsync.runtime import Runtime


def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'i.db'}"},
            "idps": {"okta": {"type": "okta", "url": "http://127.0.0.1:9", "token_env": "T"}},
            "tenants": {
                "t": {"idp": "okta", "external_idps": [{"name": "corp", "domains": ["corp.example"]}]}
            },
        },
        {"T": "x"},
    )


def line(key: str, email: str = "", version: int | None = None, **extra: object) -> str:
    email = email or f"u{key}@example.com"
    msg: dict[str, object] = {
        "tenant": "t",
        "op": "upsert",
        "source": "app",
        "key": key,
        "user": {"login": email, "email": email, "firstName": "A", "lastName": "B"},
        **extra,
    }
    if version is not None:
        msg["version"] = version
    return json.dumps(msg)


async def test_imports_are_bulk_and_single_changes_interactive(tmp_path: Path) -> None:
    async with Runtime(settings(tmp_path)) as rt:
        rt.store.imports.create("imp", "t", "file")
        await rt.ingestor.receive(
            [received_from_text(line("1"))], Defaults(origin="file", tenant="t", import_id="imp")
        )
        await rt.ingestor.receive(
            [Received(payload=json.loads(line("2", import_id="imp-k")))], Defaults(origin="kafka")
        )
        await rt.ingestor.receive([received_from_text(line("3"))], Defaults(origin="http"))
        lanes = {u.key: u.lane for u in rt.store.queue.claim("w", limit=10, lease_s=60)}
    assert lanes == {"1": Lane.BULK, "2": Lane.BULK, "3": Lane.INTERACTIVE}


async def test_decided_at_once_and_queued_behind_open_changes(tmp_path: Path) -> None:
    async with Runtime(settings(tmp_path)) as rt:
        user = UserFields.model_validate(
            {"login": "u1@example.com", "email": "u1@example.com", "firstName": "A", "lastName": "B"}
        )
        rt.store.queue.save_links(
            [
                Link(
                    "t",
                    "app",
                    "1",
                    "okta",
                    "00u1",
                    "u1@example.com",
                    profile_hash(map_profile(user)),
                    IdpStatus.STAGED,
                    1,
                )
            ]
        )
        rt.store.imports.create("imp", "t", "file")
        items = [
            received_from_text(line("1", version=1)),  # unchanged: decided, counted
            received_from_text(line("2", email="x@corp.example")),  # routed to an external IdP: skipped
            received_from_text('{"tenant": "t", "op": "upsert"'),  # broken JSON: failed, named
            received_from_text(line("3")),  # new: queued
            received_from_text(
                line(
                    "3",
                    version=2,
                    **{
                        "user": {
                            "login": "u3@example.com",
                            "email": "u3@example.com",
                            "firstName": "C",
                            "lastName": "B",
                        }
                    },
                )
            ),
        ]
        out = await rt.ingestor.receive(
            items, Defaults(origin="file", tenant="t", import_id="imp", record_unchanged=False), cursor=5
        )
        record = rt.store.imports.get("imp")
        queued = rt.store.queue.claim("w", limit=10, lease_s=60)
    assert len(out) == 4  # the unchanged user is counted, not stored
    assert record is not None and record.counts["received"] == 5
    assert (record.counts["unchanged"], record.counts["skipped"], record.counts["failed"]) == (1, 1, 1)
    assert record.input_cursor == 5
    assert [(u.key, [c.version for c in u.changes]) for u in queued] == [("3", [None, 2])]
    assert any(isinstance(p, object) and getattr(p, "code", "") == "invalid" for _, p in out)
    assert Status.SKIPPED.value == "skipped"
