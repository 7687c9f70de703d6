"""Workers of pytest-xdist see the terminal settings of the run, not of the controller's terminal.

The controller's C environment gains `COLUMNS=80` and `LINES=24` (a terminal library sets them
below Python's `os.environ`), so xdist workers, spawned from it, start with them; rich's consoles
created at import then keep a fixed width of 80 and ignore a test's `COLUMNS`. The controller
records what `os.environ` really holds; each worker restores that before any test module loads.
"""

from __future__ import annotations

import json
import os

import pytest

ENV_VAR = "IDSYNC_TEST_TERMINAL_ENV"
NAMES = ("COLUMNS", "LINES")


def settle(config: pytest.Config) -> None:
    """Controller: record the values; worker: restore them (absent stays absent)."""
    if hasattr(config, "workerinput"):
        recorded = os.environ.get(ENV_VAR)
        if recorded is None:
            return
        for name, value in json.loads(recorded).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    elif ENV_VAR not in os.environ:
        os.environ[ENV_VAR] = json.dumps({name: os.environ.get(name) for name in NAMES})
