"""A job (an import or an activation job): run the worker while a feed stores the job's changes,
until every change is done, with progress, rate and ETA. What feeds it (a file, an upload, the
staged users) is the caller's; the engine only stores and works."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from idsync.domain.models import ImportProgress
from idsync.engine.core import Engine
from idsync.engine.link_existing import list_org_accounts
from idsync.engine.metering import metered

ProgressCallback = Callable[[ImportProgress], None]


def new_import_id(prefix: str = "imp") -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ImportReport:
    progress: ImportProgress
    api_calls: int  # the import's IdP calls, over all its runs (the store counts them)
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
    engine: Engine,
    import_id: str,
    feed: Callable[[], Awaitable[None]] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    poll_s: float = 0.25,
) -> ImportReport:
    """Run the worker while `feed` stores the job's changes, until every change is done."""
    imports = engine.stores.imports
    started = time.monotonic()
    fed = feed is None
    meter = RateMeter()

    async def report() -> None:
        while True:
            current = await imports.get(import_id)
            if current is not None:
                progress = current.progress()
                rate = meter.add(time.monotonic(), progress.done)
                progress.rate = rate
                if rate > 0:
                    left = (
                        progress.total if progress.total is not None else progress.received
                    ) - progress.done
                    progress.eta_s = max(left, 0) / rate
                await imports.set_rate(import_id, rate)
                if on_progress:
                    on_progress(progress)
            await asyncio.sleep(poll_s)

    def idle() -> bool:
        return fed

    reporter = asyncio.create_task(report())
    worker = asyncio.create_task(engine.worker.run(until_idle=idle))
    try:
        if feed is not None:
            await feed()
            fed = True
            engine.worker.wakeup.set()
        await worker
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        if not worker.done():
            worker.cancel()
    final = await imports.get(import_id)
    assert final is not None
    progress = final.progress()  # finished: the average rate over the whole import
    elapsed = time.monotonic() - started
    if final.finished_at is None:  # not complete (changes held back): this run's average
        progress.rate = progress.done / elapsed if elapsed > 0 else 0.0
    progress.eta_s = None
    if on_progress:
        on_progress(progress)
    reasons = await imports.reason_summary(import_id)
    return ImportReport(progress, final.api_calls, elapsed, reasons)


async def link_existing_accounts(engine: Engine, tenant: str, import_id: str | None = None) -> int:
    """List the accounts of the tenant's IdP for an import with --link-existing; the calls count
    for `import_id`."""
    policy = engine.policies(tenant)
    if policy is None or policy.idp not in engine.idps:
        return 0
    with metered() as meter:
        try:
            return await list_org_accounts(engine.stores.links, engine.idps[policy.idp])
        finally:
            if import_id is not None:
                await engine.stores.imports.add_api_calls(import_id, meter.calls)
