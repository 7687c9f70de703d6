"""`idsync inbound safety list|release|discard` and `idsync inbound sync --dry-run`: inbound runs
that would deactivate or strip roles from too many users are held (docs/inbound.md, "Safety")."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.store.features.inbound_safety import HeldUser, InboundRun
from idsync.cli.common import EXIT_FAILURES, EXIT_OK, ConfigOption, console
from idsync.cli.inbound_common import NameArg, Verbose, run_inbound
from idsync.inbound.safety import Released, discard_run, release_run, runs_of
from idsync.inbound.service import InboundService
from idsync.inbound.sync import Tally

app = typer.Typer(
    help="Inbound runs held for deactivating or stripping roles from too many users.", no_args_is_help=True
)
RunArg = typer.Argument(..., help="The run: sync-<log entry> or events-<window>, as `list` shows it.")


@app.command("list")
def list_command(name: str = NameArg, config: Path | None = ConfigOption) -> None:
    """The integration's runs that deactivated or stripped users; `tripped` ones hold users."""

    async def work(service: InboundService) -> list[dict[str, object]]:
        return await runs_of(service.context(name))

    runs = run_inbound(config, False, work)
    table = Table(title=f"inbound {name}: safety runs")
    for col in ("run", "state", "linked users", "allowance", "let through", "held", "discarded"):
        table.add_column(col, justify="left" if col in ("run", "state") else "right")
    for r in runs:
        table.add_row(
            *(
                str(r[k])
                for k in ("run_id", "state", "linked_users", "allowance", "admitted", "held", "discarded")
            )
        )
    console.print(table)
    for r in runs:
        for h in r["held_users"]:  # type: ignore[attr-defined]
            console.print(f"  {r['run_id']} holds {h['login'] or h['okta_id']}: {h['harm']} ({h['cause']})")


@app.command("release")
def release_command(
    name: str = NameArg, run: str = RunArg, config: Path | None = ConfigOption, verbose: bool = Verbose
) -> None:
    """Apply what the run holds (each user as Okta has it now) and let the run through (admin)."""

    async def work(service: InboundService) -> Released:
        return await release_run(service.context(name), run)

    done = run_inbound(config, verbose, work, ("inbound.safety.release", f"{name}/{run}"))
    console.print(f"released: {done.run.describe()}")
    console.print(f"held users brought in line: {done.tally.summary()}")
    raise typer.Exit(EXIT_FAILURES if done.tally.counts["failed"] else EXIT_OK)


@app.command("discard")
def discard_command(
    name: str = NameArg, run: str = RunArg, config: Path | None = ConfigOption, verbose: bool = Verbose
) -> None:
    """Drop what the run holds: those users stay as they are; the run stays tripped."""

    async def work(service: InboundService) -> tuple[InboundRun, list[HeldUser]]:
        return await discard_run(service.context(name), run)

    found, dropped = run_inbound(config, verbose, work, ("inbound.safety.discard", f"{name}/{run}"))
    console.print(f"discarded {len(dropped)} held user(s): {found.describe()}")


def print_preview(name: str, tally: Tally, linked: int, allowance: int) -> None:
    """What a sync would change, and whether the safety threshold would hold part of it."""
    console.print(f"[bold]dry run[/] of inbound {name}: nothing was written")
    for status, n in sorted(tally.counts.items()):
        console.print(f"  {status.replace('_', ' ')}: {n}")
    for item in tally.held[:50]:
        console.print(f"  would {item['harm']}: {item.get('login') or item.get('okta_id')}")
    for item in tally.skipped[:50]:
        console.print(f"  skip {item.get('login') or item.get('okta_id')}: {item.get('reason')}")
    for warning in tally.warnings:
        console.print(f"  [yellow]warning[/] {warning}")
    verdict = (
        f"[bold yellow]a real run would be held[/] after {allowance} of them"
        if tally.harmful > allowance
        else "within the allowance"
    )
    console.print(
        f"deactivations or role removals: {tally.harmful}; the allowance is {allowance} "
        f"({linked} linked users): {verdict}"
    )
