"""S2: re-import of 1,000,000 unchanged users: no API call, users per second, peak memory.

Set-up (not measured): the sample file and a store holding the links a first import would have
left (idsync ids, profile hashes, versions). Writing them directly instead of importing a million
users through the rate limit saves 28 hours of setup; the measured re-import reads them exactly
as after a real import. The re-import runs as `idsync import` in a child process, which reports
its own peak RSS; the emulator's statistics prove that no request reached the IdP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import TENANT, TOKEN, write_users
from idsync.adapters.store import Store
from idsync.domain.links import IdpStatus, Link
from idsync.domain.profile import profile_hash
from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorProcess
from idsync.emulator.okta.settings import EmulatorSettings

CHILD = """
import json, resource, sys, time
from idsync.cli.main import app
started = time.monotonic()
try:
    app(sys.argv[1:], standalone_mode=False)
    code = 0
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "wall_s": time.monotonic() - started,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _seed(store_url: str, users: int) -> None:
    store = Store(store_url)
    batch: list[Link] = []
    for i in range(users):
        login = f"user{i}@example.com"
        digest = profile_hash({"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"})
        batch.append(
            Link(
                TENANT, "efs-panelist", f"user{i}", "okta", f"00u{i:017d}", login, digest, IdpStatus.STAGED, 1
            )
        )
        if len(batch) == 20_000:
            store.queue.save_links(batch)
            batch = []
    if batch:
        store.queue.save_links(batch)
    store.close()


def run(workdir: Path, users: int = 1_000_000) -> dict[str, Any]:
    path = write_users(workdir / "s2.jsonl", users)
    db = workdir / "s2.db"
    t0 = time.monotonic()
    _seed(f"sqlite:///{db}", users)
    seed_s = time.monotonic() - t0
    with EmulatorProcess(EmulatorSettings(token=TOKEN)) as emu:
        config = workdir / "s2.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{db}"\n[idps.okta]\ntype = "okta"\nurl = "{emu.url}"\n'
            f'token_env = "BENCH_OKTA_TOKEN"\n[tenants.{TENANT}]\nidp = "okta"\n'
        )
        env = {"BENCH_OKTA_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", "COLUMNS": "120"}
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                "import",
                str(path),
                "--tenant",
                TENANT,
                "--config",
                str(config),
                "--import-id",
                "s2",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=3600,
        )
        child = json.loads(out.stdout.strip().splitlines()[-1])
        requests = sum(sum(by.values()) for by in EmulatorAdmin(emu.url).stats()["requests"].values())
    store = Store(f"sqlite:///{db}")
    record = store.imports.get("s2")
    store.close()
    assert record is not None
    elapsed = record.updated_at - record.started_at
    return {
        "users": users,
        "seed_s": round(seed_s, 1),
        "s2_exit_code": child["exit"],
        "s2_unchanged": record.counts["unchanged"],
        "s2_api_calls": requests,
        "s2_import_s": round(elapsed, 2),
        "s2_process_wall_s": round(child["wall_s"], 2),
        "s2_users_per_s": round(users / elapsed),
        "s2_users_per_s_whole_process": round(users / child["wall_s"]),
        "s2_peak_rss_mb": round(child["peak_rss_mb"], 1),
    }
