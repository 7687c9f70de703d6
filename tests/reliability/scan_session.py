"""The secret scan across pytest-xdist workers: the whole session is still scanned.

Each worker has its own `SCAN` (secrets resolved in its process, its texts, its temp directory).
The controller, which runs no test, creates a private directory before the workers start and
names it in `IDSYNC_SECRET_SCAN_DIR`; every worker writes its scan there when its session ends
(`dump`), and the controller merges them all at the end of the session (`MergedScan`): a secret
of any worker found in the logs of any worker fails the run, as the spec check does. The test
`test_nothing_the_suite_logged_holds_a_secret` still runs in a worker and checks what that worker
saw. Without xdist nothing here is active: that test sees the whole session by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.reliability.scan import SCAN, SecretScan
from tests.reliability.support import write_figures

ENV_VAR = "IDSYNC_SECRET_SCAN_DIR"
FINAL_TEST = "test_nothing_the_suite_logged_holds_a_secret"


def _is_controller(config: pytest.Config) -> bool:
    """The xdist controller: workers asked for (`-n N`, N > 0) and not a worker itself."""
    workers = getattr(config.option, "numprocesses", None)
    return bool(workers) and not hasattr(config, "workerinput") and ENV_VAR not in os.environ


def dump(worker: str) -> None:
    """A worker's scan, for the controller (the directory is private to this test run)."""
    directory = os.environ.get(ENV_VAR)
    if not directory or not Path(directory).is_dir():
        return
    files = set(SCAN.log_files())
    state = {
        "secrets": sorted(SCAN.secrets),
        "texts": SCAN.texts,
        "files": sorted(str(p) for p in files),
    }
    (Path(directory) / f"{worker}.json").write_text(json.dumps(state))


class MergedScan:
    """Controller side: merges the workers' scans when the session ends."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.scan_test_ran = False  # a partial run without the scan test scans nothing, as without xdist

    @classmethod
    def install(cls, config: pytest.Config) -> None:
        if not _is_controller(config):
            return
        directory = tempfile.mkdtemp(prefix="idsync-secret-scan-")
        os.environ[ENV_VAR] = directory  # inherited by the workers, started after configure
        config.pluginmanager.register(cls(directory), "idsync-merged-secret-scan")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.nodeid.endswith(f"::{FINAL_TEST}"):
            self.scan_test_ran = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        merged = SecretScan()
        dumps = sorted(Path(self.directory).glob("*.json"))
        for path in dumps:
            state = json.loads(path.read_text())
            merged.add_secret(*state["secrets"])
            for where, text in state["texts"]:
                merged.add_text(where, text)
            for name in state["files"]:
                merged.add_file(Path(name))
        shutil.rmtree(self.directory, ignore_errors=True)
        os.environ.pop(ENV_VAR, None)
        if not self.scan_test_ran:
            return
        volume = merged.volume()
        leaks = merged.leaks()
        write_figures("secret-scan", {**volume, "leaks": len(leaks), "workers": len(dumps)})
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"Secret scan of {len(dumps)} workers: {volume['secrets']} secrets, "
                f"{volume['files']} files, {volume['texts']} texts, {len(leaks)} leaks"
            )
            for leak in leaks[:20]:
                reporter.write_line(f"  {leak.secret_hint} in {leak.where}: {leak.excerpt}", red=True)
        if leaks or volume["secrets"] < 2 or volume["files"] < 1:  # as the test asserts
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
