"""`idsync audit`: the audit trail (who did what, when, to what, and the outcome), newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.store import Store
from idsync.adapters.store.features.audit import list_audit
from idsync.cli.common import ConfigOption, console, settings_or_exit


def audit_command(
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Only this tenant"),
    action: str | None = typer.Option(
        None, "--action", "-a", help="An action or its prefix: safety, token.create"
    ),
    actor: str | None = typer.Option(None, "--actor", help="e.g. token:efs-app, sso:ann@example.com"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line"),
    config: Path | None = ConfigOption,
) -> None:
    """Show the audit trail: forced and discarded runs, retries, activation jobs, portal
    registrations, tokens, inbound syncs, dashboard sign-ins; refusals too."""
    store = Store(settings_or_exit(config).store.url)
    try:
        entries = list_audit(store, tenant=tenant, action=action, actor=actor, limit=limit)
    finally:
        store.close()
    if as_json:
        for e in entries:
            print(json.dumps(e.as_dict(), sort_keys=True))
        return
    table = Table(title="audit trail (newest first)")
    for col in ("when", "who", "action", "target", "tenant", "outcome", "detail"):
        table.add_column(col, overflow="fold", no_wrap=col in ("action", "outcome"))
    for e in entries:
        detail = ", ".join(f"{k}: {v}" for k, v in e.detail.items())
        when = datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, e.actor, e.action, e.target, e.tenant or "-", e.outcome, detail)
    console.print(table)
