"""`idsync import` and `idsync status`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.files import FileOptions
from idsync.adapters.store.features.audit import record_audit
from idsync.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    ConfigOption,
    DelimiterOption,
    EncodingOption,
    cli_actor,
    console,
    fail_usage,
    handle_errors,
    import_file_options,
    policy_or_exit,
    progress_bar,
    settings_or_exit,
    setup_logging,
)
from idsync.config import Settings
from idsync.domain.models import ImportProgress, ImportState
from idsync.engine.jobs import ImportReport, new_import_id
from idsync.errors import IdSyncError
from idsync.lifecycle.imports import run_file_import
from idsync.lifecycle.modes import check_mode_switches
from idsync.runtime import Runtime

COUNTS = ("created", "updated", "activated", "deactivated", "deleted", "unchanged", "skipped", "failed")


def import_command(
    file: Path = typer.Argument(..., help="CSV or JSONL (one change message per line).", dir_okay=False),
    tenant: str = typer.Option(..., "--tenant", "-t", help="The installation the users belong to."),
    config: Path | None = ConfigOption,
    import_id: str | None = typer.Option(None, "--import-id", help="Resume this import (or name a new one)."),
    source: str | None = typer.Option(
        None, "--source", help="Source of CSV rows that have no 'source' column."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Deactivate/delete even beyond the tenant's safety threshold (max_deprovision_share).",
    ),
    link_existing: bool = typer.Option(
        False,
        "--link-existing",
        help="List the org's accounts first (200 a page) and match them by login under the tenant's "
        "existing_account policy, instead of a failed create per account that exists.",
    ),
    encoding: str | None = EncodingOption,
    delimiter: str | None = DelimiterOption,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Sync the users of FILE to the tenant's IdP, with progress; exit 1 when some users failed or
    did not finish (a paused import, changes held by the safety threshold)."""
    setup_logging(verbose)
    settings = settings_or_exit(config)
    options = import_file_options(file, source, encoding, delimiter)
    policy_or_exit(settings, tenant)
    import_id = import_id or new_import_id()
    try:
        report = asyncio.run(_run(settings, file, tenant, import_id, source, force, link_existing, options))
    except IdSyncError as exc:
        raise handle_errors(exc) from None
    print_report(report)
    held = held_by_safety(settings, tenant, import_id)
    unfinished = say_unfinished(report.progress, held)
    raise typer.Exit(EXIT_FAILURES if report.progress.failed or held or unfinished else EXIT_OK)


def say_unfinished(p: ImportProgress, held: int) -> int:
    """Users of the import with no result yet, besides those the safety threshold holds: a run
    that ends with any is not a success (a paused import, or one the run could not finish)."""
    left = p.pending - held
    if left <= 0 or p.state in (ImportState.COMPLETED, ImportState.CANCELLED):
        return 0
    if p.state is ImportState.PAUSED:
        console.print(
            f"[bold yellow]paused:[/] {left:,} users of import {p.import_id} wait; "
            f"`idsync resume {p.import_id}`, then run this command again with --import-id {p.import_id}"
        )
    else:
        console.print(
            f"[bold yellow]not finished:[/] {left:,} users of import {p.import_id} have no result yet; "
            f"run this command again with --import-id {p.import_id} to go on"
        )
    return left


def held_by_safety(settings: Settings, tenant: str, import_id: str) -> int:
    """Say so when the safety threshold holds changes of this import; how many."""
    from idsync.adapters.store import Store
    from idsync.adapters.store.features.safety_ops import find_run

    store = Store(settings.store.url)
    try:
        run = find_run(store, f"{tenant}/{import_id}")
    finally:
        store.close()
    if run is None or run.state != "tripped" or not run.held:
        return 0
    console.print(
        f"[bold yellow]safety threshold:[/] {run.describe()}.\n"
        f"Nothing more of it is sent. Release: idsync safety release {run.run_id} "
        f"(or run the import again with --force); drop them: idsync safety discard {run.run_id}"
    )
    return run.held


async def _run(
    settings: Settings,
    file: Path,
    tenant: str,
    import_id: str,
    source: str | None,
    force: bool = False,
    link_existing: bool = False,
    options: FileOptions = FileOptions(),
) -> ImportReport:
    console.print(f"import [bold]{import_id}[/] of {file} for tenant {tenant}")
    with progress_bar() as bar:
        task = bar.add_task("syncing", total=None, rate=0.0)

        def on_progress(p: ImportProgress) -> None:
            bar.update(task, total=p.total, completed=p.done, rate=p.rate)

        async with Runtime(settings) as runtime:
            await check_mode_switches(runtime)
            if force:  # past the safety threshold: recorded before anything is sent
                await runtime.db.call(
                    record_audit,
                    runtime.store,
                    actor=cli_actor(),
                    action="import.force",
                    target=f"{tenant}/{import_id}",
                    tenant=tenant,
                    outcome="ok",
                    detail={"file": file.name},
                )
            return await run_file_import(
                runtime,
                file,
                tenant=tenant,
                import_id=import_id,
                source=source,
                on_progress=on_progress,
                force=force,
                link_existing=link_existing,
                options=options,
            )


def print_report(report: ImportReport) -> None:
    p = report.progress
    console.print(f"[bold]import {p.import_id}[/] ({p.state.value})")
    table = Table(show_header=True)
    table.add_column("result")
    table.add_column("users", justify="right")
    table.add_row("received", f"{p.received:,}")
    for name in COUNTS:
        value = getattr(p, name)
        if value or name in ("created", "unchanged", "skipped", "failed"):
            table.add_row(name, f"{value:,}")
    console.print(table)
    if report.reasons:
        reasons = Table(title="failed and skipped, by reason")
        for col in ("status", "reason", "users", "example"):
            reasons.add_column(col, justify="right" if col == "users" else "left")
        for status, code, n, example in report.reasons:
            reasons.add_row(status, code, f"{n:,}", example[:90])
        console.print(reasons)
    console.print(
        f"API calls: {report.api_calls:,}   time: {report.elapsed_s:.1f} s   rate: {p.rate:.0f} users/s"
    )


def status_command(
    import_id: str | None = typer.Argument(None, help="An import id; without it, the latest imports."),
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show the progress and counts of an import (or list recent imports)."""
    from idsync.adapters.store import Store

    settings = settings_or_exit(config)
    store = Store(settings.store.url)
    try:
        if import_id is None:
            records = store.imports.recent(limit=20)
            if as_json:
                console.print_json(json.dumps([r.progress().model_dump(mode="json") for r in records]))
                return
            table = Table(title="imports")
            for col in ("import", "tenant", "state", "done", "total", "failed", "skipped", "API calls"):
                table.add_column(col)
            for r in records:
                p = r.progress()
                table.add_row(
                    p.import_id,
                    p.tenant,
                    p.state.value,
                    f"{p.done:,}",
                    f"{p.total or p.received:,}",
                    f"{p.failed:,}",
                    f"{p.skipped:,}",
                    f"{p.api_calls:,}",
                )
            console.print(table)
            return
        record = store.imports.get(import_id)
        if record is None:
            fail_usage(f"no import {import_id!r}")
        progress = record.progress()
        if as_json:
            console.print_json(
                json.dumps(
                    progress.model_dump(mode="json") | {"done": progress.done, "pending": progress.pending}
                )
            )
            return
        elapsed = (record.finished_at or record.updated_at) - record.started_at
        print_report(
            ImportReport(progress, record.api_calls, elapsed, store.imports.reason_summary(import_id))
        )
    finally:
        store.close()
