"""`idsync cancel|pause|resume IMPORT_ID`: stop and steer an import (docs/migration.md).

They change the import's state in the store, so they act on a running `idsync serve` (every
instance on PostgreSQL) as well as on an `idsync import` in another terminal; both see it
within a claim. Every action goes to the audit trail as `cli:USER@HOST`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from idsync.adapters.store import Store
from idsync.adapters.store.aio import AsyncStore, Runner, sql_stores
from idsync.cli.common import EXIT_FAILURES, ConfigOption, cli_actor, console, err_console, settings_or_exit
from idsync.domain.models import ImportControl
from idsync.lifecycle.controls import Controlled, ControlRefused, UnknownImport, control_import

ImportArg = typer.Argument(..., help="The import (or activation job) id; `idsync status` lists them.")


def _control(config: Path | None, import_id: str, control: ImportControl) -> Controlled:
    settings = settings_or_exit(config)

    async def main() -> Controlled:
        store = Store(settings.store.url)
        run = Runner(store.dialect)
        try:
            stores = sql_stores(store, run, settings.safety_rules)
            return await control_import(stores, AsyncStore(store, run), import_id, control, actor=cli_actor())
        finally:
            run.close()
            store.close()

    try:
        return asyncio.run(main())
    except (UnknownImport, ControlRefused) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_FAILURES) from None


def cancel_command(import_id: str = ImportArg, config: Path | None = ConfigOption) -> None:
    """Cancel an import: users not yet sent end `cancelled` in its results; those in flight finish."""
    done = _control(config, import_id, ImportControl.CANCEL)
    p = done.record.progress()
    console.print(
        f"import [bold]{import_id}[/] cancelled (was {done.before.value}): {p.cancelled:,} users "
        f"cancelled, {p.pending:,} in flight finish; `idsync status {import_id}` shows the results"
    )


def pause_command(import_id: str = ImportArg, config: Path | None = ConfigOption) -> None:
    """Pause an import: nothing more of it is sent until `idsync resume`, across restarts."""
    done = _control(config, import_id, ImportControl.PAUSE)
    p = done.record.progress()
    console.print(
        f"import [bold]{import_id}[/] paused: {p.pending:,} users wait (those in flight finish); "
        f"`idsync resume {import_id}` goes on"
    )


def resume_command(import_id: str = ImportArg, config: Path | None = ConfigOption) -> None:
    """Resume a paused import (a running service goes on at once; a file import that was
    stopped goes on with `idsync import FILE --import-id IMPORT_ID`)."""
    done = _control(config, import_id, ImportControl.RESUME)
    p = done.record.progress()
    console.print(f"import [bold]{import_id}[/] resumed: {p.pending:,} users to go")
