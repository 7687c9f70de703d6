"""What operators do with the safety threshold's runs: list them, find one, release one (its
held changes are queued again) or discard its held deprovisions (docs/operations). The runs and
their bookkeeping are in safety.py."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from idsync.adapters.store.features.safety import (
    REASON_CODE,
    SafetyRun,
    held_changes,
    release_held,
    requeue_held,
    run_from_row,
    safety_runs,
)
from idsync.adapters.store.schema import changes
from idsync.domain.models import Reason, Status
from idsync.domain.safety import DEPROVISIONING_OPS

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = ["discard_run", "find_run", "list_runs", "release_run"]


def list_runs(store: Store, *, tenant: str | None = None, limit: int = 100) -> list[SafetyRun]:
    q = select(safety_runs).order_by(safety_runs.c.updated_at.desc()).limit(limit)
    if tenant is not None:
        q = q.where(safety_runs.c.tenant == tenant)
    with store.engine.begin() as conn:
        return [run_from_row(m) for m in conn.execute(q).mappings()]


def find_run(store: Store, ref: str) -> SafetyRun | None:
    """A run by its id, or by the import id when one run has it."""
    with store.engine.begin() as conn:
        found = conn.execute(select(safety_runs).where(safety_runs.c.run_id == ref)).mappings().first()
        if found is None:
            by_import = (
                conn.execute(select(safety_runs).where(safety_runs.c.import_id == ref)).mappings().all()
            )
            found = by_import[0] if len(by_import) == 1 else None
    return run_from_row(found) if found is not None else None


def release_run(store: Store, ref: str, now: float | None = None) -> tuple[SafetyRun, int] | None:
    """Let a tripped run through: its held changes are queued again. None: no such run."""
    now = time.time() if now is None else now
    run = find_run(store, ref)
    if run is None:
        return None
    with store.engine.begin() as conn:
        q = select(safety_runs).where(safety_runs.c.run_id == run.run_id)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        run = run_from_row(conn.execute(q).mappings().one())
        released = release_held(conn, run, now, forced=False)
    return run, released


def discard_run(store: Store, ref: str, now: float | None = None) -> tuple[SafetyRun, int] | None:
    """Drop a tripped run's held deactivations/deletions: each ends `skipped` (reason
    `safety_threshold`, published like any result); other held changes of their users go back
    to the queue. The run stays tripped: what it sends later is held again."""
    from idsync.domain.records import Finished, Outcome

    now = time.time() if now is None else now
    run = find_run(store, ref)
    if run is None:
        return None
    with store.engine.begin() as conn:
        rows = conn.execute(
            select(changes.c.id, changes.c.op, changes.c.import_id, changes.c.user_key)
            .join(held_changes, changes.c.id == held_changes.c.change_id)
            .where(held_changes.c.run_id == run.run_id, changes.c.state == "held")
        ).all()
    reason = Reason(
        code=REASON_CODE,
        message=f"discarded by an operator: {run.describe()}",
    )
    dropped = [
        Outcome(int(cid), Status.SKIPPED, None, reason, imp)
        for cid, op, imp, _ in rows
        if op in DEPROVISIONING_OPS
    ]
    if dropped:  # first: a crash after this leaves only bookkeeping to redo
        store.queue.write_batch(
            finished=[Finished(f"safety:{run.run_id}", "safety", dropped, release=False)], now=now
        )
    with store.engine.begin() as conn:
        q = select(safety_runs).where(safety_runs.c.run_id == run.run_id)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        run = run_from_row(conn.execute(q).mappings().one())
        requeue_held(conn, run.run_id, [int(cid) for cid, op, _, _ in rows if op not in DEPROVISIONING_OPS])
        run.discarded += len(dropped)
        run.held = 0
        conn.execute(
            update(safety_runs)
            .where(safety_runs.c.run_id == run.run_id)
            .values(discarded=run.discarded, held=0, updated_at=now)
        )
    return run, len(dropped)
