"""The JSON the dashboard reads: imports with progress, the queue, the rate budget per bucket.

The counts are the store's import counters, the same the API's `/imports/{id}` answers, so the
page and the API never disagree. What the page adds is derived: percent, a rate for imports
whose job records none, ETA, and per-minute figures for the rate limits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from idsync.adapters.store.failures import FailureRow
from idsync.domain.models import ImportControl, ImportState, Status
from idsync.domain.records import ImportRecord
from idsync.web.dashboard.sampler import BucketKey, History, Point

__all__ = [
    "COUNTED",
    "AuditItem",
    "AuditPage",
    "BucketView",
    "FailurePage",
    "IdpView",
    "ImportDetail",
    "ImportRow",
    "LimitsView",
    "Me",
    "Overview",
    "QueueView",
    "ReasonRow",
    "bucket_views",
    "import_row",
]

# Statuses in the order a support engineer reads them: progress first, then the problems.
COUNTED = [s.value for s in Status if s not in (Status.SKIPPED, Status.FAILED)] + ["skipped", "failed"]
RateSource = Literal["observed", "job", "average"]


class AuditItem(BaseModel):
    id: int
    at: float
    actor: str
    action: str
    target: str
    tenant: str | None
    outcome: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditItem]
    next_before: int | None  # pass as `before` for the next (older) page; None: the last


class Me(BaseModel):
    actor: str  # token:NAME, config-token, sso:LOGIN
    access: str  # "operator on efs-prod, viewer on efs-test"
    grants: dict[str, str]  # tenant ("*": every tenant) -> role
    everywhere: bool


class ImportRow(BaseModel):
    import_id: str
    tenant: str
    origin: str  # file, http, kafka, activation
    kind: Literal["import", "activation"]
    input_name: str | None
    state: ImportState
    counts: dict[str, int]  # received and every status
    done: int
    pending: int
    total: int | None
    input_done: bool
    percent: float | None  # of the total; None while the size is not known yet
    rate: float  # users finished per second
    rate_source: RateSource | None
    eta_s: float | None
    started_at: float
    updated_at: float
    finished_at: float | None
    # What the caller may do to it now (its role on the tenant and the import's state allow it).
    controls: list[ImportControl] = []


class ReasonRow(BaseModel):
    status: str
    code: str
    count: int
    example: str


class ImportDetail(BaseModel):
    item: ImportRow
    reasons: list[ReasonRow]


class FailurePage(BaseModel):
    items: list[FailureRow]  # the columns of the failure report
    next_after: int | None  # pass as `after` for the next page; None: this was the last


class QueueView(BaseModel):
    interactive: int
    bulk: int
    sampled_at: float | None


class Overview(BaseModel):
    generated_at: float
    imports: list[ImportRow]
    queue: QueueView


class BucketView(BaseModel):
    idp: str
    bucket: str
    limit: int | None  # calls per window, learned from the IdP's headers
    window_s: float | None  # learned from two consecutive resets; None until then
    budget: int | None  # the part of the limit idsync may use (limit x budget share)
    budget_share: float  # configured share of the limit
    limit_per_min: float | None
    budget_per_min: float | None
    calls_left: int | None  # of our budget in the current window
    reset_in_s: float | None
    calls: int  # sent since the service started
    calls_by_status: dict[str, int]
    rate_limited: int  # 429 answers since the service started
    waiting: int  # calls waiting for a permit now
    calls_per_min: float | None  # over the last sample interval
    series: list[tuple[float, float, int]]  # (t, calls per minute, 429s) since `since`


class IdpView(BaseModel):
    name: str
    buckets: list[BucketView]


class LimitsView(BaseModel):
    generated_at: float
    interval_s: float
    idps: list[IdpView]


def import_row(record: ImportRecord, history: History | None = None) -> ImportRow:
    p = record.progress()
    done = p.done
    total = (
        record.total
        if record.total is not None
        else (record.counts["received"] if record.input_done else None)
    )
    percent = min(100.0 * done / total, 100.0) if total else (100.0 if total == 0 else None)
    rate, source = _rate(record, done, history)
    eta = None
    if record.state is ImportState.RUNNING and rate > 0:
        remaining = (total - done) if total is not None else p.pending
        eta = max(remaining, 0) / rate
    return ImportRow(
        import_id=record.id,
        tenant=record.tenant,
        origin=record.origin,
        kind="activation" if record.origin == "activation" else "import",
        input_name=os.path.basename(record.input_name) if record.input_name else None,
        state=record.state,
        counts={"received": record.counts["received"], **{k: record.counts.get(k, 0) for k in COUNTED}},
        done=done,
        pending=p.pending,
        total=record.total,
        input_done=record.input_done,
        percent=percent,
        rate=rate,
        rate_source=source,
        eta_s=eta,
        started_at=record.started_at,
        updated_at=record.updated_at,
        finished_at=record.finished_at,
    )


def _rate(record: ImportRecord, done: int, history: History | None) -> tuple[float, RateSource | None]:
    """Running: the rate seen by the sampler over the last half minute (true whoever runs the
    job), else the one the job records. Finished: the average over the whole run."""
    if record.state is not ImportState.RUNNING:
        end = record.finished_at or record.updated_at
        elapsed = end - record.started_at
        return (done / elapsed, "average") if elapsed > 0 and done else (0.0, None)
    if history is not None and record.id in history.import_rates:
        return history.import_rates[record.id], "observed"
    if record.rate > 0:
        return record.rate, "job"
    return 0.0, None


def bucket_views(
    governors: Mapping[str, Any],
    shares: Mapping[str, float],
    history: History,
    *,
    since: float = 0.0,
) -> list[IdpView]:
    idps: list[IdpView] = []
    for idp, governor in governors.items():
        buckets = [
            _bucket_view(idp, name, snap, shares.get(idp, 1.0), history, since)
            for name, snap in sorted(governor.snapshot().items())
        ]
        idps.append(IdpView(name=idp, buckets=buckets))
    return idps


def _bucket_view(
    idp: str, name: str, snap: Mapping[str, Any], share: float, history: History, since: float
) -> BucketView:
    key: BucketKey = (idp, name)
    window = snap.get("window_s")  # a minute at Okta; shorter under the emulator's time scale
    limit, budget = snap.get("limit"), snap.get("budget")
    per_min = 60.0 / window if window else None
    calls = {str(k): int(v) for k, v in (snap.get("calls") or {}).items()}
    points: list[Point] = history.series(key)
    return BucketView(
        idp=idp,
        bucket=name,
        limit=limit,
        window_s=window,
        budget=budget,
        budget_share=share,
        limit_per_min=limit * per_min if limit is not None and per_min else None,
        budget_per_min=budget * per_min if budget is not None and per_min else None,
        calls_left=snap.get("calls_left"),
        reset_in_s=snap.get("reset_in_s"),
        calls=sum(calls.values()),
        calls_by_status=calls,
        rate_limited=int(snap.get("rate_limited") or 0),
        waiting=int(snap.get("waiting") or 0),
        calls_per_min=points[-1].calls_per_min if points else None,
        series=[(p.t, round(p.calls_per_min, 1), p.rate_limited) for p in points if p.t > since],
    )
