"""`idsync links`: what the store knows of who holds which IdP account."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.store import Store
from idsync.cli.common import EXIT_FAILURES, EXIT_OK, ConfigOption, console, settings_or_exit

app = typer.Typer(help="Identity links: which identity holds which IdP account.", no_args_is_help=True)


@app.command("conflicts")
def conflicts_command(
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Links the store upgrade found on an account another identity also held (detached, with last
    error link_conflict): resolve each as a login_taken failure (docs/migration.md). Exit 1 if any."""
    store = Store(settings_or_exit(config).store.url)
    try:
        found = store.links.conflicts()
    finally:
        store.close()
    if as_json:
        for c in found:
            typer.echo(json.dumps({k: c[k] for k in ("idp", "idp_id", "tenant", "source", "key", "kept")}))
    elif not found:
        console.print("no link conflicts: every IdP account is held by one identity")
    else:
        table = Table(title=f"{len(found)} links detached by the store upgrade")
        for col in ("tenant", "source", "key", "IdP", "account", "kept by"):
            table.add_column(col)
        for c in found:
            table.add_row(*(str(c[k]) for k in ("tenant", "source", "key", "idp", "idp_id", "kept")))
        console.print(table)
    raise typer.Exit(EXIT_FAILURES if found else EXIT_OK)
