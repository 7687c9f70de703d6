"""A store as a finished first import leaves it, without making its calls.

A real first import of a million users takes 69 hours at the default budget. What it leaves in
the store is written here through idsync's own code instead: the file goes through the ingestor
(the import's record, its counters and input cursor, one queued change per user), and the queue is
then worked off as the worker would after each create, minus the call: users claimed, planned by
the planner, the result `created` with an Okta-shaped id committed with the link (IdP id, login,
profile hash, status STAGED, version) in one write per batch. The import completes on its own
when its last result is written. Only the IdP call is left out.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from pathlib import Path

from idsync.adapters.files import count_records, read_records
from idsync.adapters.store import Store
from idsync.adapters.store.sql import Finished, Outcome
from idsync.config import Settings
from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ChangeMessage, Status
from idsync.domain.planner import plan
from idsync.engine.db import AsyncStore
from idsync.engine.ingest import Defaults, Ingestor, batches, received_from_file

OWNER = "bench-seed"
CLAIM = 5_000


def okta_id(key: str) -> str:
    """A 20-character id shaped like Okta's (`00u` + 17), stable per user."""
    return "00u" + hashlib.sha1(key.encode()).hexdigest()[:17]


async def _ingest(settings: Settings, store: Store, path: Path, tenant: str, import_id: str) -> None:
    db = AsyncStore(store)
    ingestor = Ingestor(db, settings)
    store.create_import(import_id, tenant, "file", input_name=str(path), total=count_records(path, "jsonl"))
    defaults = Defaults(origin="file", tenant=tenant, import_id=import_id, record_unchanged=False)
    for batch in batches(read_records(path, fmt="jsonl")):
        await ingestor.receive([received_from_file(r) for r in batch], defaults, cursor=batch[-1].number)
    store.finish_input(import_id)


def _work_off(settings: Settings, store: Store) -> int:
    done = 0
    while users := store.claim(OWNER, limit=CLAIM, lease_s=3600):
        links: list[Link] = []
        finished: list[Finished] = []
        for user in users:
            (queued,) = user.changes
            change = ChangeMessage.model_validate_json(queued.payload)
            policy = settings.policy(change.tenant)
            assert policy is not None
            decided = plan(change, user.link, policy)
            assert decided.status is Status.CREATED, decided
            idp_id = okta_id(user.user_key)
            assert change.user is not None
            base = user.link or Link(change.tenant, change.source, change.key, policy.idp)
            links.append(
                replace(
                    base,
                    idp_id=idp_id,
                    login=change.user.login,
                    profile_hash=decided.profile_hash,
                    idp_status=IdpStatus.STAGED,
                    version=decided.version,
                    pending_op=None,
                )
            )
            outcome = Outcome(queued.id, Status.CREATED, idp_id, import_id=queued.import_id)
            finished.append(Finished(user.user_key, OWNER, [outcome]))
        store.write_batch(saved_links=links, finished=finished)
        done += len(users)
    return done


def first_import(settings: Settings, path: Path, *, tenant: str, import_id: str) -> int:
    """Leave the store as a finished import of `path` would; returns the users created."""
    store = Store(settings.store.url)
    try:
        asyncio.run(_ingest(settings, store, path, tenant, import_id))
        return _work_off(settings, store)
    finally:
        store.close()
