"""`idsync route EMAIL --tenant T`: where this user logs in, and whether the sync touches them.

The answer comes from the same routing rules the sync uses (`idsync.access.routing`), so a support
engineer can check a user's way in before the switch-over without any IdP call.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from idsync.access.routing import InvalidEmail
from idsync.access.service import UnknownTenant, login_route
from idsync.cli.common import EXIT_OK, ConfigOption, console, fail_usage, settings_or_exit, unknown_tenant


def route_command(
    email: str = typer.Argument(..., help="The user's e-mail address."),
    tenant: str = typer.Option(..., "--tenant", "-t", help="The installation the user belongs to."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Where EMAIL logs in (Okta, or which external IdP) and the login URL."""
    settings = settings_or_exit(config)
    try:
        answer = login_route(settings, tenant, email)
    except UnknownTenant:
        unknown_tenant(settings, tenant)
    except InvalidEmail:
        fail_usage(f"EMAIL: {email!r} is not an e-mail address")
    login_url = answer.login_url or "(the built-in emulator's URL, known once it runs)"
    if as_json:
        data = {
            "tenant": answer.tenant,
            "email": answer.email,
            "domain": answer.domain,
            "idp": answer.idp,
            "external": answer.external,
            "login_url": answer.login_url,
            "needs_sync": answer.needs_sync,
        }
        console.print_json(json.dumps(data))
        raise typer.Exit(EXIT_OK)
    table = Table(show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("e-mail", answer.email)
    table.add_row("tenant", answer.tenant)
    kind = "external IdP" if answer.external else "main IdP"
    table.add_row("IdP", f"{answer.idp} ({kind})")
    table.add_row("login URL", login_url)
    table.add_row(
        "sync",
        "not synced: the domain is routed to an external IdP (reason external_idp)"
        if answer.external
        else "synced to the main IdP",
    )
    console.print(table)
    raise typer.Exit(EXIT_OK)
