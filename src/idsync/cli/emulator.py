"""`idsync emulator okta|scim`: run the built-in IdP emulators (demos, tests, benchmarks)."""

from __future__ import annotations

from typing import Annotated

import typer

from idsync.emulator.okta.command import okta

app = typer.Typer(help="Run the built-in IdP emulators.", no_args_is_help=True)
app.command("okta")(okta)


@app.callback()
def emulators() -> None:
    """Emulators of identity providers, for demos, tests and benchmarks."""


@app.command("scim")
def scim(
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 0,
    token: Annotated[str | None, typer.Option(help="Bearer token accepted (default: random).")] = None,
    bulk: Annotated[bool, typer.Option(help="Announce /Bulk in the ServiceProviderConfig.")] = True,
    max_operations: Annotated[int, typer.Option(help="Announced bulk maxOperations.")] = 1000,
    patch: Annotated[bool, typer.Option(help="Announce PATCH (without it idsync uses PUT).")] = True,
) -> None:
    """Run a SCIM 2.0 server (scim2-server, in memory) on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from idsync.adapters.scim.server import require_scim_server
    from idsync.cli.common import fail_usage
    from idsync.cli.scim_server import run_scim_server
    from idsync.errors import ConfigError

    try:
        require_scim_server("idsync emulator scim")
    except ConfigError as exc:
        fail_usage(str(exc))

    run_scim_server(port=port, token=token, bulk=bulk, max_operations=max_operations, patch=patch)
