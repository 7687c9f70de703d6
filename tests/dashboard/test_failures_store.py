"""The failure filter's SQL on both stores (SQLite and PostgreSQL): status, reason code, a
case-insensitive search with literal wildcards, paging, and the CSV stream. Invalid and
externally routed users are decided at ingest, so no IdP is called."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from idsync.adapters.store.failures import FailureFilter, failure_page
from idsync.domain.models import Lane
from idsync.domain.records import Received
from idsync.engine.ingest import Defaults
from idsync.lifecycle.failures import csv_chunks
from idsync.runtime import Runtime

from .support import TENANT, sample, settings

IMPORT_ID = "imp-store-1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'idsync.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


async def test_filters_paging_and_csv(store_url: str) -> None:
    messages = sample(40, external_every=4, invalid_every=10)  # 4 invalid, 8 external
    async with Runtime(settings(store_url, "http://127.0.0.1:9")) as rt:
        await rt.db.call(rt.store.imports.create, IMPORT_ID, TENANT, "http", total=len(messages))
        defaults = Defaults(origin="http", tenant=TENANT, import_id=IMPORT_ID, lane=Lane.BULK)
        await rt.ingestor.receive([Received(payload=m) for m in messages], defaults)

        async def page(filt: FailureFilter, after: int = 0, limit: int = 100) -> list[str]:
            rows = await rt.db.call(failure_page, rt.store, IMPORT_ID, filt, after=after, limit=limit)
            return [r.key for r in rows]

        invalid = ["10", "20", "30", "40"]
        external = ["4", "8", "12", "16", "24", "28", "32", "36"]
        assert await page(FailureFilter()) == sorted(invalid + external, key=int)
        assert await page(FailureFilter(statuses=("failed",))) == invalid
        assert await page(FailureFilter(code="external_idp")) == external
        assert await page(FailureFilter(text="USER2")) == ["20", "24", "28"]  # any case
        assert await page(FailureFilter(text="E-MAIL ADDRESS")) == invalid  # the reason
        assert await page(FailureFilter(text="ser_0@")) == []  # "_" is no wildcard
        assert await page(FailureFilter(text="100%")) == []
        assert await page(FailureFilter(statuses=("skipped",), code="invalid")) == []
        first = await rt.db.call(failure_page, rt.store, IMPORT_ID, FailureFilter(), limit=5)
        rest = await page(FailureFilter(), after=first[-1].change_id)
        assert [r.key for r in first] + rest == await page(FailureFilter())
        failed = first[2]  # key 10
        assert (failed.status, failed.reason_code) == ("failed", "invalid")
        assert failed.login == "user10@example.com"

        text = "".join([chunk async for chunk in csv_chunks(rt.db, IMPORT_ID, FailureFilter(text="user2"))])
        assert [r["key"] for r in csv.DictReader(io.StringIO(text))] == ["20", "24", "28"]
