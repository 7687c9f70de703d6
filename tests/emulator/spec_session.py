"""The session-wide spec check: every response any Okta emulator served during the test run.

At configure time `IDSYNC_EMULATOR_EXCHANGE_LOG` points at a fresh directory, so every emulator
the tests start — in a thread, in a subprocess, through the CLI — logs the shapes it answered
there (see idsync.emulator.okta.exchange_log). At the end of the session they are all checked
against Okta's spec (conformance.py); any violation is printed and fails the run. The directory
is outside pytest's temp root: the reliability suite's secret scan reads every log under that.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from idsync.emulator.okta.exchange_log import ENV_VAR

from .conformance import from_log_lines, problems

_STATE: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    if ENV_VAR in os.environ:  # a run that chose its own directory (or a nested pytest) keeps it
        return
    directory = tempfile.mkdtemp(prefix="idsync-emulator-exchanges-")
    os.environ[ENV_VAR] = directory
    _STATE["dir"] = directory


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    directory = _STATE.pop("dir", None)
    if directory is None:
        return
    lines = [line for f in sorted(Path(directory).glob("*.jsonl")) for line in f.read_text().splitlines()]
    served = from_log_lines(lines)
    found = problems(served)
    shutil.rmtree(directory, ignore_errors=True)
    os.environ.pop(ENV_VAR, None)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"Okta spec check: {len(served)} distinct emulator responses, {len(found)} not conforming"
        )
        for problem in found[:50]:
            reporter.write_line(f"  {problem}", red=True)
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
