"""Shared pieces of the benchmark scenarios: sample files, configurations, emulator windows."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from idsync.config import Settings, settings_from_dict

TENANT = "bench"
TOKEN = "bench-token"


def write_users(path: Path, n: int, *, prefix: str = "user", start: int = 0) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(start, start + n):
            login = f"{prefix}{i}@example.com"
            fh.write(
                json.dumps(
                    {
                        "tenant": TENANT,
                        "op": "upsert",
                        "source": "efs-panelist",
                        "key": f"{prefix}{i}",
                        "version": 1,
                        "user": {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"},
                    }
                )
                + "\n"
            )
    return path


def settings(store: Path, url: str, **governor: Any) -> Settings:
    os.environ["BENCH_OKTA_TOKEN"] = TOKEN
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{store}"},
            "idps": {
                "okta": {"type": "okta", "url": url, "token_env": "BENCH_OKTA_TOKEN", "governor": governor}
            },
            "tenants": {TENANT: {"idp": "okta", "mode": "sync"}},
        },
        os.environ,
    )


def bucket_windows(stats: dict[str, Any], bucket: str = "users") -> list[dict[str, Any]]:
    return sorted(
        (w for w in stats["rate_limit_windows"] if w["bucket"] == bucket), key=lambda w: w["window_start"]
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(round(q * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def physical_minimum_s(
    calls: int, per_window: int, window_s: float, round_trip_s: float = 0.0, in_flight: int | None = None
) -> float:
    """The least time `calls` calls can take at `per_window` calls a window: every window but the
    last must pass, and the last window's calls take round trips, `in_flight` at a time (the
    server's concurrency cap; None: all at once)."""
    windows = math.ceil(calls / per_window)
    last = calls - (windows - 1) * per_window
    rounds = math.ceil(last / in_flight) if in_flight else 1
    return (windows - 1) * window_s + rounds * round_trip_s


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used, all its threads included."""
    t = os.times()
    return t.user + t.system
