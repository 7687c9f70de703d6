"""`idsync plan`: what importing a file would do and how long it would take, with no IdP call."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from idsync.adapters.store import Store
from idsync.cli.common import (
    EXIT_OK,
    ConfigOption,
    DelimiterOption,
    EncodingOption,
    console,
    handle_errors,
    import_file_options,
    policy_or_exit,
    settings_or_exit,
)
from idsync.domain.policy import SyncMode
from idsync.errors import IdSyncError
from idsync.lifecycle.planfile import FilePlan, plan_file
from idsync.lifecycle.report import bucket_line, duration_line, estimate_json

OUTCOMES = ("created", "updated", "activated", "deactivated", "deleted", "unchanged", "skipped", "failed")
WORDS = {"created": "create", "updated": "update", "activated": "activate", "deactivated": "deactivate",
         "deleted": "delete", "unchanged": "unchanged", "skipped": "skip", "failed": "fail"}  # fmt: skip


def plan_command(
    file: Path = typer.Argument(..., help="The CSV or JSONL file an import would read.", dir_okay=False),
    tenant: str = typer.Option(..., "--tenant", "-t", help="The installation the users belong to."),
    source: str | None = typer.Option(
        None, "--source", help="Source of CSV rows that have no 'source' column."
    ),
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    encoding: str | None = EncodingOption,
    delimiter: str | None = DelimiterOption,
) -> None:
    """Estimate an import: users to create, update, leave unchanged or skip, API calls, duration."""
    settings = settings_or_exit(config)
    options = import_file_options(file, source, encoding, delimiter)
    policy_or_exit(settings, tenant)
    store = Store(settings.store.url)
    try:
        result = plan_file(store, settings, file, tenant=tenant, source=source, options=options)
    except IdSyncError as exc:
        raise handle_errors(exc) from None
    finally:
        store.close()
    if as_json:
        console.print_json(json.dumps(_json(result)))
    else:
        _print(result)
    raise typer.Exit(EXIT_OK)


def _print(plan: FilePlan) -> None:
    t = plan.tally
    policy = plan.policy
    console.print(
        f"[bold]plan[/] for {plan.path} → tenant {plan.tenant} (sync mode {policy.mode}, IdP {policy.idp}); "
        "nothing is sent"
    )
    table = Table(title=f"{t.records:,} records")
    table.add_column("would")
    table.add_column("users", justify="right")
    table.add_column("detail")
    for status in OUTCOMES:
        n = t.outcomes.get(status, 0)
        if not n and status not in ("created", "updated", "unchanged", "skipped"):
            continue
        detail = ""
        if status == "created" and n:
            detail = (
                "created and activated in one call" if t.created_active else "without activation (phase 1)"
            )
        table.add_row(WORDS[status], f"{n:,}", detail)
        for (st, code), count in sorted(t.reasons.items(), key=lambda kv: -kv[1]):
            if st == status:
                table.add_row(f"  {WORDS[status]}: {code}", f"{count:,}", _clip(t.examples[(st, code)], 160))
    console.print(table)
    if policy.mode is SyncMode.SYNC and t.outcomes.get("created"):
        console.print("created users stay STAGED: phase 2 (`idsync activate`) sends the activation e-mails")
    calls = ", ".join(f"{kind} {n:,}" for kind, n in sorted(t.calls.items())) or "none"
    console.print(f"API calls: {t.total_calls:,} ({calls})")
    for b in plan.estimate.buckets:
        console.print(f"  {bucket_line(b, plan.estimate.budget_share)}")
    console.print(duration_line(plan.estimate))


def _json(plan: FilePlan) -> dict[str, object]:
    t = plan.tally
    return {
        "file": str(plan.path),
        "tenant": plan.tenant,
        "mode": plan.policy.mode.value,
        "records": t.records,
        "outcomes": {s: t.outcomes.get(s, 0) for s in OUTCOMES},
        "reasons": [
            {"status": s, "code": c, "users": n, "example": t.examples[(s, c)]}
            for (s, c), n in t.reasons.items()
        ],
        "calls": dict(t.calls),
        "created_with_activation": t.created_active,
        "estimate": estimate_json(plan.estimate),
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
