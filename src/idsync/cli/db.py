"""`idsync db`: the state store's schema: what is applied, what an upgrade would apply."""

from __future__ import annotations

import datetime
from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.store import Store
from idsync.adapters.store.engine import build_engine
from idsync.adapters.store.features import load as load_features
from idsync.adapters.store.schema import migration_status
from idsync.cli.common import EXIT_FAILURES, EXIT_OK, ConfigOption, console, settings_or_exit, setup_logging

app = typer.Typer(
    help="The state store's schema (upgrades also run when any command starts).", no_args_is_help=True
)


def _status(url: str) -> tuple[list[tuple[str, str, float]], list[tuple[str, str]]]:
    """The migrations applied and pending, read without applying any (the store applies on open)."""
    load_features()
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            return migration_status(conn)
    finally:
        engine.dispose()


@app.command("status")
def status_command(config: Path | None = ConfigOption) -> None:
    """The migrations applied and those an upgrade would apply; nothing is changed. Exit 1 if any
    are pending."""
    applied, pending = _status(settings_or_exit(config).store.url)
    table = Table(title=f"store schema: {len(applied)} applied, {len(pending)} pending")
    for col in ("migration", "state", "applied", "what"):
        table.add_column(col)
    for name, what, when in applied:
        stamp = datetime.datetime.fromtimestamp(when, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(name, "applied", stamp, what)
    for name, what in pending:
        table.add_row(name, "[yellow]pending[/]", "", what)
    console.print(table)
    raise typer.Exit(EXIT_FAILURES if pending else EXIT_OK)


@app.command("upgrade")
def upgrade_command(config: Path | None = ConfigOption) -> None:
    """Apply the pending migrations (one transaction; other instances wait for it)."""
    setup_logging(False)  # what a migration reports (e.g. links detached by core_0004) is shown
    url = settings_or_exit(config).store.url
    _, pending = _status(url)
    Store(url).close()  # opening the store applies what is pending
    if pending:
        console.print(f"applied {len(pending)} migration(s): " + ", ".join(n for n, _ in pending))
    else:
        console.print("the store schema is up to date")
