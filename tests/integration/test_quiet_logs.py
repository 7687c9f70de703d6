"""Quiet, useful logs: an IdP outage writes one WARNING when the circuit opens and one when it
closes, with counts, not a line per user (the engine against the emulator's injected errors)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.engine.worker import WorkerOptions
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.integration.test_engine_faults import settings, write_users

USERS = 40


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token="faults-token", seed=3, time_scale=0.05)) as emu:
        yield emu


async def test_an_outage_logs_the_circuit_not_each_user(
    emulator: EmulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="idsync")
    admin = EmulatorAdmin(emulator.url)
    admin.set_faults(error_rate=1.0, error_statuses=[503])
    users = write_users(tmp_path / "u.jsonl", USERS)
    cfg = settings(tmp_path, emulator.url, circuit_failures=20, circuit_cooldown_s=0.3, max_retries=1)
    options = WorkerOptions(retry_base_s=0.02, retry_max_s=0.05, poll_s=0.05, max_attempts=100)
    async with Runtime(cfg, worker_options=options) as rt:
        task = asyncio.create_task(run_file_import(rt, users, tenant="t"))
        for _ in range(300):  # until a probe after a cool-down failed as well
            if any("probe failed" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.1)
        assert rt.governors["okta"].breaker.is_open
        admin.clear_faults()
        report = await task
    assert report.progress.created == USERS
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("idsync")]
    said = [r.getMessage() for r in warnings]
    assert len(said) == 2, said
    assert re.match(
        r"okta: circuit open after 20 failed calls in a row \(the last: okta (GET|POST) /api/v1/users",
        said[0],
    )
    assert "answered 503" in said[0] and said[1].startswith(
        "okta: circuit closed, the IdP answers again after"
    )
    closed = warnings[1].getMessage()
    assert " calls were held back meanwhile, " in closed and " failed probes" in closed
    # A failed probe is worth a line at INFO (seen with --verbose), not another WARNING.
    probes = [r for r in caplog.records if "probe failed" in r.getMessage()]
    assert probes and {r.levelno for r in probes} == {logging.INFO}
