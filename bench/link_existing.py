"""Link-existing: an import into an org that already holds most of its users (issue [identity]).

Set-up (not measured): the emulator's org holds `users` accounts made before idsync came (seeded
through its admin side, the same people as the import's), and the import brings `users // 10` new
ones. The import runs with `--link-existing` under `existing_account = "adopt_unlinked"`: the
org is listed once (200 a page) and every existing account is matched by login before any create.

Figure: API calls per pre-existing user = (every call of the import - one create per new user) ÷
pre-existing users (target ≤ 0.01: a failed create and a lookup per user would be 2). The
emulator's statistics prove no create was refused as a duplicate.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench.common import TENANT, TOKEN, write_users
from bench.scenario import Context, Outcome, Scenario, Target, num, table
from idsync.config import settings_from_dict
from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorProcess
from idsync.emulator.okta.settings import EmulatorSettings
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime

NEW_SHARE = 10  # one new user per ten that exist


def run(ctx: Context) -> Outcome:
    existing = ctx.users
    new = max(existing // NEW_SHARE, 1)
    path = ctx.workdir / "link-existing.jsonl"
    write_users(path, existing + new)  # user0 .. user{existing+new-1}
    time_scale = ctx.time_scale if ctx.time_scale is not None else 0.05
    with EmulatorProcess(EmulatorSettings(token=TOKEN, time_scale=time_scale)) as emu:
        admin = EmulatorAdmin(emu.url)
        seeded = [
            {
                "profile": {
                    "login": f"user{i}@example.com",
                    "email": f"user{i}@example.com",
                    "firstName": "Ann",
                    "lastName": "Lee",
                }
            }
            for i in range(existing)
        ]
        for i in range(0, len(seeded), 5000):
            admin._post("/users", {"users": seeded[i : i + 5000]})
        os.environ["BENCH_OKTA_TOKEN"] = TOKEN
        settings = settings_from_dict(
            {
                "store": {"url": f"sqlite:///{ctx.workdir / 'link-existing.db'}"},
                "idps": {
                    "okta": {
                        "type": "okta",
                        "url": emu.url,
                        "token_env": "BENCH_OKTA_TOKEN",
                        "governor": {"budget_share": 1.0},
                    }
                },
                "tenants": {TENANT: {"idp": "okta", "mode": "sync", "existing_account": "adopt_unlinked"}},
            },
            os.environ,
        )
        started = time.monotonic()
        report = asyncio.run(_import(settings, path))
        wall_s = time.monotonic() - started
        stats = admin.stats(windows=False)
    creates = stats["requests"].get("POST /api/v1/users", {})
    lists = stats["requests"].get("GET /api/v1/users", {})
    calls_for_existing = report["api_calls"] - new
    figures = {"link_existing_calls_per_user": round(calls_for_existing / existing, 5)}
    details: dict[str, Any] = {
        "existing_users": existing,
        "new_users": new,
        "api_calls": report["api_calls"],
        "list_calls": sum(lists.values()),
        "creates": creates,
        "linked_unchanged": report["unchanged"],
        "created": report["created"],
        "failed": report["failed"],
        "duplicate_login_rejections": stats["duplicate_login_rejections"],
        "wall_s": round(wall_s, 1),
        "time_scale": time_scale,
        **figures,
    }
    return Outcome(figures, details)


async def _import(settings: Any, path: Any) -> dict[str, int]:
    async with Runtime(settings) as rt:
        report = await run_file_import(rt, path, tenant=TENANT, link_existing=True)
    p = report.progress
    return {"api_calls": report.api_calls, "unchanged": p.unchanged, "created": p.created, "failed": p.failed}


def section(d: dict[str, Any]) -> str:
    return (
        f"The org already holds {num(d['existing_users'])} of the import's users (made before idsync), "
        f"and the import brings {num(d['new_users'])} new ones; it runs with `--link-existing` under "
        '`existing_account = "adopt_unlinked"`.\n\n'
        + table(
            [
                ("calls per pre-existing user", num(d["link_existing_calls_per_user"])),
                ("API calls in all", num(d["api_calls"])),
                ("of them: pages of the org's user list", num(d["list_calls"])),
                ("creates (one per new user)", num(sum(d["creates"].values()))),
                ("pre-existing users linked (unchanged)", num(d["linked_unchanged"])),
                ("new users created", num(d["created"])),
                ("failed", num(d["failed"])),
                ("creates refused as duplicates", num(d["duplicate_login_rejections"])),
                ("wall time, s", num(d["wall_s"])),
            ]
        )
    )


SCENARIO = Scenario(
    name="link_existing",
    title="Link-existing: an org that already holds the users",
    users=20_000,
    quick_users=2_000,
    run=run,
    section=section,
    targets={"link_existing_calls_per_user": Target("<=", 0.01)},
    aliases=("link-existing",),
)
