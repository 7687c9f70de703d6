"""S4: idsync against what a user would run instead (bench/peers): the official Okta SDK in the
seeds' sequential loop, and in a script with 8 concurrent workers. Every run creates the same users
(not activated) against a fresh emulator with the same settings: Okta's default limits (600
creates a minute, 50% per API token), real one-minute windows (the SDK waits `Reset - Date + 1`
real seconds after a 429, so a compressed minute would be unfair to it) and an added latency per
request, at several values (Okta publishes none).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.common import TENANT, TOKEN, bucket_windows, physical_minimum_s, settings, write_users
from bench.peers import sdk_concurrent, sdk_sequential
from bench.peers.common import PeerResult
from bench.scenario import Context, Outcome, Scenario, Target, num, pct
from idsync.config import GovernorSettings
from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorProcess
from idsync.emulator.okta.settings import EmulatorSettings, FaultSettings
from idsync.engine.governor import CRUISE_CONCURRENCY, SEND_WITHIN
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime

LATENCIES_MS = (50.0, 100.0, 300.0)
QUICK_LATENCIES_MS = (50.0,)
QUICK_TIME_SCALE = 0.1  # --quick: 6-second windows, to check the harness in a minute
DEFAULT_SHARE = 0.8
PEERS: dict[str, Callable[[str, str, int], Coroutine[Any, Any, PeerResult]]] = {
    "sdk_sequential": sdk_sequential.run,
    "sdk_concurrent": sdk_concurrent.run,
}


def _emulator(latency_ms: float, time_scale: float) -> EmulatorSettings:
    faults = FaultSettings(latency_ms=latency_ms, latency_jitter_ms=latency_ms / 4)
    return EmulatorSettings(token=TOKEN, time_scale=time_scale, faults=faults)


async def _peer(
    peer: Callable[[str, str, int], Coroutine[Any, Any, PeerResult]], url: str, *, users: int
) -> PeerResult:
    return await peer(url, TOKEN, users)


async def _idsync(url: str, *, workdir: Path, path: Path, share: float) -> PeerResult:
    cfg = settings(workdir / f"s4-{share}-{time.monotonic_ns()}.db", url, budget_share=share)
    async with Runtime(cfg) as runtime:
        started = time.monotonic()
        report = await run_file_import(runtime, path, tenant=TENANT)
        wall = time.monotonic() - started
    return PeerResult(wall, report.progress.created, report.progress.failed)


def _one(
    name: str, job: Callable[[str], Coroutine[Any, Any, PeerResult]], emulator: EmulatorSettings
) -> dict[str, Any]:
    with EmulatorProcess(emulator) as emu:
        result = asyncio.run(job(emu.url))
        stats = EmulatorAdmin(emu.url).stats()
    print(f"  {name}: {result.wall_s:.1f} s, {stats['served_429']['total']} x 429", flush=True)
    windows = bucket_windows(stats)
    return {
        "wall_s": round(result.wall_s, 1),
        "created": result.created,
        "errors": result.errors,
        "served_429": stats["served_429"]["total"],
        "window_s": stats["rate_limit"]["window_s"],
        "org_limit": stats["rate_limit"]["limits"]["users"],
        "token_limit": stats["rate_limit"]["token_limits"]["users"],
        "token_share": stats["rate_limit"]["token_share"],
        "concurrency_limit": stats["concurrency"]["limit"],
        # When each window opened (seconds after the first) and what it took: shows how soon
        # after a reset each peer came back.
        "windows": [
            {
                "opened_s": round(w["window_start"] - windows[0]["window_start"], 2),
                "calls": w["calls"],
                "served_429": w["rejected_429"],
            }
            for w in windows
        ],
    }


def _latency(workdir: Path, users: int, latency_ms: float, time_scale: float) -> dict[str, Any]:
    path = write_users(workdir / "s4.jsonl", users)
    emulator = _emulator(latency_ms, time_scale)
    print(f" latency {latency_ms:.0f} ms", flush=True)
    runs: dict[str, dict[str, Any]] = {}
    for name, peer in PEERS.items():
        runs[name] = _one(name, functools.partial(_peer, peer, users=users), emulator)
    for share in (1.0, DEFAULT_SHARE):
        job = functools.partial(_idsync, workdir=workdir, path=path, share=share)
        runs[f"idsync_{share}"] = _one(f"idsync at share {share}", job, emulator)
    first = runs["idsync_1.0"]
    window_s, token_limit = first["window_s"], first["token_limit"]
    round_trip, cap = latency_ms / 1000, first["concurrency_limit"]
    minimum = physical_minimum_s(users, token_limit, window_s, round_trip, cap)
    default_minimum = physical_minimum_s(users, int(token_limit * DEFAULT_SHARE), window_s, round_trip, cap)
    with_workers = physical_minimum_s(users, token_limit, window_s, round_trip, sdk_concurrent.WORKERS)
    idsync = first["wall_s"]
    return {
        "latency_ms": latency_ms,
        "runs": runs,
        "physical_minimum_s": round(minimum, 2),
        "physical_minimum_default_share_s": round(default_minimum, 2),
        "minimum_in_flight_s": round(with_workers, 2),
        "wall_vs_limit": round(idsync / minimum, 3),
        "wall_vs_limit_default_share": round(runs[f"idsync_{DEFAULT_SHARE}"]["wall_s"] / default_minimum, 3),
        "ratio_vs_sdk_sequential": round(idsync / runs["sdk_sequential"]["wall_s"], 3),
        "ratio_vs_sdk_concurrent": round(idsync / runs["sdk_concurrent"]["wall_s"], 3),
    }


def run(ctx: Context) -> Outcome:
    time_scale = ctx.time_scale or (QUICK_TIME_SCALE if ctx.quick else 1.0)
    latencies = QUICK_LATENCIES_MS if ctx.quick else LATENCIES_MS
    rows = [_latency(ctx.workdir, ctx.users, lat, time_scale) for lat in latencies]
    first = rows[0]["runs"]["idsync_1.0"]
    figures = {
        "s4_wall_vs_limit_max": max(r["wall_vs_limit"] for r in rows),
        "s4_ratio_vs_sdk_sequential_max": max(r["ratio_vs_sdk_sequential"] for r in rows),
        "s4_ratio_vs_sdk_concurrent_max": max(r["ratio_vs_sdk_concurrent"] for r in rows),
        "s4_idsync_429s": sum(r["runs"]["idsync_1.0"]["served_429"] for r in rows),
        "s4_idsync_default_share_429s": sum(r["runs"][f"idsync_{DEFAULT_SHARE}"]["served_429"] for r in rows),
    }
    details = {
        "users": ctx.users,
        "time_scale": time_scale,
        "window_s": first["window_s"],
        "org_limit_per_window": first["org_limit"],
        "token_limit_per_window": first["token_limit"],
        "token_share": first["token_share"],
        "concurrency_limit": first["concurrency_limit"],
        "full_share": 1.0,
        "default_share": DEFAULT_SHARE,
        "workers": sdk_concurrent.WORKERS,
        "idsync_cruise_concurrency": CRUISE_CONCURRENCY,
        "idsync_max_concurrency": GovernorSettings().max_concurrency,
        "idsync_send_within": SEND_WITHIN,
        "latencies": rows,
    }
    return Outcome(figures, details)


def _cell(r: dict[str, Any], minimum_s: float | None = None) -> str:
    notes = [f"{num(r['served_429'])} x `429`"]
    if r["errors"]:
        notes.append(f"{num(r['errors'])} failed")
    if minimum_s is not None:
        notes.append(f"minimum {num(minimum_s)} s")
    return f"{num(r['wall_s'])} s ({'; '.join(notes)})"


def _windows_table(d: dict[str, Any]) -> str:
    """Per run, each window: the calls it took (and `429` answers) and when it opened."""
    names = {
        "sdk_sequential": "SDK, sequential",
        "sdk_concurrent": "SDK, workers",
        "idsync_1.0": "idsync, share 1.0",
        f"idsync_{d['default_share']}": "idsync, default share",
    }
    lines = [
        "| latency | run | calls per window (`429` answers), opened s after the first |",
        "|---|---|---|",
    ]
    if not any("windows" in run for r in d["latencies"] for run in r["runs"].values()):
        return ""  # results of a harness that did not record them
    for r in d["latencies"]:
        for key, label in names.items():
            windows = r["runs"][key].get("windows", [])
            cells = ", ".join(
                f"{num(w['calls'])} ({num(w['served_429'])}) at {num(w['opened_s'])} s" for w in windows
            )
            lines.append(f"| {num(r['latency_ms'])} ms | {label} | {cells} |")
    return "\n".join(lines)


def _idsync_in_flight(d: dict[str, Any]) -> str:
    if "idsync_cruise_concurrency" not in d:
        return "idsync has as many in flight at most (its default `max_concurrency`)."
    return (
        f"idsync has {num(d['idsync_cruise_concurrency'])} in flight; for a job's "
        "last calls, which fit in the window, more when the round trip is long, so that they go out "
        f"within {pct(d['idsync_send_within'])} of a window, up to "
        f"{num(d['idsync_max_concurrency'])} (`max_concurrency`)."
    )


def section(d: dict[str, Any]) -> str:
    share, full = d["default_share"], d["full_share"]
    columns = [
        "latency",
        "physical minimum",
        f"with {num(d['workers'])} in flight",
        "SDK, sequential",
        f"SDK, {num(d['workers'])} workers",
        f"idsync, share {num(full, 1)}",
        f"idsync, share {num(share)}",
        "idsync ÷ minimum",
        "idsync ÷ SDK sequential",
        "idsync ÷ SDK workers",
    ]
    header = "| " + " | ".join(columns) + " |"
    table = _windows_table(d)
    windows = f"{table}\n\n" if table else ""
    rows = "\n".join(
        f"| {num(r['latency_ms'])} ms | {num(r['physical_minimum_s'])} s | {num(r['minimum_in_flight_s'])} s "
        f"| {_cell(r['runs']['sdk_sequential'])} | {_cell(r['runs']['sdk_concurrent'])} "
        f"| {_cell(r['runs']['idsync_1.0'])} "
        f"| {_cell(r['runs'][f'idsync_{share}'], r['physical_minimum_default_share_s'])} "
        f"| {num(r['wall_vs_limit'])} | {num(r['ratio_vs_sdk_sequential'])} "
        f"| {num(r['ratio_vs_sdk_concurrent'])} |"
        for r in d["latencies"]
    )
    return f"""\
{num(d["users"])} users created (not activated) by each peer against a fresh emulator with the same
settings: Okta's default limits ({num(d["org_limit_per_window"])} creates a window per org, a token
may use {pct(d["token_share"])}: {num(d["token_limit_per_window"])}), windows of {num(d["window_s"])} s
(time scale {num(d["time_scale"])}) and the added latency of the row (jitter a quarter of it).
The peers: the seeds' sequential loop with the official Okta SDK; a script with {num(d["workers"])}
asyncio workers sharing one SDK client; both wait out a `429` as the SDK does (until
`X-Rate-Limit-Reset`, from the `Date` header, plus a second). idsync runs at budget share
{num(full, 1)} (the token's whole limit, like the SDK) and at its default share {num(share)}.
The physical minimum is the time the token's limit forces: every window but the last must pass,
and the last window's calls take round trips, at most {num(d["concurrency_limit"])} in flight (the
org's concurrency cap); at share {num(share)} its own, in brackets. The workers have
{num(d["workers"])} calls in flight at most: the column "with {num(d["workers"])} in flight" is the
minimum for them. {_idsync_in_flight(d)}

{header}
|---|---|---|---|---|---|---|---|---|---|
{rows}

{windows}- The ratios are idsync's at share {num(full, 1)}; the figures take the worst latency:
  `s4_wall_vs_limit_max`, `s4_ratio_vs_sdk_sequential_max`, `s4_ratio_vs_sdk_concurrent_max`;
  `s4_idsync_429s` and `s4_idsync_default_share_429s` add up the `429` answers idsync got.
- Reading it: the sequential loop makes one call at a time, so it goes no faster than a call per
  round trip; where that is below the limit it never sees a `429`, and latency sets its time. The
  workers reach the limit within seconds, then each one waits out its own `429` until the reset
  plus a second (the SDK's formula, on a `Reset` the server rounds up and a `Date` it truncates).
  idsync sends a window's budget at once and the next window's at its reset, learned from the
  headers, without a `429`; it keeps its interactive reserve until just before the reset, or until
  a job's last calls all fit in the window. At its default share it leaves the rest of the token's
  limit to the org's other applications, so a job needs more windows.
"""


def plot(ax: Any, d: dict[str, Any]) -> None:
    share = d["default_share"]
    names = [
        ("sdk_sequential", "SDK, sequential"),
        ("sdk_concurrent", f"SDK, {d['workers']} workers"),
        ("idsync_1.0", "idsync, share 1.0"),
        (f"idsync_{share}", f"idsync, share {share}"),
    ]
    rows = d["latencies"]
    width = 0.8 / (len(names) + 1)
    for i, (key, label) in enumerate(names):
        xs = [j + i * width for j in range(len(rows))]
        ax.bar(xs, [r["runs"][key]["wall_s"] for r in rows], width, label=label)
    xs = [j + len(names) * width for j in range(len(rows))]
    ax.bar(xs, [r["physical_minimum_s"] for r in rows], width, color="grey", label="physical minimum")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
    ax.set_xticklabels([f"{r['latency_ms']:.0f} ms" for r in rows])
    ax.set_ylabel("wall time (s)")
    ax.legend(fontsize=8)
    ax.set_title(f"S4: {d['users']} users, by added latency")


SCENARIO = Scenario(
    name="s4",
    title="S4: idsync against the Okta SDK, sequential and concurrent",
    users=600,
    quick_users=400,
    run=run,
    section=section,
    plot=plot,
    targets={
        "s4_wall_vs_limit_max": Target("<=", 1.05),
        "s4_ratio_vs_sdk_sequential_max": Target("<=", 0.75),
        "s4_ratio_vs_sdk_concurrent_max": Target("<=", 1.0),
        "s4_idsync_429s": Target("==", 0),
    },
)
