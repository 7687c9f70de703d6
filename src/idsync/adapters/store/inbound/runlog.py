"""The execution log (table `inbound_log`): every sync, delivery, event, pause, resume, removal
and hook registration with its status, counts, skipped users and errors. Sync requests are log
entries too (status `queued`), so any process can ask and the lease holder runs them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update

from idsync.adapters.store.features.inbound import log
from idsync.adapters.store.features.rows import from_row
from idsync.adapters.store.repository import Repository

__all__ = ["ExecutionLog", "LogEntry", "log_values"]


@dataclass(frozen=True)
class LogEntry:
    id: int
    integration: str
    kind: str
    status: str
    started_at: float
    finished_at: float | None = None
    ref: str | None = None
    okta_user_id: str | None = None
    summary: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class ExecutionLog(Repository):
    def record(
        self,
        integration: str,
        kind: str,
        status: str,
        now: float,
        *,
        ref: str | None = None,
        okta_user_id: str | None = None,
        summary: str | None = None,
        detail: dict[str, Any] | None = None,
        finished: bool = True,
    ) -> int:
        values = log_values(integration, kind, status, now, ref, okta_user_id, summary, detail, finished)
        with self._tx() as conn:
            return int(conn.execute(insert(log).values(values).returning(log.c.id)).scalar_one())

    def record_many(self, entries: Sequence[dict[str, Any]]) -> None:
        if entries:
            with self._tx() as conn:
                conn.execute(insert(log), list(entries))

    def complete(
        self,
        entry_id: int,
        status: str,
        now: float,
        *,
        summary: str | None,
        detail: dict[str, Any],
        finished: bool,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                update(log)
                .where(log.c.id == entry_id)
                .values(
                    status=status,
                    summary=summary,
                    detail=json.dumps(detail, sort_keys=True, default=str),
                    finished_at=now if finished else None,
                )
            )

    def get(self, entry_id: int) -> LogEntry | None:
        with self._tx() as conn:
            row = conn.execute(select(log).where(log.c.id == entry_id)).mappings().first()
        return _entry(row) if row else None

    def entries(
        self,
        integration: str,
        *,
        kind: str | None = None,
        status: str | None = None,
        ref: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[LogEntry]:
        q = select(log).where(log.c.integration == integration)
        if kind:
            q = q.where(log.c.kind == kind)
        if status:
            q = q.where(log.c.status == status)
        if ref:
            q = q.where(log.c.ref == ref)
        if before is not None:
            q = q.where(log.c.id < before)
        with self._tx() as conn:
            rows = conn.execute(q.order_by(log.c.id.desc()).limit(limit)).mappings().all()
        return [_entry(r) for r in rows]

    def claim_request(self, integration: str, now: float) -> LogEntry | None:
        """The oldest queued sync request, now marked running (atomically: one runner only)."""
        c = log.c
        with self._tx() as conn:
            ids = conn.execute(
                select(c.id)
                .where(c.integration == integration, c.status == "queued")
                .where(c.kind.in_(("initial_sync", "delta_sync")))
                .order_by(c.id)
            ).scalars()
            for entry_id in ids:
                claimed = conn.execute(
                    update(log)
                    .where(c.id == entry_id, c.status == "queued")
                    .values(status="running", started_at=now, finished_at=None)
                ).rowcount
                if claimed:
                    break
            else:
                return None
        return self.get(entry_id)

    def prune(self, integration: str, before: float) -> int:
        """Forget per-event and per-delivery entries older than `before` (syncs and operations stay)."""
        c = log.c
        with self._tx() as conn:
            stmt = delete(log).where(
                c.integration == integration, c.kind.in_(("event", "delivery")), c.started_at < before
            )
            return int(conn.execute(stmt).rowcount)

    def interrupted_runs(self, integration: str, now: float) -> list[LogEntry]:
        """Syncs left `running` by a process that stopped: marked interrupted and returned."""
        c = log.c
        with self._tx() as conn:
            rows = (
                conn.execute(
                    select(log).where(
                        c.integration == integration,
                        c.status == "running",
                        c.kind.in_(("initial_sync", "delta_sync")),
                    )
                )
                .mappings()
                .all()
            )
            conn.execute(
                update(log)
                .where(c.id.in_([r["id"] for r in rows]))
                .values(status="interrupted", finished_at=now)
            )
        return [_entry(r) for r in rows]


def log_values(
    integration: str,
    kind: str,
    status: str,
    now: float,
    ref: str | None,
    okta_user_id: str | None,
    summary: str | None,
    detail: dict[str, Any] | None,
    finished: bool,
) -> dict[str, Any]:
    """One row of the log, for `ExecutionLog.record_many` (the processor logs events in batches)."""
    return {
        "integration": integration,
        "kind": kind,
        "status": status,
        "ref": ref,
        "okta_user_id": okta_user_id,
        "summary": summary,
        "detail": json.dumps(detail or {}, sort_keys=True, default=str),
        "started_at": now,
        "finished_at": now if finished else None,
    }


def _entry(r: RowMapping) -> LogEntry:
    return from_row(LogEntry, r, detail=json.loads(r["detail"]) if r["detail"] else {})
