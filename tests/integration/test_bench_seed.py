"""S2's set-up (bench/seed.py) leaves the store exactly as a real first import through the
emulator does, apart from ids and times: otherwise S2 would measure a re-import of something no
real import leaves behind."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from bench.common import TENANT, TOKEN, settings, write_users
from bench.seed import first_import

from idsync.emulator.okta import EmulatorSettings, EmulatorThread
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime

# Differ between any two imports: row ids, clocks, the ids Okta hands out, the import's rate.
VARYING = {"id", "idp_id", "updated_at", "received_at", "finished_at", "started_at", "rate", "applied_at"}


def rows(db: Path, table: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        found = [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]
    return sorted(
        ({k: v for k, v in r.items() if k not in VARYING} for r in found), key=lambda r: sorted(r.items())
    )


def test_seeded_store_equals_a_real_first_import(tmp_path: Path) -> None:
    path = write_users(tmp_path / "users.jsonl", 40)
    with EmulatorThread(EmulatorSettings(token=TOKEN, time_scale=0.05)) as emu:
        real = settings(tmp_path / "real.db", emu.url)

        async def real_import() -> None:
            async with Runtime(real) as runtime:
                report = await run_file_import(runtime, path, tenant=TENANT, import_id="first")
                assert report.progress.created == 40

        asyncio.run(real_import())
    seeded = settings(tmp_path / "seeded.db", "http://127.0.0.1:9")  # never called
    assert first_import(seeded, path, tenant=TENANT, import_id="first") == 40
    for table in ("links", "changes", "imports", "claims"):
        assert rows(tmp_path / "seeded.db", table) == rows(tmp_path / "real.db", table), table
    assert len(rows(tmp_path / "seeded.db", "links")) == 40
    # The real worker marked each link with its line (domain/marks.py), as the seed does: S2's
    # re-import passes over lines a real import proved, not lines only the seed marked.
    assert all(r["line_mark"] for r in rows(tmp_path / "real.db", "links"))
