"""`make bench`: run the benchmark scenarios, write bench/results.json, docs/benchmarks.md and
docs/benchmarks-s1.png. `python -m bench.run --quick` runs small versions (a smoke test)."""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report, s1_s3, s2, s4

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("s1_s3", "s2", "s4", "s1_s3_time_scale_0_1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    parser.add_argument("--only", default="s1,s2,s4", help="comma-separated scenarios (s1 includes s3)")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    sizes = (
        {"s1": 5_000, "s2": 50_000, "s4": 200} if args.quick else {"s1": 100_000, "s2": 1_000_000, "s4": 600}
    )
    results_path = ROOT / "bench" / "results.json"
    # The scenarios not run this time keep their last figures (the file's "details").
    results: dict[str, Any] = (
        json.loads(results_path.read_text()).get("details", {}) if results_path.exists() else {}
    )
    results = {k: v for k, v in results.items() if k in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="idsync-bench-") as tmp:
        work = Path(tmp)
        if "s1" in wanted:
            print(f"S1+S3: initial import of {sizes['s1']:,} users ...", flush=True)
            results["s1_s3"] = s1_s3.run(work, sizes["s1"])
        if "s2" in wanted:
            print(f"S2: re-import of {sizes['s2']:,} unchanged users ...", flush=True)
            results["s2"] = s2.run(work, sizes["s2"])
        if "s4" in wanted:
            print(f"S4: idsync vs the Okta SDK in a plain loop, {sizes['s4']:,} users ...", flush=True)
            results["s4"] = s4.run(work, sizes["s4"])
    results["meta"] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": args.quick,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    flat = report.flatten(results)
    results_path.write_text(json.dumps({**flat, "details": results}, indent=2, default=str) + "\n")
    report.write_docs(results, flat, ROOT / "docs")
    print(json.dumps(flat, indent=2))


if __name__ == "__main__":
    main()
