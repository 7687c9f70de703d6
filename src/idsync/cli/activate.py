"""`idsync activate`: phase 2, the activation of a tenant's staged users (the IdP e-mails each).

Safe to stop (Ctrl-C, a crash, a kill) and to run again: the second run resumes the unfinished
job, activates nobody twice and sends no e-mail twice. `--dry-run` changes nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from idsync.adapters.store import Store
from idsync.adapters.store.features.audit import record_audit
from idsync.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    ConfigOption,
    cli_actor,
    console,
    fail_usage,
    handle_errors,
    policy_or_exit,
    progress_bar,
    settings_or_exit,
    setup_logging,
)
from idsync.cli.imports import print_report
from idsync.config import Settings
from idsync.domain.models import ImportProgress
from idsync.domain.policy import SyncMode
from idsync.engine.jobs import ImportReport
from idsync.errors import IdSyncError
from idsync.lifecycle.activation import (
    ActivationEstimate,
    estimate_activation,
    prepare_activation,
    run_activation,
)
from idsync.lifecycle.report import bucket_line, duration_line
from idsync.lifecycle.secrets import SecretsFile
from idsync.runtime import Runtime


def _scope(tenant: str, source: str | None) -> str:
    return f"tenant {tenant}" + (f", source {source}" if source else " (all sources)")


def activate_command(
    tenant: str = typer.Option(..., "--tenant", "-t", help="The installation whose users to activate."),
    source: str | None = typer.Option(None, "--source", help="Only the users of this source."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say how many and how long; change nothing."),
    job_id: str | None = typer.Option(
        None, "--job-id", help="Resume this activation job (default: the unfinished one)."
    ),
    links_file: Path | None = typer.Option(
        None,
        "--links-file",
        help="With send_activation_email = false: write each user's activation link to this "
        "owner-only JSONL file (the application sends them).",
        dir_okay=False,
    ),
    config: Path | None = ConfigOption,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Activate the tenant's staged users (created, not activated) at the governor's pace."""
    setup_logging(verbose)
    settings = settings_or_exit(config)
    links = SecretsFile(links_file) if links_file is not None else None
    if links is not None:
        policy = settings.policy(tenant)
        if policy is not None and policy.send_activation_email:
            fail_usage(
                "--links-file: the tenant sends activation e-mails (send_activation_email = true): no links"
            )
        try:
            links.check()
        except IdSyncError as exc:
            fail_usage(str(exc))
    policy_or_exit(settings, tenant)
    store = Store(settings.store.url)
    try:
        plan = estimate_activation(store, settings, tenant, source)
    finally:
        store.close()
    if dry_run:
        _print_dry_run(plan)
        raise typer.Exit(EXIT_OK)
    if plan.policy.mode is SyncMode.OFF:
        fail_usage(f"tenant {tenant!r} has sync mode off: nothing can be activated")
    if plan.staged == 0 and plan.resumable is None and job_id is None:
        console.print(f"{_scope(tenant, source)}: no staged users, nothing to activate")
        raise typer.Exit(EXIT_OK)
    try:
        report = asyncio.run(_run(settings, plan, job_id))
    except IdSyncError as exc:
        raise handle_errors(exc) from None
    print_report(report)
    if links is not None:
        written = _write_links(settings, report.progress.import_id, links)
        console.print(
            f"activation links of {written:,} users written to {links.path} (readable by its owner only)"
        )
    p = report.progress
    emails = "the IdP sent each an activation e-mail" if plan.policy.send_activation_email else "no e-mails"
    console.print(f"activated {p.activated:,} users of job {p.import_id} in total ({emails})")
    raise typer.Exit(EXIT_FAILURES if p.failed else EXIT_OK)


def _write_links(settings: Settings, job_id: str, links: SecretsFile) -> int:
    """Every activation link of the job's users, one JSON line each."""
    store = Store(settings.store.url)
    written, after = 0, 0
    try:
        while rows := store.imports.results(job_id, limit=1000, after_id=after):
            for row in rows:
                if row.get("activation_url"):
                    links.append(
                        {
                            "tenant": row["tenant"],
                            "source": row["source"],
                            "key": row["key"],
                            "activation_url": row["activation_url"],
                        }
                    )
                    written += 1
            after = int(str(rows[-1]["id"]))
    finally:
        store.close()
    return written


def _print_dry_run(plan: ActivationEstimate) -> None:
    console.print(
        f"[bold]dry run[/]: activation of {_scope(plan.tenant, plan.source)}; sync mode {plan.policy.mode}"
    )
    console.print(f"  staged users (created, not activated): {plan.staged:,} would be activated")
    if plan.policy.send_activation_email:
        console.print(f"  activation e-mails the IdP would send: {plan.emails:,}")
    else:
        console.print(
            "  no activation e-mails (send_activation_email = false): each result carries the user's "
            "activation link (--links-file writes them to an owner-only file)"
        )
    console.print(
        f"  API calls: {plan.estimate.calls:,} (one activation per user; Okta counts them with user creation)"
    )
    for b in plan.estimate.buckets:
        console.print(f"  {bucket_line(b, plan.estimate.budget_share)}")
    console.print(f"  {duration_line(plan.estimate)}")
    if plan.resumable is not None:
        console.print(f"  a real run resumes the unfinished job {plan.resumable.id}")
    if plan.policy.mode is SyncMode.OFF:
        console.print("  [yellow]sync mode is off: a real run would refuse[/]")
    console.print("nothing was changed (dry run)")


async def _run(settings: Settings, plan: ActivationEstimate, job_id: str | None) -> ImportReport:
    # No activation on a mode switch here: this run activates exactly the tenant/source asked for.
    async with Runtime(settings) as runtime:
        job = await prepare_activation(runtime, plan.tenant, plan.source, job_id=job_id, trigger="cli")
        await runtime.db.call(
            record_audit,
            runtime.store,
            actor=cli_actor(),
            action="activation.start",
            target=job.job_id,
            tenant=plan.tenant,
            outcome="ok",
            detail={"resumed": job.resumed, "staged": plan.staged, "source": plan.source},
        )
        if job.resumed:
            console.print(
                f"resuming activation job [bold]{job.job_id}[/] of {_scope(plan.tenant, plan.source)} "
                f"({job.done_before:,} users done before)"
            )
        else:
            console.print(f"activation job [bold]{job.job_id}[/] of {_scope(plan.tenant, plan.source)}")
        console.print(f"staged users: {plan.staged:,}; {duration_line(plan.estimate)} at the known limits")
        with progress_bar() as bar:
            task = bar.add_task("activating", total=None, rate=0.0)

            def on_progress(p: ImportProgress) -> None:
                bar.update(task, total=max(p.received, p.done) or None, completed=p.done, rate=p.rate)

            return await run_activation(runtime, job, on_progress=on_progress)
