"""Shared pieces of the benchmark scenarios: sample files, configurations, emulator windows."""

from __future__ import annotations

import json
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
