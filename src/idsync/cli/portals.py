"""`idsync portals sync|list`: one OpenID Connect app per portal instance at the tenant's IdP.

Run it before login is switched on (seed: "the sync should happen before activating"); it takes
seconds and is safe to repeat: a second run creates nothing. Client secrets are never printed;
with `--secrets-file` they are appended to a file only its owner can read.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from pydantic import SecretStr
from rich.table import Table

from idsync.adapters.store import Store
from idsync.adapters.store.features.audit import record_audit
from idsync.adapters.store.features.portals import list_portals
from idsync.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    ConfigOption,
    cli_actor,
    console,
    fail_usage,
    handle_errors,
    policy_or_exit,
    settings_or_exit,
    setup_logging,
)
from idsync.config import Settings
from idsync.errors import IdSyncError
from idsync.lifecycle.portals import PortalRow, PortalSpec, parse_portals_csv
from idsync.lifecycle.registry import PortalOutcome, PortalRegistrar
from idsync.lifecycle.secrets import SecretsFile
from idsync.ports import OidcApp, OidcAppRegistry
from idsync.runtime import Runtime

app = typer.Typer(help="Portal instances as OpenID Connect applications at the IdP.", no_args_is_help=True)
BAD = ("failed", "busy")


@app.command("sync")
def sync_command(
    tenant: str = typer.Option(..., "--tenant", "-t", help="The installation the portals belong to."),
    file: Path = typer.Option(
        ..., "--file", "-f", help="CSV: name, base_url, redirect_uris.", dir_okay=False
    ),
    secrets_file: Path | None = typer.Option(
        None, "--secrets-file", help="Append new apps' client secrets here (created with mode 0600)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be created or changed."),
    config: Path | None = ConfigOption,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Make sure each portal of FILE has its OpenID Connect app at the IdP (idempotent)."""
    setup_logging(verbose)
    settings = settings_or_exit(config)
    policy_or_exit(settings, tenant)
    if not file.exists():
        fail_usage(f"{file}: no such file")
    try:
        rows = parse_portals_csv(file.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        fail_usage(f"{file}: {exc}")
    secrets = SecretsFile(secrets_file) if secrets_file is not None and not dry_run else None
    try:
        if secrets is not None:
            secrets.check()
        outcomes = asyncio.run(_sync(settings, tenant, [r.spec for r in rows if r.spec], secrets, dry_run))
    except IdSyncError as exc:
        raise handle_errors(exc) from None
    _print(tenant, file, rows, outcomes, secrets, dry_run)
    bad = any(o.status in BAD for o in outcomes) or any(r.spec is None for r in rows)
    raise typer.Exit(EXIT_FAILURES if bad else EXIT_OK)


async def _sync(
    settings: Settings, tenant: str, specs: list[PortalSpec], secrets: SecretsFile | None, dry_run: bool
) -> list[PortalOutcome]:
    async with Runtime(settings) as runtime:
        policy = settings.policy(tenant)
        assert policy is not None
        idp = runtime.idps[policy.idp]
        if not isinstance(idp, OidcAppRegistry):
            fail_usage(
                f"IdP {policy.idp!r} ({settings.idps[policy.idp].type}) cannot register OpenID Connect apps"
            )

        def keep(tenant: str, spec: PortalSpec, app: OidcApp, secret: SecretStr) -> None:
            assert secrets is not None
            secrets.write(
                tenant=tenant, portal=spec.name, app_id=app.id, client_id=app.client_id, client_secret=secret
            )

        tenant_settings = settings.tenant(tenant)
        groups = tenant_settings.portal_groups if tenant_settings else ["Everyone"]
        registrar = PortalRegistrar(
            runtime.db, idp, tenant, sink=keep if secrets else None, dry_run=dry_run, groups=groups
        )
        outcomes = await registrar.sync(specs) if specs else []
        if not dry_run:
            actor = cli_actor()
            for o in outcomes:
                await runtime.db.call(
                    record_audit,
                    runtime.store,
                    actor=actor,
                    action="portal.register",
                    target=f"{tenant}/{o.name}",
                    tenant=tenant,
                    outcome="failed" if o.status in BAD else "ok",
                    detail={
                        "status": o.status,
                        "app_id": o.app_id,
                        "reason": o.reason.code if o.reason else None,
                    },
                )
        return outcomes


def _print(
    tenant: str,
    file: Path,
    rows: list[PortalRow],
    outcomes: list[PortalOutcome],
    secrets: SecretsFile | None,
    dry_run: bool,
) -> None:
    title = f"portals of tenant {tenant} from {file}" + (" (dry run)" if dry_run else "")
    table = Table(title=title)
    for col in ("portal", "status", "app id", "client id", "detail"):
        table.add_column(col)
    for o in outcomes:
        detail = o.reason.message if o.reason else (o.note or "")
        if o.status == "created":
            detail = "secret in the secrets file" if o.secret_kept else "secret not kept"
        table.add_row(o.name, o.status, o.app_id or "", o.client_id or "", detail)
    for r in rows:
        if r.spec is None:
            table.add_row(r.name or f"line {r.line}", "invalid", "", "", f"line {r.line}: {r.error}")
    console.print(table)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    invalid = sum(1 for r in rows if r.spec is None)
    if invalid:
        counts["invalid"] = invalid
    console.print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no portals in the file")
    created = counts.get("created", 0)
    if created and secrets is not None:
        console.print(
            f"client secrets of {created} new app(s) appended to {secrets.path} (readable by its owner only)"
        )
    elif created:
        console.print(
            f"[yellow]client secrets of {created} new app(s) were not kept[/] (pass --secrets-file); "
            "an Okta admin can generate new ones"
        )
    if dry_run:
        console.print("nothing was changed (dry run)")


@app.command("list")
def list_command(
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Only this tenant's portals."),
    config: Path | None = ConfigOption,
) -> None:
    """The portals idsync registered, with their app and client ids (never a secret)."""
    settings = settings_or_exit(config)
    store = Store(settings.store.url)
    try:
        rows = list_portals(store, tenant)
    finally:
        store.close()
    table = Table(title="portals")
    for col in ("tenant", "portal", "state", "app id", "client id", "redirect URIs"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.tenant, r.name, r.state, r.app_id or "", r.client_id or "", " ".join(r.redirect_uris))
    console.print(table)
