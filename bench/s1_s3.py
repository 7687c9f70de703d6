"""S1 (initial import at the rate limit) with S3 (interactive changes during it).

The emulator runs in its own process with a time scale, so Okta's per-minute windows last a
fraction of a second; its default limits apply (600 creates a minute, 50% per API token), and
idsync keeps to its default budget share (0.8). S3 submits one interactive change a second
through the engine's interactive lane and measures the time until its result is committed.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.common import TENANT, TOKEN, bucket_windows, percentile, settings, write_users
from idsync.domain.models import Lane
from idsync.domain.records import received_from_text
from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorProcess
from idsync.emulator.okta.settings import EmulatorSettings
from idsync.engine.ingest import Defaults
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime


async def _interactive(runtime: Runtime, stop: asyncio.Event, latencies: list[float]) -> None:
    i = 0
    while not stop.is_set():
        login = f"interactive{i}@example.com"
        line = json.dumps(
            {
                "tenant": TENANT,
                "op": "upsert",
                "source": "efs-admin",
                "key": f"admin{i}",
                "user": {"login": login, "email": login, "firstName": "Ia", "lastName": "Lee"},
            }
        )
        started = time.monotonic()
        ((change_id, _),) = await runtime.ingestor.receive(
            [received_from_text(line)], Defaults(origin="http")
        )
        assert change_id is not None
        waiter = runtime.worker.wait_for(change_id)
        runtime.worker.notify(Lane.INTERACTIVE)
        outcome = await waiter
        latencies.append(time.monotonic() - started)
        assert outcome.status.value == "created", outcome
        i += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


async def _run(workdir: Path, users: int, time_scale: float) -> dict[str, Any]:
    path = write_users(workdir / "s1.jsonl", users)
    emulator_settings = EmulatorSettings(token=TOKEN, time_scale=time_scale)
    with EmulatorProcess(emulator_settings) as emu:
        cfg = settings(workdir / "s1.db", emu.url)
        latencies: list[float] = []
        async with Runtime(cfg) as runtime:
            stop = asyncio.Event()
            interactive = asyncio.create_task(_interactive(runtime, stop, latencies))
            started = time.monotonic()
            report = await run_file_import(runtime, path, tenant=TENANT)
            wall = time.monotonic() - started
            stop.set()
            await interactive
            snapshot = runtime.governor_snapshot()["okta"]
            # Every S3 change is a new admin: a user created with one call too. The runtime counts
            # the calls of both lanes (the import's report counts only the import's), so calls per
            # user divides by every user created.
            all_api_calls = runtime.api_calls()
        stats = EmulatorAdmin(emu.url).stats()
    windows = [w for w in bucket_windows(stats) if w["calls"] > 0]
    window_s = stats["rate_limit"]["window_s"]
    token_limit = stats["rate_limit"]["token_limits"]["users"]
    budget = int(token_limit * cfg.idps["okta"].governor.budget_share)
    calls = sum(w["calls"] for w in windows)
    rejected = sum(w["rejected_429"] for w in windows) + stats["served_429"]["concurrency"]
    all_calls = stats["rate_limit"]["totals"]["calls"]
    interactive_calls = len(latencies)
    forced = users / budget * window_s  # the time the budget (limit x share) forces
    return {
        "users": users,
        "time_scale": time_scale,
        "window_s": window_s,
        "token_limit_per_window": token_limit,
        "budget_per_window": budget,
        "s1_budget_use": round(calls / (budget * len(windows)), 4),
        "s1_429_fraction": round(rejected / max(all_calls + rejected, 1), 5),
        "s1_calls_per_user": round(all_api_calls / (users + interactive_calls), 4),
        "s1_api_calls": all_api_calls,
        "s1_wall_vs_limit": round(wall / forced, 4),
        "s1_wall_s": round(wall, 1),
        "s1_created": report.progress.created,
        "s1_failed": report.progress.failed,
        "s1_windows": len(windows),
        "s1_429s": rejected,
        "s3_interactive_changes": interactive_calls,
        "s3_interactive_p50_s": round(percentile(latencies, 0.5), 3),
        "s3_interactive_p99_s": round(percentile(latencies, 0.99), 3),
        "s3_interactive_max_s": round(max(latencies), 3) if latencies else None,
        "governor": {k: {kk: vv for kk, vv in v.items() if kk != "waiting"} for k, v in snapshot.items()},
        "series": [
            {
                "t": w["window_start"] - windows[0]["window_start"],
                "calls": w["calls"],
                "rejected": w["rejected_429"],
                "limit": w["token_limit"],
            }
            for w in windows
        ],
    }


def run(workdir: Path, users: int = 100_000, time_scale: float = 0.03) -> dict[str, Any]:
    return asyncio.run(_run(workdir, users, time_scale))
