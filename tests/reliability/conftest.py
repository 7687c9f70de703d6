"""The reliability suite's session plumbing: the secret scan sees the whole test session.

At configure time a plugin is registered (global, unlike this directory's hooks) that

- records every secret `idsync.config` resolves while the suite runs (see scan.secrets_of);
- writes every log record of this process to `<basetemp>/session-log.txt`;
- writes the captured output (stdout, stderr, log) of every test to `<basetemp>/captured-output.txt`;
- scans every log file under the session's temp directory (where tests put the output of the
  subprocesses they start);
- moves `test_secret_scan.py::test_nothing_the_suite_logged_holds_a_secret` to the very end;
- under pytest-xdist, hands its worker's scan to the controller (scan_session.py), which scans
  what every worker logged against every worker's secrets when the session ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import idsync.config as config_module
from tests.reliability.scan import SCAN, FileLogHandler, secrets_of
from tests.reliability.scan_session import dump

FINAL_TEST = "test_nothing_the_suite_logged_holds_a_secret"


class _SessionScan:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.handler: FileLogHandler | None = None
        self.captured: Path | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        last = [i for i in items if i.name == FINAL_TEST]
        items[:] = [i for i in items if i.name != FINAL_TEST] + last

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        base = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
        SCAN.roots.add(Path(base))
        SCAN.log_file = Path(base) / "session-log.txt"
        self.captured = Path(base) / "captured-output.txt"
        SCAN.add_file(self.captured)
        self.handler = FileLogHandler(SCAN.log_file)
        logging.getLogger().addHandler(self.handler)

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        root = logging.getLogger()
        if self.handler is not None and self.handler not in root.handlers:
            root.addHandler(self.handler)  # a CLI test's logging.basicConfig(force=True) removed it

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.captured is None:
            return
        parts = [f"--- {report.nodeid} [{report.when}] {name}\n{text}\n" for name, text in report.sections]
        if report.longrepr is not None:
            parts.append(f"--- {report.nodeid} [{report.when}] failure\n{report.longreprtext}\n")
        if parts:
            with self.captured.open("a", encoding="utf-8", errors="replace") as fh:
                fh.writelines(parts)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        worker = getattr(self.config, "workerinput", {}).get("workerid")
        if worker is not None:  # an xdist worker: the controller merges every worker's scan
            dump(worker)

    def pytest_unconfigure(self) -> None:
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.finish()


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("idsync-secret-scan"):
        config.pluginmanager.register(_SessionScan(config), "idsync-secret-scan")


def _recording(resolve: Any) -> Any:
    def resolve_and_record(settings: Any, environ: Any) -> Any:
        resolved = resolve(settings, environ)
        SCAN.add_secret(*secrets_of(resolved))
        return resolved

    resolve_and_record.__wrapped__ = resolve  # type: ignore[attr-defined]
    return resolve_and_record


if not hasattr(config_module._resolve_secrets, "__wrapped__"):
    config_module._resolve_secrets = _recording(config_module._resolve_secrets)


@pytest.fixture
def secret_scan() -> Any:
    """The session's scan: register secrets handed to subprocesses, texts and log files."""
    return SCAN
