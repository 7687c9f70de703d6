"""A whole file import in one process: stream the file into the store, run the worker until
every change is done, report progress. Resumable: an import id that exists continues after the
last line it stored, and the queue holds what was left in progress."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from idsync.adapters.files import (
    FileOptions,
    check_encoding,
    count_records,
    detect_format,
    read_records,
    received_from_file,
)
from idsync.adapters.store.features.safety_ops import release_run
from idsync.domain.models import ImportState
from idsync.domain.records import ImportRecord
from idsync.engine.ingest import Defaults, batches
from idsync.engine.jobs import ImportReport, ProgressCallback, link_existing_accounts, new_import_id, run_job
from idsync.runtime import Runtime

__all__ = ["run_file_import"]

# The cyclic GC's first threshold while a file is imported. A user's records (its line, message,
# link, plan: some 20 objects) are freed by reference counting, none is part of a cycle; at the
# default of 700 the collector ran every ~35 users, over the whole batch in hand each time: 15% of
# a re-import of unchanged users. At 50,000 it runs a few times a batch of 1000 users at most.
GC_THRESHOLD = 50_000


@contextmanager
def fewer_collections(threshold: int = GC_THRESHOLD) -> Iterator[None]:
    """Raise the GC's first threshold for the duration (never lower it), then restore it."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], threshold), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def run_file_import(
    runtime: Runtime,
    path: Path,
    *,
    tenant: str,
    import_id: str | None = None,
    source: str | None = None,
    fmt: str | None = None,
    on_progress: ProgressCallback | None = None,
    poll_s: float = 0.25,
    force: bool = False,
    link_existing: bool = False,
    options: FileOptions = FileOptions(),
) -> ImportReport:
    """Import a CSV/JSONL file; an existing `import_id` resumes after the last stored record.
    `force` lets it deactivate/delete beyond the tenant's safety threshold (domain/safety.py);
    `link_existing` lists the org's accounts first, to match them by login (engine/link_existing.py);
    `options` say how to read the file's text (encoding, CSV delimiter): a file that is not in its
    encoding is refused before anything is stored."""
    engine = runtime.engine
    fmt = fmt or detect_format(path)
    check_encoding(path, options)
    import_id = import_id or new_import_id()
    total = count_records(path, fmt, options)
    record: ImportRecord = await engine.stores.imports.create(
        import_id, tenant, "file", input_name=str(path), total=total
    )
    if force:  # a run this import tripped before is let through as well
        await runtime.db.call(release_run, runtime.store, f"{tenant}/{import_id}")

    async def ingest() -> None:
        if link_existing and record.input_cursor == 0:  # counted with the import's calls
            await link_existing_accounts(engine, tenant, import_id)
        defaults = Defaults(
            origin="file", tenant=tenant, import_id=import_id, record_unchanged=False, force=force
        )
        for batch in batches(
            read_records(path, fmt=fmt, start_after=record.input_cursor, source=source, options=options)
        ):
            await engine.ingestor.receive(
                [received_from_file(r) for r in batch], defaults, cursor=batch[-1].number
            )
            engine.worker.wakeup.set()
            await asyncio.sleep(0)  # SQLite calls run inline: let the worker start on this batch now
            while engine.worker.feeding_sessions():  # an import session fills faster on its own
                await asyncio.sleep(0.01)
            now = await engine.stores.imports.get(import_id)
            if now is not None and now.state is ImportState.CANCELLED:  # idsync cancel: stop reading
                return
        await engine.stores.imports.finish_input(import_id)

    fed = record.input_done or record.state is ImportState.CANCELLED
    with fewer_collections():
        return await run_job(
            engine, import_id, None if fed else ingest, on_progress=on_progress, poll_s=poll_s
        )
