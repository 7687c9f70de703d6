"""What the `idsync inbound` commands share: running work on the inbound service (with its audit
entry), the integration argument, printing an execution-log entry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer

from idsync.adapters.store.features.audit import Outcome, record_audit
from idsync.adapters.store.inbound import LogEntry
from idsync.cli.common import cli_actor, console, fail_usage, handle_errors, settings_or_exit, setup_logging
from idsync.config import Settings
from idsync.errors import IdSyncError
from idsync.inbound.service import InboundService
from idsync.lifecycle.modes import check_mode_switches
from idsync.runtime import Runtime

__all__ = ["NameArg", "Verbose", "print_entry", "run_inbound"]

T = TypeVar("T")
NameArg = typer.Argument(..., help="The integration: an [inbound.<name>] section of the configuration.")
Verbose = typer.Option(False, "--verbose", "-v")


def run_inbound(
    config: Path | None,
    verbose: bool,
    work: Callable[[InboundService], Awaitable[T]],
    audited: tuple[str, str] | None = None,
) -> T:
    """Run `work` on the inbound service; `audited` = (action, integration) records it and its
    outcome in the audit trail."""
    setup_logging(verbose)
    settings: Settings = settings_or_exit(config)
    if not settings.inbound:
        fail_usage("no [inbound.<name>] section in the configuration")

    async def main() -> T:
        async with Runtime(settings) as rt:
            await check_mode_switches(rt)
            service = InboundService(rt.settings, rt.db, rt.idps, clock=rt.clock)
            await service.start()
            try:
                result = await work(service)
            except IdSyncError as exc:
                if audited:
                    await _audit(rt, audited, "failed", {"error": str(exc)[:300]})
                raise
            finally:
                await service.aclose()
            if audited:
                await _audit(rt, audited, "ok", None)
            return result

    try:
        return asyncio.run(main())
    except IdSyncError as exc:
        raise handle_errors(exc) from None


async def _audit(
    rt: Runtime, audited: tuple[str, str], outcome: Outcome, detail: dict[str, str] | None
) -> None:
    action, name = audited
    await rt.db.call(
        record_audit,
        rt.store,
        actor=cli_actor(),
        action=action,
        target=name,
        tenant=None,
        outcome=outcome,
        detail=detail,
    )


def print_entry(entry: LogEntry) -> None:
    console.print(f"#{entry.id} {entry.kind} [bold]{entry.status}[/]: {entry.summary or ''}")
    for item in entry.detail.get("skipped", [])[:50]:
        console.print(f"  skipped {item.get('login') or item.get('okta_id')}: {item.get('reason')}")
    for item in entry.detail.get("errors", [])[:50]:
        console.print(
            f"  [red]error[/] {item.get('login') or item.get('okta_id') or ''}: {item.get('reason')}"
        )
    for item in entry.detail.get("held", [])[:50]:
        console.print(
            f"  [yellow]held[/] {item.get('login') or item.get('okta_id')}: {item.get('harm')} "
            "(safety threshold: idsync inbound safety list)"
        )
    for warning in entry.detail.get("warnings", []):
        console.print(f"  [yellow]warning[/] {warning}")
