"""`make bench`: run the benchmark scenarios, write bench/results.json, then docs/benchmarks.md and
docs/benchmarks.png from it (bench/report.py). Nothing is carried over from an earlier run: the
file holds the figures of this run only, with what ran, where and when in its `meta` block.

    python -m bench.run [--only s1,s4] [--users N | --users s1=N,s4=M] [--time-scale X] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.registry import SCENARIOS, find
from bench.scenario import Context, Scenario

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"


def _users(text: str | None, chosen: list[Scenario], quick: bool) -> dict[str, int]:
    """`N` for every chosen scenario, or `s1=N,s4=M`; the rest keep their (quick) size."""
    sizes = {s.name: s.quick_users if quick else s.users for s in chosen}
    if not text:
        return sizes
    for part in text.split(","):
        name, _, value = part.rpartition("=")
        try:
            users = int(value.replace("_", ""))
        except ValueError:
            raise SystemExit(f"--users: {value!r} is not a whole number") from None
        if users < 1:
            raise SystemExit(f"--users: {users} must be at least 1")
        targets = [find(name).name] if name else list(sizes)
        for target in targets:
            if target not in sizes:
                raise SystemExit(f"--users: {name} is not among the scenarios chosen with --only")
            sizes[target] = users
    return sizes


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _meta(quick: bool, sizes: dict[str, int], time_scale: float | None) -> dict[str, Any]:
    return {
        "commit": _git("rev-parse", "HEAD") or None,
        "dirty": bool(_git("status", "--porcelain")),
        "command": list(sys.orig_argv),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "quick": quick,
        "time_scale": time_scale,
        "users": sizes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--only", help=f"comma-separated scenarios (default: all of {', '.join(s.name for s in SCENARIOS)})"
    )
    parser.add_argument("--users", help="users per scenario: N for all chosen, or s1=N,s4=M")
    parser.add_argument(
        "--time-scale",
        type=float,
        help="the emulator's time scale for S1 and S4 (default: S1 0.03, S4 real minutes)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    args = parser.parse_args(argv)
    if args.time_scale is not None and not 0 < args.time_scale <= 1:
        parser.error(f"--time-scale: {args.time_scale} must be above 0 and at most 1")
    try:
        chosen = [find(n.strip()) for n in args.only.split(",")] if args.only else list(SCENARIOS)
    except ValueError as exc:
        parser.error(f"--only: {exc}")
    chosen = [s for s in SCENARIOS if s in chosen]  # registry order, each once
    sizes = _users(args.users, chosen, args.quick)
    meta = _meta(args.quick, sizes, args.time_scale)
    started = time.monotonic()
    figures: dict[str, Any] = {}
    details: dict[str, Any] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="idsync-bench-") as tmp:
        for scenario in chosen:
            print(f"{scenario.title}: {sizes[scenario.name]:,} users ...", flush=True)
            workdir = Path(tmp, scenario.name)
            workdir.mkdir()
            ctx = Context(workdir, sizes[scenario.name], args.quick, args.time_scale)
            try:
                outcome = scenario.run(ctx)
            except Exception as exc:  # one failed scenario must not lose the others' figures
                traceback.print_exc()
                details[scenario.name] = {"error": f"{type(exc).__name__}: {exc}"}
                failed = True
                continue
            figures.update(outcome.figures)
            details[scenario.name] = outcome.details
    meta["ended_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["wall_s"] = round(time.monotonic() - started, 1)
    targets = {k: t.as_dict() for s in chosen for k, t in s.targets.items() if k in figures}
    results = {"meta": meta, **figures, "targets": targets, "details": details}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report.write(results, ROOT / "docs")
    print(json.dumps(figures, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
