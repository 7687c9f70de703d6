"""`idsync inbound ...`: Okta -> application integrations (docs/inbound.md).

Commands work on the store, so they work with or without a running `idsync serve`: `sync` and
`resume` run the work themselves when no service holds the integration, and otherwise leave it
queued for the service (which applies it within a second).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from idsync.adapters.store.inbound import LogEntry
from idsync.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    ConfigOption,
    console,
    fail_usage,
)
from idsync.cli.inbound_common import NameArg, Verbose, print_entry, run_inbound
from idsync.cli.inbound_safety import app as safety_app
from idsync.cli.inbound_safety import print_preview
from idsync.errors import IdSyncError
from idsync.inbound.service import InboundService
from idsync.inbound.sync import Tally, preview_sync
from idsync.inbound.worker import Worker

app = typer.Typer(
    help="Okta -> application sync: initial sync, event hooks, pause/resume, log.", no_args_is_help=True
)

_run = run_inbound
_print_entry = print_entry
app.add_typer(safety_app, name="safety")


async def _burst(service: InboundService, name: str, entry: LogEntry) -> LogEntry:
    """Run the queued request here unless a running service holds the integration."""
    await Worker(service, owner=f"cli:{time.time():.0f}").burst(name)
    ctx = service.context(name)
    latest = await ctx.db.call(ctx.runlog.get, entry.id)
    return latest or entry


def _finish(entry: LogEntry) -> None:
    _print_entry(entry)
    if entry.status == "queued":
        console.print("queued: a running idsync service holds this integration and will run it (see `log`)")
    raise typer.Exit(EXIT_FAILURES if entry.status in ("failed", "partial") else EXIT_OK)


@app.command("sync")
def sync_command(
    name: str = NameArg,
    delta: bool = typer.Option(False, "--delta", help="Only users changed since the last sync (or --since)."),
    since: str | None = typer.Option(
        None, "--since", help="Delta start, an Okta timestamp (2024-05-01T00:00:00.000Z)."
    ),
    queue_only: bool = typer.Option(False, "--queue-only", help="Only queue it for the running service."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what it would change (and what the safety threshold would hold)."
    ),
    config: Path | None = ConfigOption,
    verbose: bool = Verbose,
) -> None:
    """Bring Okta's users into the application (re-runnable; deploys a removed integration again)."""
    if dry_run:
        _preview(name, delta, since, config, verbose)
        return

    async def work(service: InboundService) -> LogEntry:
        entry = await service.request_sync(
            name, "delta" if delta or since else "initial", requested_by="cli", since=since
        )
        return entry if queue_only else await _burst(service, name, entry)

    mode = "delta" if delta or since else "initial"
    _finish(_run(config, verbose, work, (f"inbound.sync.{mode}", name)))


def _preview(name: str, delta: bool, since: str | None, config: Path | None, verbose: bool) -> None:
    async def work(service: InboundService) -> tuple[Tally, int, int]:
        ctx = service.context(name)
        start = since
        if delta and start is None:
            integration = await service.integration(name)
            start = integration.delta_cursor
            if start is None:
                raise IdSyncError(f"inbound {name}: no delta cursor yet (run an initial sync first)")
        linked = await ctx.db.call(ctx.links.count_links, name)
        return await preview_sync(ctx, start), linked, ctx.safety.allowance(linked)

    tally, linked, allowance = _run(config, verbose, work)
    print_preview(name, tally, linked, allowance)


@app.command("pause")
def pause_command(name: str = NameArg, config: Path | None = ConfigOption, verbose: bool = Verbose) -> None:
    """Stop applying events; deliveries are kept and caught up on `resume`."""
    integration = _run(config, verbose, lambda s: s.pause(name), ("inbound.pause", name))
    console.print(f"{name}: {integration.state}")


@app.command("resume")
def resume_command(
    name: str = NameArg,
    queue_only: bool = typer.Option(False, "--queue-only", help="Leave the catch-up to the running service."),
    config: Path | None = ConfigOption,
    verbose: bool = Verbose,
) -> None:
    """Apply held events and catch up with a delta sync of everything changed since the pause."""

    async def work(service: InboundService) -> LogEntry | None:
        _, entry = await service.resume(name)
        return entry if entry is None or queue_only else await _burst(service, name, entry)

    entry = _run(config, verbose, work, ("inbound.resume", name))
    if entry is None:
        console.print(f"{name}: not paused")
        return
    _finish(entry)


@app.command("remove")
def remove_command(
    name: str = NameArg,
    keep_hook: bool = typer.Option(False, "--keep-hook", help="Leave the Okta event hook in place."),
    config: Path | None = ConfigOption,
    verbose: bool = Verbose,
) -> None:
    """Clear the links (application users are not changed otherwise); delete the Okta event hook."""
    result = _run(
        config, verbose, lambda s: s.remove(name, delete_hook=not keep_hook), ("inbound.remove", name)
    )
    console.print(
        f"{name}: removed; {result['links_cleared']} link(s) cleared, {result['events_dropped']} unapplied "
        f"event(s) dropped; hook: {result['hook'] or 'none registered'}"
    )


@app.command("register-hook")
def register_hook_command(
    name: str = NameArg, config: Path | None = ConfigOption, verbose: bool = Verbose
) -> None:
    """Create/update the Okta event hook and verify it (the service must be reachable at public_url)."""
    result = _run(config, verbose, lambda s: s.register_hook(name), ("inbound.hook", name))
    console.print(
        f"event hook {result['id']} at {result['uri']}: {result['status']}, {result['verificationStatus']}"
    )


@app.command("status")
def status_command(
    name: str | None = typer.Argument(None, help="One integration; without it, all."),
    as_json: bool = typer.Option(False, "--json"),
    config: Path | None = ConfigOption,
) -> None:
    """State, links, queued/held events and the latest syncs of each integration."""

    async def work(service: InboundService) -> list[dict[str, Any]]:
        return [await service.status(n) for n in ([name] if name else list(service.contexts))]

    statuses = _run(config, False, work)
    if as_json:
        console.print_json(json.dumps(statuses, default=str))
        return
    table = Table(title="inbound integrations")
    for col in ("name", "state", "target", "links", "events", "last sync"):
        table.add_column(col)
    for s in statuses:
        last = s["last_syncs"][-1] if s["last_syncs"] else None
        events = ", ".join(f"{n} {k}" for k, n in sorted(s["events"].items())) or "-"
        table.add_row(
            s["name"],
            s["state"],
            s["target"],
            str(s["links"]),
            events,
            f"{last['kind']} {last['status']}" if last else "-",
        )
    console.print(table)


@app.command("log")
def log_command(
    name: str = NameArg,
    kind: str | None = typer.Option(
        None, "--kind", help="initial_sync, delta_sync, event, delivery, hook, ..."
    ),
    status: str | None = typer.Option(None, "--status", help="e.g. skipped, failed, refused"),
    entry_id: int | None = typer.Option(
        None, "--entry", help="One entry, with its skipped users and errors."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = typer.Option(False, "--json"),
    config: Path | None = ConfigOption,
) -> None:
    """The execution log: every sync and event with its status, errors and skipped users."""

    async def work(service: InboundService) -> list[LogEntry]:
        ctx = service.context(name)
        if entry_id is not None:
            entry = await ctx.db.call(ctx.runlog.get, entry_id)
            return [entry] if entry is not None and entry.integration == name else []
        return await ctx.db.call(ctx.runlog.entries, name, kind=kind, status=status, limit=limit)

    entries = _run(config, False, work)
    if as_json:
        console.print_json(json.dumps([e.as_dict() for e in entries], default=str))
        return
    if entry_id is not None:
        if not entries:
            fail_usage(f"no log entry #{entry_id} for {name}")
        _print_entry(entries[0])
        return
    table = Table(title=f"{name}: execution log (newest first)")
    for col in ("id", "time", "kind", "status", "summary"):
        table.add_column(col)
    for e in entries:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.started_at))
        table.add_row(str(e.id), stamp, e.kind, e.status, (e.summary or "")[:100])
    console.print(table)
