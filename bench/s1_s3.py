"""S1 (initial import at the rate limit) with S3 (interactive changes during it).

The emulator runs in its own process with a time scale, so Okta's per-minute windows last a
fraction of a second; its default limits apply (600 creates a minute, 50% per API token), and
idsync keeps to its default budget share. S3 submits one interactive change a second through the
engine's interactive lane and measures the time until its result is committed.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

from bench.common import (
    TENANT,
    TOKEN,
    bucket_windows,
    cpu_seconds,
    percentile,
    physical_minimum_s,
    settings,
    write_users,
)
from bench.scenario import Context, Outcome, Scenario, Target, num, pct, table
from idsync.domain.models import Lane
from idsync.domain.records import received_from_text
from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorProcess
from idsync.emulator.okta.settings import EmulatorSettings
from idsync.engine.ingest import Defaults
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime, run_fast

TIME_SCALE = 0.03


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


async def _run(workdir: Path, users: int, time_scale: float) -> Outcome:
    path = write_users(workdir / "s1.jsonl", users)
    with EmulatorProcess(EmulatorSettings(token=TOKEN, time_scale=time_scale)) as emu:
        cfg = settings(workdir / "s1.db", emu.url)
        share = cfg.idps["okta"].governor.budget_share
        latencies: list[float] = []
        async with Runtime(cfg) as runtime:
            stop = asyncio.Event()
            interactive = asyncio.create_task(_interactive(runtime, stop, latencies))
            calls_before, cpu_before = runtime.api_calls(), cpu_seconds()
            started = time.monotonic()
            report = await run_file_import(runtime, path, tenant=TENANT)
            wall = time.monotonic() - started
            cpu = cpu_seconds() - cpu_before
            stop.set()
            await interactive
            # Every S3 change is a new admin: a user created with one call too. The runtime counts
            # the calls of both lanes (the import's report counts only the import's), so calls per
            # user divides by every user created.
            governor_calls = runtime.api_calls() - calls_before
            snapshot = runtime.governor_snapshot()["okta"]
        stats = EmulatorAdmin(emu.url).stats()
    window_s = stats["rate_limit"]["window_s"]
    org_limit = stats["rate_limit"]["limits"]["users"]
    token_limit = stats["rate_limit"]["token_limits"]["users"]
    budget = int(token_limit * share)
    windows = bucket_windows(stats)
    creates = sum(w["calls"] for w in windows)  # the create bucket's calls, both lanes
    rejected = stats["served_429"]["total"]
    served = sum(sum(by.values()) for by in stats["requests"].values())
    windows_of_run = math.ceil(wall / window_s)  # idle ones included
    created = report.progress.created + len(latencies)
    minimum = physical_minimum_s(creates, budget, window_s)
    figures = {
        "s1_budget_use": round(creates / (budget * windows_of_run), 4),
        "s1_wall_vs_limit": round(wall / minimum, 4),
        "s1_429_fraction": round(rejected / max(served, 1), 5),
        "s1_cpu_ms_per_user": round(cpu * 1000 / max(created, 1), 2),
        "s1_calls_per_user": round(governor_calls / max(created, 1), 4),
        "s1_api_calls": governor_calls,
        "s3_interactive_p50_s": round(percentile(latencies, 0.5), 3),
        "s3_interactive_p99_s": round(percentile(latencies, 0.99), 3),
    }
    details = {
        "users": users,
        "time_scale": time_scale,
        "window_s": window_s,
        "org_limit_per_window": org_limit,
        "token_limit_per_window": token_limit,
        "token_share": stats["rate_limit"]["token_share"],
        "budget_share": share,
        "budget_per_window": budget,
        "budget_per_s": round(budget / window_s, 1),
        "creates_per_s": round(creates / wall, 1),
        "wall_s": round(wall, 1),
        "physical_minimum_s": round(minimum, 1),
        "windows_of_run": windows_of_run,
        "windows_with_calls": sum(1 for w in windows if w["calls"]),
        "create_calls": creates,
        "governor_calls": governor_calls,
        "emulator_requests": served,
        "served_429": rejected,
        "created": created,
        "failed": report.progress.failed,
        "cpu_s": round(cpu, 1),
        "interactive_changes": len(latencies),
        "interactive_max_s": round(max(latencies), 3) if latencies else None,
        "governor": {k: v for k, v in snapshot["users"].items() if k != "waiting"},
        "series": [
            {"t": round(w["window_start"] - windows[0]["window_start"], 3), "calls": w["calls"]}
            for w in windows
        ],
    }
    return Outcome(figures, details)


def run(ctx: Context) -> Outcome:
    # On the loop the CLI's `idsync import` runs on (uvloop where installed: cli/main.py).
    return run_fast(_run(ctx.workdir, ctx.users, ctx.time_scale or TIME_SCALE))


def section(d: dict[str, Any]) -> str:
    details = table(
        [
            ("wall time", f"{num(d['wall_s'])} s (the budget allows {num(d['physical_minimum_s'])} s)"),
            (
                "windows of the run's wall time / with calls",
                f"{num(d['windows_of_run'])} / {num(d['windows_with_calls'])}",
            ),
            (
                "creates (emulator) / calls (governor) / requests (emulator)",
                f"{num(d['create_calls'])} / {num(d['governor_calls'])} / {num(d['emulator_requests'])}",
            ),
            ("answered `429`", num(d["served_429"])),
            ("users created / failed", f"{num(d['created'])} / {num(d['failed'])}"),
            (
                "interactive changes / the slowest",
                f"{num(d['interactive_changes'])} / {num(d['interactive_max_s'])} s",
            ),
        ]
    )
    return f"""\
An initial import of {num(d["users"])} users (tenant mode `sync`: one create each) while S3 sends
one interactive change a second (a new admin, through the interactive lane). The emulator runs in
its own process with Okta's default limits ({num(d["org_limit_per_window"])} creates a window per
org, a token may use {pct(d["token_share"])} of it: {num(d["token_limit_per_window"])}) at a time
scale of {num(d["time_scale"])}: a rate-limit minute lasts {num(d["window_s"])} s. idsync keeps to
its default budget share ({num(d["budget_share"])}): {num(d["budget_per_window"])} creates a window,
{num(d["budget_per_s"])} a second; it made {num(d["creates_per_s"])} a second over the run, using
{num(d["cpu_s"])} s of CPU.

{details}
- `s1_budget_use` = creates ÷ (budget per window x every window of the run's wall time, idle
  ones included); `s1_wall_vs_limit` = wall time ÷ the time the budget forces for those creates
  (every window but the last must pass); `s1_429_fraction` = `429` answers ÷ requests;
  `s1_cpu_ms_per_user` = CPU time (user + system) of the idsync process ÷ users created (both
  lanes); `s1_calls_per_user` = calls the governor counted ÷ users created (`sync` needs one).
- `s3_interactive_p50_s`, `s3_interactive_p99_s`: from submitting an interactive change to its
  committed result, create call included.
- Reading it: the time scale shortens windows and so multiplies the rate the budget allows. When
  that rate is above what one idsync process drives on the machine (compare the budget's creates
  a second with idsync's above), the run measures idsync's CPU, not its pacing: budget use and
  wall time then show the distance to the budget, and `s1_cpu_ms_per_user` its cause. At Okta's
  real one-minute windows the same budget is a small fraction of that rate.
"""


def plot(ax: Any, d: dict[str, Any]) -> None:
    window = d["window_s"]
    t = [p["t"] / window for p in d["series"]]
    ax.plot(t, [p["calls"] for p in d["series"]], lw=0.8, label="creates per window")
    ax.axhline(d["token_limit_per_window"], color="red", ls="--", lw=1, label="token limit")
    ax.axhline(d["budget_per_window"], color="orange", ls=":", lw=1, label="budget")
    ax.set_xlabel("rate-limit windows since the start")
    ax.set_ylabel("calls per window")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("S1: creates per window against the budget")


SCENARIO = Scenario(
    name="s1",
    aliases=("s3", "s1_s3"),
    title="S1 + S3: initial import at the rate limit, interactive changes during it",
    users=100_000,
    quick_users=2_000,
    run=run,
    section=section,
    plot=plot,
    targets={
        "s1_budget_use": Target(">=", 0.95),
        "s1_wall_vs_limit": Target("<=", 1.05),
        "s1_429_fraction": Target("<", 0.005),
        "s1_cpu_ms_per_user": Target("<=", 3),
        "s1_calls_per_user": Target("<=", 1.0),
        "s3_interactive_p99_s": Target("<=", 0.5),
    },
)
