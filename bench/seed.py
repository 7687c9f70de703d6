"""A store as a finished first import leaves it, without making its calls.

A real first import of a million users takes 69 hours at the default budget. What it leaves in
the store is written here through idsync's own code instead: the file goes through the ingestor
(the import's record, its counters and input cursor, one queued change per user), and each batch
of queued changes is then finished as the worker finishes a create: planned by the planner, the
result `created` with an Okta-shaped id committed with the link (IdP id, login, profile hash,
status STAGED, version, the mark of its line: domain/marks.py) and the import's counters in one
group write. The import completes on its
own when its last result is written. Left out: the IdP call, and the claims (leases the worker
takes and releases, which leave no trace).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from idsync.adapters.files import count_records, read_records, received_from_file
from idsync.adapters.store import Store
from idsync.adapters.store.aio import Runner, sql_stores
from idsync.config import Settings
from idsync.domain.links import IdpStatus, Link
from idsync.domain.marks import finished_mark, line_fp
from idsync.domain.models import ChangeMessage, Lane, Reason, Status
from idsync.domain.planner import plan
from idsync.domain.records import Finished, Outcome, QueuedChange
from idsync.engine.ingest import Defaults, Ingestor, batches

OWNER = "bench-seed"
WRITE = 5_000  # users ingested and finished per group write


def okta_id(key: str) -> str:
    """A 20-character id shaped like Okta's (`00u` + 17), stable per user."""
    return "00u" + hashlib.sha1(key.encode()).hexdigest()[:17]


def _results(
    settings: Settings,
    import_id: str,
    queued: list[tuple[int | None, ChangeMessage | Reason]],
    texts: list[str],
) -> tuple[list[Link], list[Finished]]:
    """The worker's results for freshly queued creates: planned, answered `created`, the link
    marked with its line as the worker marks a link it leaves at rest (domain/marks.py)."""
    finished: list[Finished] = []
    links: list[Link] = []
    for (change_id, change), text in zip(queued, texts, strict=True):
        assert change_id is not None and isinstance(change, ChangeMessage), change
        policy = settings.policy(change.tenant)
        assert policy is not None and change.user is not None
        decided = plan(change, None, policy)
        assert decided.status is Status.CREATED, decided
        idp_id = okta_id(change.user_key)
        link = Link(
            change.tenant,
            change.source,
            change.key,
            policy.idp,
            idp_id=idp_id,
            login=change.user.login,
            profile_hash=decided.profile_hash,
            idp_status=IdpStatus.STAGED,
            version=decided.version,
        )
        links.append(link)
        # the row the worker claims: the payload and line fingerprint the ingestor stored
        row = QueuedChange(
            change_id,
            change.op.value,
            change.version,
            change.model_dump_json(exclude_none=True),
            import_id,
            None,
            Lane.BULK,
            0,
            "file",
            line_fp=line_fp(change.tenant, text),
        )
        outcome = Outcome(change_id, Status.CREATED, idp_id, import_id=import_id)
        mark = finished_mark([row], link, policy)
        finished.append(Finished(change.user_key, OWNER, [outcome], release=False, line_mark=mark))
    return links, finished


async def _first_import(settings: Settings, store: Store, path: Path, tenant: str, import_id: str) -> int:
    runner = Runner(store.dialect)
    stores = sql_stores(store, runner, settings.safety_rules)
    ingestor = Ingestor(stores.queue, stores.links, settings.policy)
    store.imports.create(import_id, tenant, "file", input_name=str(path), total=count_records(path, "jsonl"))
    defaults = Defaults(origin="file", tenant=tenant, import_id=import_id, record_unchanged=False)
    created = 0
    for batch in batches(read_records(path, fmt="jsonl"), WRITE):
        queued = await ingestor.receive(
            [received_from_file(r) for r in batch], defaults, cursor=batch[-1].number
        )
        texts = [r.text or "" for r in batch]  # JSON lines: each one's text
        links, finished = _results(settings, import_id, queued, texts)
        # one create a user, counted for the import as the worker counts it
        store.queue.write_batch(saved_links=links, finished=finished, api_calls={import_id: len(finished)})
        created += len(finished)
    store.imports.finish_input(import_id)
    runner.close()
    return created


def first_import(settings: Settings, path: Path, *, tenant: str, import_id: str) -> int:
    """Leave the store as a finished import of `path` would; returns the users created."""
    store = Store(settings.store.url)
    try:
        return asyncio.run(_first_import(settings, store, path, tenant, import_id))
    finally:
        store.close()
