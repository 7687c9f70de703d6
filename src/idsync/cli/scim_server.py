"""`idsync emulator scim`: scim2-server on 127.0.0.1 for trying the SCIM connector by hand.

It prints the settings for `idsync.toml`, then waits; Ctrl-C or SIGTERM stops the server process
it started (and only that one).
"""

from __future__ import annotations

import signal
import time
from types import FrameType

import typer

from idsync.adapters.scim.server import ScimServerProcess


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_scim_server(*, port: int, token: str | None, bulk: bool, max_operations: int, patch: bool) -> None:
    overrides: dict[str, object] = {}
    if not bulk or max_operations != 1000:
        overrides["bulk"] = {"supported": bulk, "maxOperations": max_operations, "maxPayloadSize": 1048576}
    if not patch:
        overrides["patch"] = {"supported": False}
    signal.signal(signal.SIGTERM, _interrupt)
    server = ScimServerProcess(token=token, port=port, service_provider_config=overrides)
    try:
        server.start()
        typer.echo(f"SCIM server (scim2-server, in memory) listening on {server.url}  pid {server.pid}")
        typer.echo(f"Bearer token: {server.token}")
        typer.echo("idsync.toml:\n")
        typer.echo(
            f'  [idps.scim]\n  type = "scim"\n  url = "{server.url}"\n  token_env = "IDSYNC_SCIM_TOKEN"\n'
        )
        typer.echo(f"  export IDSYNC_SCIM_TOKEN={server.token}\n\nStop: Ctrl-C", err=False)
        while server.running:
            time.sleep(0.5)
        typer.echo("the SCIM server stopped on its own", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
