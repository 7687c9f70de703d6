"""The last test of the session: nothing the suite logged holds a secret.

The conftest of this directory moves it to the very end and feeds it everything: every secret
the configuration resolved while the suite ran, this process's log records, every test's captured
output, the logs of the subprocesses the tests started, and the error bodies and `/metrics` pages
that tests registered. The control in test_security.py shows that a planted secret is found."""

from __future__ import annotations

from tests.reliability.scan import SCAN
from tests.reliability.support import write_figures


def test_nothing_the_suite_logged_holds_a_secret() -> None:
    volume = SCAN.volume()
    leaks = SCAN.leaks()
    write_figures("secret-scan", {**volume, "leaks": len(leaks)})
    assert volume["secrets"] >= 2 and volume["files"] >= 1  # the scan had something to look at
    assert not leaks, "\n".join(f"{leak.secret_hint} in {leak.where}: {leak.excerpt}" for leak in leaks[:20])
