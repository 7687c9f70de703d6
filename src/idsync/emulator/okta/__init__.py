"""The Okta Management API emulator: a real HTTP server behaving like Okta (docs/emulator.md).

Start it in-process with `EmulatorThread(EmulatorSettings(...))`, as a subprocess with
`EmulatorProcess(...)`, or from the shell with `idsync emulator okta`; inspect and steer it with
`EmulatorAdmin(url)`.
"""

from __future__ import annotations

from idsync.emulator.okta.app import create_app
from idsync.emulator.okta.client import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorProcess, EmulatorThread
from idsync.emulator.okta.settings import DEFAULT_TOKEN, EmulatorSettings, FaultSettings

__all__ = [
    "DEFAULT_TOKEN",
    "EmulatorAdmin",
    "EmulatorProcess",
    "EmulatorSettings",
    "EmulatorThread",
    "FaultSettings",
    "create_app",
]
