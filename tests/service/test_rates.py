"""Rate and ETA of imports sent over HTTP, measured by one instance for all."""

from __future__ import annotations

import asyncio
from pathlib import Path

from idsync.domain.models import Status
from idsync.domain.records import Finished, Outcome, Received
from idsync.engine.ingest import Defaults
from idsync.runtime import Runtime
from idsync.service.rates import ImportRates

from .support import change, settings


async def test_a_running_http_import_gets_a_rate_and_an_eta(tmp_path: Path) -> None:
    cfg = settings(f"sqlite:///{tmp_path / 'idsync.db'}", "http://127.0.0.1:9")  # no IdP call here
    async with Runtime(cfg) as rt:
        store = rt.store
        store.imports.create("imp-r", "t", "http")
        defaults = Defaults(origin="http", tenant="t", import_id="imp-r")
        await rt.ingestor.receive([Received(payload=change(i)) for i in range(10)], defaults)
        rates = ImportRates(rt, "me")
        other = ImportRates(rt, "other")
        await rates.measure_once()
        await asyncio.sleep(0.05)
        users = store.queue.claim("me", limit=4, lease_s=60)
        store.queue.write_batch(
            finished=[
                Finished(
                    u.user_key, "me", [Outcome(c.id, Status.CREATED, "00u", None, "imp-r") for c in u.changes]
                )
                for u in users
            ]
        )
        await rates.measure_once()
        await other.measure_once()  # does nothing: "me" holds the role
        record = store.imports.get("imp-r")
        assert record is not None and record.rate > 0
        eta = record.progress().eta_s
        assert eta is not None and eta > 0
