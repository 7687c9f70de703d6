"""`idsync tokens`: API tokens with a role on some tenants (docs/deployment.md, "Access").

`create` prints the new token once (the store keeps only its hash); `list` shows ids, names,
roles, tenants and states, never a token; `revoke ID` ends a token at once. Each create and
revoke is recorded in the audit trail as `cli:USER@HOST`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.store import Store
from idsync.adapters.store.features.tokens import list_tokens
from idsync.cli.common import (
    EXIT_OK,
    ConfigOption,
    cli_actor,
    console,
    err_console,
    fail_usage,
    settings_or_exit,
)
from idsync.lifecycle.tokens import TokenRequestError, make_token, parse_expiry, revoke

app = typer.Typer(help="API tokens: a role (viewer, operator, admin) on some tenants.", no_args_is_help=True)


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC") if t else "-"


@app.command("create")
def create_command(
    role: str = typer.Option(..., "--role", "-r", help="viewer, operator or admin"),
    tenant: list[str] = typer.Option(
        [],
        "--tenant",
        "-t",
        help="A tenant the token covers (repeat for more); none: every tenant (admin only)",
    ),
    name: str | None = typer.Option(None, "--name", "-n", help="Names the token in the audit trail"),
    expires: str | None = typer.Option(
        None, "--expires", help="Lifetime: 90d, 12h, 30m (default: until revoked)"
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Make a token and print it once: store it where the caller keeps secrets."""
    settings = settings_or_exit(config)
    actor = cli_actor()
    label = name or f"{role}-{'-'.join(tenant) or 'all'}-{time.strftime('%Y%m%d%H%M%S')}"
    store = Store(settings.store.url)
    try:
        made = make_token(
            store,
            settings,
            name=label,
            role=role,
            tenants=tenant,
            expires_in_s=parse_expiry(expires),
            actor=actor,
        )
    except TokenRequestError as exc:
        fail_usage(str(exc))
    finally:
        store.close()
    row = made.row
    scope = ", ".join(row.tenants) or "every tenant"
    err_console.print(
        f"token [bold]{row.name}[/] ({row.id}): {row.role.label} on {scope}, "
        f"expires {_when(row.expires_at) if row.expires_at else 'never'}. It is shown only now:"
    )
    print(made.token)  # alone on stdout, so `TOKEN=$(idsync tokens create ...)` works
    raise typer.Exit(EXIT_OK)


@app.command("list")
def list_command(
    all_: bool = typer.Option(False, "--all", help="Revoked tokens too"), config: Path | None = ConfigOption
) -> None:
    """The tokens: id, name, role, tenants, state, who made them (never a token)."""
    store = Store(settings_or_exit(config).store.url)
    try:
        rows = list_tokens(store, include_revoked=all_)
    finally:
        store.close()
    now = time.time()
    table = Table(title="API tokens")
    for col in ("id", "name", "role", "tenants", "state", "expires", "created", "by"):
        table.add_column(col, no_wrap=col in ("id", "name", "role", "state"))
    for r in rows:
        table.add_row(
            r.id,
            r.name,
            r.role.label,
            ", ".join(r.tenants) or "*",
            r.state(now),
            _when(r.expires_at),
            _when(r.created_at),
            r.created_by,
        )
    console.print(table)


@app.command("revoke")
def revoke_command(
    token_id: str = typer.Argument(..., help="The token's id (idsync tokens list)"),
    config: Path | None = ConfigOption,
) -> None:
    """End a token at once (and the dashboard sessions signed in with it)."""
    store = Store(settings_or_exit(config).store.url)
    try:
        row = revoke(store, token_id, actor=cli_actor())
    finally:
        store.close()
    if row is None:
        fail_usage(f"no token {token_id!r} (idsync tokens list shows them)")
    console.print(f"revoked token {row.name} ({row.id})")
