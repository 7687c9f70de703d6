"""S2: re-import of 1,000,000 unchanged users: no API call, users per second, peak memory.

Set-up (not measured): the sample file and a store as a finished first import of it leaves it
(bench/seed.py: the import's record and results, the links with IdP ids, profile hashes,
versions and the marks of their lines, as the worker leaves them: domain/marks.py). The
re-import runs as `idsync import` in a child process, which reports its own peak RSS; the
emulator's statistics prove that no request reached the IdP.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import idsync
from bench.common import TENANT, TOKEN, settings, write_users
from bench.scenario import Context, Outcome, Scenario, Target, num, table
from bench.seed import first_import
from idsync.adapters.store import Store
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


def run(ctx: Context) -> Outcome:
    users = ctx.users
    path = write_users(ctx.workdir / "s2.jsonl", users)
    db = ctx.workdir / "s2.db"
    with EmulatorProcess(EmulatorSettings(token=TOKEN)) as emu:
        t0 = time.monotonic()
        seeded = first_import(settings(db, emu.url), path, tenant=TENANT, import_id="s2-first")
        seed_s = time.monotonic() - t0
        config = ctx.workdir / "s2.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{db}"\n[idps.okta]\ntype = "okta"\nurl = "{emu.url}"\n'
            f'token_env = "BENCH_OKTA_TOKEN"\n[tenants.{TENANT}]\nidp = "okta"\n'
        )
        # The child runs the same idsync as this process (a checkout's sources before the venv's).
        source = str(Path(idsync.__file__).resolve().parents[1])
        env = {"BENCH_OKTA_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", "COLUMNS": "120", "PYTHONPATH": source}
        argv = ["import", str(path), "--tenant", TENANT, "--config", str(config), "--import-id", "s2"]
        out = subprocess.run(
            [sys.executable, "-c", CHILD, *argv],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=3600,
        )
        child = json.loads(out.stdout.strip().splitlines()[-1])
        requests = sum(sum(by.values()) for by in EmulatorAdmin(emu.url).stats()["requests"].values())
    store = Store(f"sqlite:///{db}")
    first, record = store.imports.get("s2-first"), store.imports.get("s2")
    store.close()
    with sqlite3.connect(db) as conn:
        marked = conn.execute("SELECT count(*) FROM links WHERE line_mark IS NOT NULL").fetchone()[0]
    assert first is not None and record is not None
    elapsed = record.updated_at - record.started_at
    figures = {
        "s2_users_per_s": round(users / elapsed),
        "s2_peak_rss_mb": round(child["peak_rss_mb"], 1),
        "s2_api_calls": requests,
    }
    details = {
        "users": users,
        "seed_s": round(seed_s, 1),
        "seeded_created": seeded,
        "first_import_created": first.counts["created"],
        "first_import_state": first.state.value,
        "exit_code": child["exit"],
        "unchanged": record.counts["unchanged"],
        "marked_links": marked,
        "import_s": round(elapsed, 2),
        "process_wall_s": round(child["wall_s"], 2),
        "users_per_s_whole_process": round(users / child["wall_s"]),
    }
    return Outcome(figures, details)


def section(d: dict[str, Any]) -> str:
    details = table(
        [
            ("users unchanged / exit code", f"{num(d['unchanged'])} / {num(d['exit_code'])}"),
            (
                "the import's own duration / the child process's wall time",
                f"{num(d['import_s'])} s / {num(d['process_wall_s'])} s",
            ),
            ("users a second over the whole process", num(d["users_per_s_whole_process"])),
        ]
    )
    return f"""\
A re-import of {num(d["users"])} unchanged users: `idsync import` in a child process, on a store
as a finished first import of the same file leaves it (set up in {num(d["seed_s"])} s, not
measured, through idsync's own ingestor and store: the first import is {d["first_import_state"]},
{num(d["first_import_created"])} users created, each with its result and its link with IdP id,
profile hash, version and the mark of its line as the worker leaves it; only the IdP calls are
left out, see `bench/seed.py`). {num(d["marked_links"])} links hold the mark of their line: the
re-import finds those lines at rest (one indexed query per 1,000 lines, `domain/marks.py`) and
counts them unchanged without parsing them.

{details}
- `s2_users_per_s` = users ÷ the import's own duration (from its record in the store);
  `s2_peak_rss_mb` = the child's peak resident memory; `s2_api_calls` = requests the emulator
  received.
"""


SCENARIO = Scenario(
    name="s2",
    title="S2: re-import of unchanged users",
    users=1_000_000,
    quick_users=20_000,
    run=run,
    section=section,
    targets={
        "s2_users_per_s": Target(">=", 50_000),
        "s2_peak_rss_mb": Target("<=", 300),
        "s2_api_calls": Target("==", 0),
    },
)
