"""`python -m idsync.emulator.okta [flags]`: the same as `idsync emulator okta [flags]`."""

from __future__ import annotations

import typer

from idsync.emulator.okta.command import okta

if __name__ == "__main__":
    typer.run(okta)
