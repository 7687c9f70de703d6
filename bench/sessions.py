"""A bulk import through an Okta identity source's import sessions, bench-ready (for S5).

`session_import(url, users, workdir, time_scale=...)` makes a Custom Identity Source in the
emulator at `url`, imports `users` new users into tenant `bench` through its sessions, and
returns the wall time, idsync's API calls and what the emulator served. The emulator's time
scale must be passed: idsync waits out Okta's five-minute rule between sessions at that scale.
Nothing here is timed against a target; the scenario that reports it is the lead's S5.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.common import TENANT, TOKEN, write_users
from idsync.config import settings_from_dict
from idsync.emulator.okta import EmulatorAdmin
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime

__all__ = ["session_import"]


async def session_import(
    url: str,
    users: int,
    workdir: Path,
    *,
    time_scale: float = 1.0,
    token: str = TOKEN,
    uploads_per_session: int = 50,
    poll_s: float | None = None,
    budget_share: float = 0.8,
    fill_wait_s: float = 2.0,
) -> dict[str, Any]:
    """Import `users` users through a new identity source of the emulator at `url`.

    `fill_wait_s` is not scaled with the emulator's clock: it is the pause in idsync's own flow of
    users (a store commit, a file batch) after which a partial session starts, and that pause is as
    long in real seconds at any time scale. Scaled to 0.1 s it took a commit for the end of the file
    and started the first session part-full, which costs a whole extra session at the end.
    """
    admin = EmulatorAdmin(url)
    source = admin.create_identity_source(f"bench-{time.time_ns()}")
    path = write_users(workdir / "sessions.jsonl", users, prefix="s5user")
    os.environ["BENCH_OKTA_TOKEN"] = token
    poll = poll_s if poll_s is not None else max(0.05, 5.0 * time_scale)
    cfg = settings_from_dict(
        {
            "store": {"url": f"sqlite:///{workdir / 'sessions.db'}"},
            "idps": {
                "okta": {
                    "type": "okta",
                    "url": url,
                    "token_env": "BENCH_OKTA_TOKEN",
                    "governor": {"budget_share": budget_share},
                    "identity_source": {
                        "id": source,
                        "poll_s": poll,
                        "fill_wait_s": fill_wait_s,
                        "uploads_per_session": uploads_per_session,
                        "session_gap_s": 300.0 * time_scale,
                        "list_lag_s": 5.0 * time_scale,
                    },
                }
            },
            "tenants": {TENANT: {"idp": "okta", "mode": "sync"}},
        },
        os.environ,
    )
    before = admin.stats(windows=False)["requests"]
    started = time.monotonic()
    async with Runtime(cfg) as runtime:
        report = await run_file_import(runtime, path, tenant=TENANT)
    wall = time.monotonic() - started
    served = admin.stats(windows=False)["requests"]
    by_endpoint = {
        endpoint: sum(statuses.values()) - sum(before.get(endpoint, {}).values())
        for endpoint, statuses in served.items()
    }
    sessions = admin.identity_source(source)["sessions"]
    progress = report.progress
    return {
        "users": users,
        "wall_s": round(wall, 2),
        "users_per_s": round(users / wall, 1) if wall > 0 else 0.0,
        "calls": report.api_calls,
        # What Okta served, counted by the emulator: the import's own count leaves out the
        # session calls (see the report of issue #21).
        "calls_served": sum(by_endpoint.values()),
        "calls_per_user": round(sum(by_endpoint.values()) / users, 4) if users else 0.0,
        "calls_by_endpoint": {k: v for k, v in sorted(by_endpoint.items()) if v},
        "sessions": len(sessions),
        "created": progress.created,
        "failed": progress.failed,
        "time_scale": time_scale,
    }
