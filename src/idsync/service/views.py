"""What the HTTP API answers: changes with their results, imports with their progress."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from idsync.domain.models import ImportState, Reason, Result, Status
from idsync.domain.records import ImportRecord
from idsync.runtime import Runtime

ChangeState = Literal["queued", "paused", "in_progress", "done"]
_STATES: dict[str, ChangeState] = {
    "pending": "queued",
    "paused": "paused",
    "inflight": "in_progress",
    "done": "done",
}


class ChangeView(BaseModel):
    change_id: int
    state: ChangeState
    result: Result | None = None
    url: str


class ImportView(BaseModel):
    import_id: str
    tenant: str
    origin: str
    state: ImportState
    received: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    failed: int
    activated: int
    deactivated: int
    deleted: int
    cancelled: int
    done: int
    pending: int
    total: int | None
    input_done: bool
    rate: float  # users per second: recent while running, the average once finished
    eta_s: float | None
    api_calls: int  # IdP calls made for the import
    started_at: float
    finished_at: float | None
    results_url: str


class ImportStarted(BaseModel):
    import_id: str
    received: int  # records stored by this upload
    resumed_after: int  # records of an earlier, interrupted upload that were skipped
    url: str


class ResultItem(BaseModel):
    change_id: int
    tenant: str
    source: str
    key: str
    op: str
    version: int | None
    state: ChangeState
    status: Status | None
    idp_id: str | None
    reason: Reason | None
    activation_url: str | None = None  # only when the tenant sends no activation e-mail


class ResultPage(BaseModel):
    items: list[ResultItem]
    next_after: int | None  # pass as `after` for the next page; None: this was the last


def _reason(row: Mapping[str, Any]) -> Reason | None:
    if not row.get("reason_code"):
        return None
    return Reason(code=row["reason_code"], message=row.get("reason_message") or "")


def change_view(row: Mapping[str, Any]) -> ChangeView:
    result = None
    if row["state"] == "done" and row["status"]:
        result = Result(
            status=Status(row["status"]),
            idp_id=row["idp_id"],
            reason=_reason(row),
            tenant=row["tenant"],
            source=row["source"],
            key=row["key"],
            version=row["version"],
            import_id=row["import_id"],
            message_id=row["message_id"],
            activation_url=row.get("activation_url"),
        )
    return ChangeView(
        change_id=row["id"],
        state=_STATES.get(row["state"], "queued"),
        result=result,
        url=f"/changes/{row['id']}",
    )


def result_item(row: Mapping[str, Any]) -> ResultItem:
    return ResultItem(
        change_id=row["id"],
        tenant=row["tenant"],
        source=row["source"],
        key=row["key"],
        op=row["op"],
        version=row["version"],
        state=_STATES.get(row["state"], "queued"),
        status=Status(row["status"]) if row["status"] else None,
        idp_id=row["idp_id"],
        reason=_reason(row),
        activation_url=row.get("activation_url"),
    )


def import_view(record: ImportRecord) -> ImportView:
    p = record.progress()
    return ImportView(
        import_id=record.id,
        tenant=record.tenant,
        origin=record.origin,
        state=record.state,
        **{k: record.counts[k] for k in ("received", *(s.value for s in Status))},
        done=p.done,
        pending=p.pending,
        total=record.total,
        input_done=record.input_done,
        rate=p.rate,
        eta_s=p.eta_s,
        api_calls=p.api_calls,
        started_at=record.started_at,
        finished_at=record.finished_at,
        results_url=f"/imports/{record.id}/results",
    )


async def wait_for_result(runtime: Runtime, change_id: int, timeout_s: float) -> Mapping[str, Any] | None:
    """The change's row once done, or None after `timeout_s`. This instance's worker tells at
    once; another instance's (several on PostgreSQL) is seen by looking at the store."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    future = runtime.worker.wait_for(change_id)
    stores = runtime.stores
    try:
        while True:
            row = await stores.queue.change_result(change_id)
            if row is not None and row["state"] == "done":
                return row
            left = deadline - loop.time()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), min(left, 0.25))
    finally:
        runtime.worker.forget(change_id)
