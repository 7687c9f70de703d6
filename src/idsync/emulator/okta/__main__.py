"""`python -m idsync.emulator.okta [flags]`: the same as `idsync emulator okta [flags]`."""

from __future__ import annotations

import sys

from idsync.cli.emulator import app

if __name__ == "__main__":
    app(["okta", *sys.argv[1:]], prog_name="python -m idsync.emulator.okta")
