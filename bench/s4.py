"""S4: idsync against the peer a user would pick instead: the official Okta Python SDK in a plain
loop, as the seeds' migration script does (create each user, not activated; on a 429 the SDK
itself waits until the reset and retries).

Both run on the same users against the same emulator settings: Okta's default limits (600
creates a minute, 50% per API token), real one-minute windows (time scale 1: the SDK computes its
429 wait as `X-Rate-Limit-Reset - Date + 1` real seconds, so a compressed minute would be unfair
to it), and an added latency per request (Okta publishes none; the value is a parameter and the
result is reported for each value tried).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench.common import TENANT, TOKEN, settings, write_users
from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorProcess
from idsync.emulator.okta.settings import EmulatorSettings, FaultSettings
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime


async def _sdk_loop(url: str, users: int) -> tuple[float, int]:
    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
    from okta.client import Client
    from okta.models import CreateUserRequest

    client = Client({"orgUrl": url, "token": TOKEN, "rateLimit": {"maxRetries": 10}, "requestTimeout": 600})
    errors = 0
    started = time.monotonic()
    for i in range(users):
        login = f"user{i}@example.com"
        body = CreateUserRequest.from_dict(
            {"profile": {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"}}
        )
        _, _, err = await client.create_user(body, activate=False)
        errors += err is not None
    return time.monotonic() - started, errors


def _emulator(latency_ms: float) -> EmulatorSettings:
    return EmulatorSettings(
        token=TOKEN, faults=FaultSettings(latency_ms=latency_ms, latency_jitter_ms=latency_ms / 4)
    )


async def _idsync(url: str, workdir: Path, path: Path, budget_share: float) -> float:
    cfg = settings(workdir / f"s4-{budget_share}-{time.monotonic_ns()}.db", url, budget_share=budget_share)
    async with Runtime(cfg) as runtime:
        started = time.monotonic()
        report = await run_file_import(runtime, path, tenant=TENANT)
        assert report.progress.created == report.progress.received, report.progress
        return time.monotonic() - started


def _one(workdir: Path, users: int, latency_ms: float) -> dict[str, Any]:
    path = write_users(workdir / "s4.jsonl", users)
    out: dict[str, Any] = {"latency_ms": latency_ms}
    with EmulatorProcess(_emulator(latency_ms)) as emu:
        sdk_s, sdk_errors = asyncio.run(_sdk_loop(emu.url, users))
        stats = EmulatorAdmin(emu.url).stats()
        out.update(sdk_wall_s=round(sdk_s, 1), sdk_errors=sdk_errors, sdk_429s=stats["served_429"]["total"])
    for share in (0.8, 1.0):
        with EmulatorProcess(_emulator(latency_ms)) as emu:
            wall = asyncio.run(_idsync(emu.url, workdir, path, share))
            stats = EmulatorAdmin(emu.url).stats()
        out[f"idsync_share_{share}_wall_s"] = round(wall, 1)
        out[f"idsync_share_{share}_429s"] = stats["served_429"]["total"]
    out["wall_ratio_default"] = round(out["idsync_share_0.8_wall_s"] / sdk_s, 3)
    out["wall_ratio_same_budget"] = round(out["idsync_share_1.0_wall_s"] / sdk_s, 3)
    return out


def run(workdir: Path, users: int = 600, latencies_ms: tuple[float, ...] = (300.0, 100.0)) -> dict[str, Any]:
    runs = [_one(workdir, users, lat) for lat in latencies_ms]
    main = runs[0]
    return {
        "users": users,
        "s4_latency_ms": main["latency_ms"],
        "s4_wall_ratio": main["wall_ratio_default"],
        "s4_wall_ratio_same_budget": main["wall_ratio_same_budget"],
        "s4_idsync_429s": main["idsync_share_0.8_429s"],
        "s4_sdk_429s": main["sdk_429s"],
        "runs": runs,
    }
