"""`idsync tenants`: the tenants with their sync mode and users; `idsync tenants set-mode` switches
a mode at runtime (docs/migration.md §5): every running instance applies it within seconds."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from idsync.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    ConfigOption,
    cli_actor,
    console,
    err_console,
    fail_usage,
    policy_or_exit,
    settings_or_exit,
)
from idsync.config import Settings
from idsync.domain.policy import SyncMode
from idsync.lifecycle.activation import ActivationEstimate
from idsync.lifecycle.modes import ModeConflict, ModeSwitch, UnknownTenant, estimate_switch, set_mode
from idsync.lifecycle.report import bucket_line, duration_line
from idsync.lifecycle.tenants import StoreHost, TenantInfo, list_tenants

app = typer.Typer(
    help="Tenants: their sync mode (switched at runtime with set-mode) and their users.",
    invoke_without_command=True,
)
MODES = ", ".join(m.value for m in SyncMode)


@app.callback()
def tenants_command(
    ctx: typer.Context,
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per tenant and line."),
) -> None:
    """List the tenants: sync mode in force (who set it, when), the configured mode, users."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_or_exit(config)

    async def main() -> list[TenantInfo]:
        async with StoreHost(settings) as host:
            return await list_tenants(host)

    tenants = asyncio.run(main())
    if as_json:
        for t in tenants:
            print(json.dumps(t.as_dict(), sort_keys=True))
        return
    table = Table(title="tenants")
    for col in (
        "tenant",
        "mode",
        "set by",
        "since",
        "configured",
        "linked",
        "staged",
        "active",
        "deactivated",
    ):
        table.add_column(
            col, justify="right" if col in ("linked", "staged", "active", "deactivated") else "left"
        )
    for t in tenants:
        since = (
            datetime.fromtimestamp(t.changed_at, UTC).strftime("%Y-%m-%d %H:%M UTC") if t.changed_at else "-"
        )
        table.add_row(
            t.tenant,
            t.mode,
            t.set_by or "-",
            since,
            t.configured_mode,
            f"{t.linked:,}",
            f"{t.staged:,}",
            f"{t.active:,}",
            f"{t.deprovisioned:,}",
        )
    console.print(table)


@app.command("set-mode")
def set_mode_command(
    tenant: str = typer.Argument(..., help="The tenant (installation)."),
    mode: str = typer.Argument(..., help=f"The new sync mode: {MODES}."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask to confirm a switch that activates users."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Switch the tenant's sync mode now. To sync_and_activate: the staged users' activation is
    estimated first and, once confirmed, started as an activation job."""
    try:
        new = SyncMode(mode)
    except ValueError:
        fail_usage(f"MODE: {mode!r} is not a sync mode (one of {MODES})")
    settings = settings_or_exit(config)
    policy_or_exit(settings, tenant, "TENANT")
    try:
        switch = asyncio.run(_switch(settings, tenant, new, yes))
    except (UnknownTenant, ModeConflict) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_FAILURES) from None
    if switch is None:
        console.print("nothing was changed")
        raise typer.Exit(EXIT_FAILURES)
    console.print(f"tenant [bold]{tenant}[/]: sync mode is now {switch.new} (was {switch.old or 'not set'})")
    if switch.job_id:
        console.print(
            f"activation job [bold]{switch.job_id}[/] queued for {switch.staged:,} staged users: a running "
            f"`idsync serve` works on it (or `idsync activate --tenant {tenant}`); "
            f"`idsync status {switch.job_id}` shows it"
        )
    console.print(f"every running instance applies it within {settings.service.mode_refresh_s:g} s")
    raise typer.Exit(EXIT_OK)


async def _switch(settings: Settings, tenant: str, mode: SyncMode, yes: bool) -> ModeSwitch | None:
    async with StoreHost(settings) as host:
        estimate = await estimate_switch(host, tenant, mode)
        if estimate is not None:
            _print_estimate(estimate)
            if not yes and not typer.confirm("switch and activate them?", default=False):
                return None
        return await set_mode(host, tenant, mode, actor=cli_actor())


def _print_estimate(plan: ActivationEstimate) -> None:
    console.print(f"switching tenant {plan.tenant} to sync_and_activate activates its staged users:")
    console.print(f"  staged users (created, not activated): {plan.staged:,}")
    if plan.policy.send_activation_email:
        console.print(f"  activation e-mails the IdP will send: {plan.emails:,}")
    console.print(f"  API calls: {plan.estimate.calls:,}")
    for b in plan.estimate.buckets:
        console.print(f"  {bucket_line(b, plan.estimate.budget_share)}")
    console.print(f"  {duration_line(plan.estimate)}")
    console.print("  from then on, new users are created active (Okta e-mails them)")
