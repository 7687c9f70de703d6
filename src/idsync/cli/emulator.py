"""`idsync emulator okta`: run the built-in Okta emulator (owned by the emulator work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run the built-in IdP emulators.", no_args_is_help=True)
