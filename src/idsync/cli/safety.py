"""`idsync safety`: runs held by the safety threshold (domain/safety.py), released or discarded."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.store import Store
from idsync.adapters.store.features.audit import record_audit
from idsync.adapters.store.features.safety import SafetyRun
from idsync.adapters.store.features.safety_ops import discard_run, list_runs, release_run
from idsync.cli.common import EXIT_OK, ConfigOption, cli_actor, console, fail_usage, settings_or_exit

app = typer.Typer(
    help="The safety threshold: runs that would deactivate or delete too many users are held.",
    no_args_is_help=True,
)


def _store(config: Path | None) -> Store:
    return Store(settings_or_exit(config).store.url)


@app.command("list")
def list_command(
    tenant: str | None = typer.Option(None, "--tenant", "-t"), config: Path | None = ConfigOption
) -> None:
    """Runs that deactivated or deleted users; `tripped` ones hold changes until released."""
    store = _store(config)
    try:
        runs = list_runs(store, tenant=tenant)
    finally:
        store.close()
    table = Table(title="safety threshold: runs")
    for col in ("run", "state", "linked users", "allowance", "let through", "held", "discarded"):
        table.add_column(col, justify="left" if col in ("run", "state") else "right")
    for r in runs:
        state = r.state + (" (forced)" if r.forced else "")
        table.add_row(
            r.run_id,
            state,
            f"{r.linked_users:,}",
            f"{r.allowance:,}",
            f"{r.admitted:,}",
            f"{r.held:,}",
            f"{r.discarded:,}",
        )
    console.print(table)


def _act(config: Path | None, ref: str, verb: str) -> tuple[SafetyRun, int]:
    store = _store(config)
    try:
        done = release_run(store, ref) if verb == "release" else discard_run(store, ref)
        if done is not None:
            run, n = done
            record_audit(
                store,
                actor=cli_actor(),
                action=f"safety.{verb}",
                target=run.run_id,
                tenant=run.tenant,
                outcome="ok",
                detail={"changes": n},
            )
    finally:
        store.close()
    if done is None:
        fail_usage(f"no safety run {ref!r} (idsync safety list shows them)")
    return done


@app.command("release")
def release_command(
    run: str = typer.Argument(..., help="The run id (tenant/import) or the import id."),
    config: Path | None = ConfigOption,
) -> None:
    """Send what the run holds, and everything it sends from now on (a running service picks
    the changes up from the queue; `idsync import --import-id` resumes a file import)."""
    found, n = _act(config, run, "release")
    console.print(f"released {n:,} held changes of {found.run_id}; {found.describe()}")
    raise typer.Exit(EXIT_OK)


@app.command("discard")
def discard_command(
    run: str = typer.Argument(..., help="The run id (tenant/import) or the import id."),
    config: Path | None = ConfigOption,
) -> None:
    """Drop the run's held deactivations/deletions: each ends `skipped` (reason safety_threshold)."""
    found, n = _act(config, run, "discard")
    console.print(f"discarded {n:,} deactivations/deletions of {found.run_id}; {found.describe()}")
    raise typer.Exit(EXIT_OK)
