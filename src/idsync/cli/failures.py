"""`idsync failures` (every failed or skipped user of an import, with the reason; CSV export) and
`idsync retry` (send an import's failed users again)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.store import Store
from idsync.adapters.store.features.audit import record_audit
from idsync.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    ConfigOption,
    cli_actor,
    console,
    fail_usage,
    handle_errors,
    progress_bar,
    settings_or_exit,
    setup_logging,
)
from idsync.cli.imports import print_report
from idsync.config import Settings
from idsync.domain.models import ImportProgress, Status
from idsync.engine.jobs import ImportReport, run_job
from idsync.errors import IdSyncError
from idsync.lifecycle.failures import NOT_RETRIED, iter_failures, retry_counts, write_csv
from idsync.runtime import Runtime


def failures_command(
    import_id: str = typer.Argument(..., help="The import (or activation job) id."),
    csv_file: Path | None = typer.Option(
        None, "--csv", help="Write every row to this CSV file.", dir_okay=False
    ),
    only: Status | None = typer.Option(None, "--only", help="Only 'failed' or only 'skipped'."),
    config: Path | None = ConfigOption,
) -> None:
    """List every failed or skipped user of an import with the reason (exit 2: no such import)."""
    settings = settings_or_exit(config)
    if only is not None and only not in (Status.FAILED, Status.SKIPPED):
        fail_usage("--only: must be failed or skipped")
    statuses: list[Status] = [only] if only else [Status.FAILED, Status.SKIPPED]
    store = Store(settings.store.url)
    try:
        record = store.imports.get(import_id)
        if record is None:
            fail_usage(f"no import {import_id!r}")
        summary = [s for s in store.imports.reason_summary(import_id) if s[0] in statuses]
        if csv_file is not None:
            with csv_file.open("w", encoding="utf-8", newline="") as fh:
                written = write_csv(iter_failures(store, import_id, statuses=statuses), fh)
        else:
            written = _print_rows(store, import_id, statuses)
    finally:
        store.close()
    p = record.progress()
    reasons = Table(title=f"import {import_id} ({p.state.value}): failed {p.failed:,}, skipped {p.skipped:,}")
    for col in ("status", "reason", "users", "example"):
        reasons.add_column(col, justify="right" if col == "users" else "left")
    for status, code, n, example in summary:
        reasons.add_row(status, code, f"{n:,}", example[:90])
    console.print(reasons)
    if csv_file is not None:
        console.print(f"wrote {written:,} rows to {csv_file}")
    raise typer.Exit(EXIT_OK)


def _print_rows(store: Store, import_id: str, statuses: list[Status]) -> int:
    table = Table(title="failed and skipped users")
    for col in ("status", "source", "key", "login", "reason"):
        table.add_column(col, no_wrap=True)
    table.add_column("message", overflow="fold")
    n = 0
    for row in iter_failures(store, import_id, statuses=statuses):
        table.add_row(row.status, row.source, row.key, row.login, row.reason_code, row.reason[:120])
        n += 1
    if n:
        console.print(table)
    else:
        console.print("no failed or skipped users")
    return n


def retry_command(
    import_id: str = typer.Argument(..., help="The import (or activation job) whose failed users to retry."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say how many would be retried; change nothing."),
    config: Path | None = ConfigOption,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Send an import's failed users again (not lines rejected as invalid: fix and re-import those)."""
    setup_logging(verbose)
    settings = settings_or_exit(config)
    store = Store(settings.store.url)
    try:
        if store.imports.get(import_id) is None:
            fail_usage(f"no import {import_id!r}")
        retried, kept = retry_counts(store, import_id)
    finally:
        store.close()
    left = (
        f"; {kept:,} rejected as invalid input stay failed (fix the input and import it again)"
        if kept
        else ""
    )
    if dry_run:
        console.print(
            f"[bold]dry run[/]: import {import_id}: {retried:,} failed users would be sent again{left}"
        )
        console.print("nothing was changed (dry run)")
        raise typer.Exit(EXIT_OK)
    if retried == 0:
        console.print(f"import {import_id}: no failed users to send again{left}")
        raise typer.Exit(EXIT_OK)
    try:
        report = asyncio.run(_retry(settings, import_id))
    except IdSyncError as exc:
        raise handle_errors(exc) from None
    console.print(f"retried {report[1]:,} failed users{left}")
    print_report(report[0])
    still = report[0].progress.failed - kept
    raise typer.Exit(EXIT_FAILURES if still > 0 else EXIT_OK)


async def _retry(settings: Settings, import_id: str) -> tuple[ImportReport, int]:
    async with Runtime(settings) as runtime:
        stores = runtime.stores
        requeued = await stores.imports.requeue_failed(import_id, except_codes=NOT_RETRIED)
        record = await stores.imports.get(import_id)
        await runtime.db.call(
            record_audit,
            runtime.store,
            actor=cli_actor(),
            action="import.retry",
            target=import_id,
            tenant=record.tenant if record else None,
            outcome="ok",
            detail={"requeued": requeued},
        )
        console.print(f"import [bold]{import_id}[/]: {requeued:,} failed users queued again")
        with progress_bar() as bar:
            task = bar.add_task("retrying", total=requeued or None, rate=0.0)
            base: list[int] = []

            def on_progress(p: ImportProgress) -> None:
                if not base:
                    base.append(p.done)
                bar.update(task, completed=max(p.done - base[0], 0), rate=p.rate)

            report = await run_job(runtime.engine, import_id, None, on_progress=on_progress)
        return report, requeued
