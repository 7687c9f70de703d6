"""A whole file import in one process: stream the file into the store, run the worker until
every change is done, report progress. Resumable: an import id that exists continues after the
last line it stored, and the queue holds what was left in progress."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from idsync.adapters.files import count_records, detect_format, read_records
from idsync.adapters.store.features.safety import release_run
from idsync.adapters.store.sql import ImportRecord
from idsync.domain.models import ImportProgress
from idsync.engine.ingest import Defaults, batches, received_from_file
from idsync.engine.link_existing import list_org_accounts
from idsync.runtime import Runtime

ProgressCallback = Callable[[ImportProgress], None]


def new_import_id(prefix: str = "imp") -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ImportReport:
    progress: ImportProgress
    api_calls: int
    elapsed_s: float
    reasons: list[tuple[str, str, int, str]]


class RateMeter:
    """Users finished per second over the last half minute (what the ETA divides by)."""

    def __init__(self, horizon_s: float = 30.0) -> None:
        self.horizon_s = horizon_s
        self.samples: list[tuple[float, int]] = []

    def add(self, now: float, done: int) -> float:
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.horizon_s:
            self.samples.pop(0)
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0


async def run_job(
    runtime: Runtime,
    import_id: str,
    feed: Callable[[], Awaitable[None]] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    poll_s: float = 0.25,
) -> ImportReport:
    """Run the worker while `feed` stores the job's changes, until every change is done."""
    db = runtime.db
    started = time.monotonic()
    calls_before = runtime.api_calls()
    fed = feed is None
    meter = RateMeter()

    async def report() -> None:
        while True:
            current = await db.call(db.store.get_import, import_id)
            if current is not None:
                progress = current.progress()
                rate = meter.add(time.monotonic(), progress.done)
                progress.rate = rate
                if rate > 0:
                    left = (
                        progress.total if progress.total is not None else progress.received
                    ) - progress.done
                    progress.eta_s = max(left, 0) / rate
                await db.call(db.store.set_import_rate, import_id, rate)
                if on_progress:
                    on_progress(progress)
            await asyncio.sleep(poll_s)

    def idle() -> bool:
        return fed

    reporter = asyncio.create_task(report())
    worker = asyncio.create_task(runtime.worker.run(until_idle=idle))
    try:
        if feed is not None:
            await feed()
            fed = True
            runtime.worker.wakeup.set()
        await worker
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        if not worker.done():
            worker.cancel()
    final = await db.call(db.store.get_import, import_id)
    assert final is not None
    progress = final.progress()
    elapsed = time.monotonic() - started
    progress.rate = progress.done / elapsed if elapsed > 0 else 0.0
    progress.eta_s = None
    if on_progress:
        on_progress(progress)
    reasons = await db.call(db.store.reason_summary, import_id)
    return ImportReport(progress, runtime.api_calls() - calls_before, elapsed, reasons)


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
) -> ImportReport:
    """Import a CSV/JSONL file; an existing `import_id` resumes after the last stored record.
    `force` lets it deactivate/delete beyond the tenant's safety threshold (engine/safety.py);
    `link_existing` lists the org's accounts first, to match them by login (engine/link_existing.py)."""
    db = runtime.db
    fmt = fmt or detect_format(path)
    import_id = import_id or new_import_id()
    total = count_records(path, fmt)
    record: ImportRecord = await db.call(
        db.store.create_import, import_id, tenant, "file", input_name=str(path), total=total
    )
    if force:  # a run this import tripped before is let through as well
        await db.call(release_run, db.store, f"{tenant}/{import_id}")

    async def ingest() -> None:
        if link_existing and record.input_cursor == 0:  # counted with the import's calls
            await link_existing_accounts(runtime, tenant)
        defaults = Defaults(
            origin="file", tenant=tenant, import_id=import_id, record_unchanged=False, force=force
        )
        for batch in batches(read_records(path, fmt=fmt, start_after=record.input_cursor, source=source)):
            await runtime.ingestor.receive(
                [received_from_file(r) for r in batch], defaults, cursor=batch[-1].number
            )
            runtime.worker.wakeup.set()
        await db.call(db.store.finish_input, import_id)

    return await run_job(
        runtime, import_id, None if record.input_done else ingest, on_progress=on_progress, poll_s=poll_s
    )


async def link_existing_accounts(runtime: Runtime, tenant: str) -> int:
    """List the accounts of the tenant's IdP for an import with --link-existing."""
    policy = runtime.settings.policy(tenant)
    if policy is None or policy.idp not in runtime.idps:
        return 0
    return await list_org_accounts(runtime.db, runtime.idps[policy.idp])
