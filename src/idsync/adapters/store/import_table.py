"""Imports: one row per import (or activation job) with its counters and input cursor, and the
results of its changes."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from idsync.adapters.store import schema
from idsync.adapters.store.common import CHUNK, COUNTED, Part, add_calls, chunks, maybe_complete
from idsync.adapters.store.controls import apply_control
from idsync.adapters.store.schema import changes, imports
from idsync.domain.models import ImportControl, ImportState, Reason, Status
from idsync.domain.records import ImportRecord

__all__ = ["ImportTable"]


def _add_api_calls(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE imports ADD COLUMN api_calls BIGINT NOT NULL DEFAULT 0")


schema.register("imports_0001", "imports.api_calls: the IdP calls made for each import", _add_api_calls)


class ImportTable(Part):
    def create(
        self,
        import_id: str,
        tenant: str,
        origin: str,
        *,
        input_name: str | None = None,
        total: int | None = None,
        now: float | None = None,
    ) -> ImportRecord:
        now = time.time() if now is None else now
        with self._tx() as conn:
            existing = conn.execute(select(imports).where(imports.c.id == import_id)).mappings().first()
            if existing is None:
                conn.execute(
                    insert(imports).values(
                        id=import_id,
                        tenant=tenant,
                        origin=origin,
                        input_name=input_name,
                        state=ImportState.RUNNING.value,
                        total=total,
                        started_at=now,
                        updated_at=now,
                    )
                )
            elif total is not None and existing["total"] is None:
                conn.execute(update(imports).where(imports.c.id == import_id).values(total=total))
        record = self.get(import_id)
        assert record is not None
        return record

    def get(self, import_id: str) -> ImportRecord | None:
        with self._tx() as conn:
            row = conn.execute(select(imports).where(imports.c.id == import_id)).mappings().first()
        return _import(row) if row else None

    def recent(self, *, limit: int = 50, tenant: str | None = None) -> list[ImportRecord]:
        q = select(imports).order_by(imports.c.started_at.desc()).limit(limit)
        if tenant:
            q = q.where(imports.c.tenant == tenant)
        with self._tx() as conn:
            return [_import(r) for r in conn.execute(q).mappings()]

    def finish_input(self, import_id: str, now: float | None = None) -> None:
        """The whole input was received; the import completes once every change is done."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            conn.execute(
                update(imports).where(imports.c.id == import_id).values(input_done=True, updated_at=now)
            )
            maybe_complete(conn, import_id, now)

    def set_state(self, import_id: str, state: ImportState, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == import_id)
                .values(
                    state=state.value,
                    updated_at=now,
                    finished_at=now if state is not ImportState.RUNNING else None,
                )
            )

    def control(
        self, import_id: str, control: ImportControl, reason: Reason | None = None, now: float | None = None
    ) -> bool:
        """Pause, resume or cancel the import (adapters/store/controls.py); False when its state
        did not allow it (or there is no such import)."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            return apply_control(conn, import_id, control, reason, now)

    def set_rate(self, import_id: str, rate: float) -> None:
        with self._tx() as conn:
            conn.execute(update(imports).where(imports.c.id == import_id).values(rate=rate))

    def add_api_calls(self, import_id: str, calls: int) -> None:
        """IdP calls made for the import outside its changes (listing the org's accounts)."""
        if calls:
            with self._tx() as conn:
                add_calls(conn, import_id, calls)

    def results(
        self,
        import_id: str,
        *,
        statuses: Sequence[Status] | None = None,
        limit: int = 1000,
        after_id: int = 0,
    ) -> list[dict[str, object]]:
        q = (
            select(
                changes.c.id,
                changes.c.tenant,
                changes.c.source,
                changes.c.key,
                changes.c.op,
                changes.c.version,
                changes.c.state,
                changes.c.status,
                changes.c.idp_id,
                changes.c.reason_code,
                changes.c.reason_message,
                changes.c.payload,
                changes.c.activation_url,
            )
            .where(changes.c.import_id == import_id, changes.c.id > after_id)
            .order_by(changes.c.id)
            .limit(limit)
        )
        if statuses is not None:
            q = q.where(changes.c.status.in_([s.value for s in statuses]))
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def reason_summary(self, import_id: str) -> list[tuple[str, str, int, str]]:
        """(status, reason code, count, one example message) for the import's failed and skipped users."""
        q = (
            select(changes.c.status, changes.c.reason_code, func.count(), func.min(changes.c.reason_message))
            .where(
                changes.c.import_id == import_id,
                changes.c.status.in_([Status.FAILED.value, Status.SKIPPED.value]),
            )
            .group_by(changes.c.status, changes.c.reason_code)
            .order_by(func.count().desc())
        )
        with self._tx() as conn:
            return [(s, c or "", int(n), m or "") for s, c, n, m in conn.execute(q).all()]

    def recount(self, import_id: str) -> dict[str, int]:
        """Counts recomputed from the per-change rows (a check on the running counters)."""
        with self._tx() as conn:
            rows = conn.execute(
                select(changes.c.status, func.count())
                .where(changes.c.import_id == import_id)
                .group_by(changes.c.status)
            ).all()
            received = conn.execute(
                select(func.count()).select_from(changes).where(changes.c.import_id == import_id)
            ).scalar_one()
        counts = dict.fromkeys(COUNTED, 0)
        for status, n in rows:
            if status is not None:
                counts[status] = int(n)
        counts["received"] = int(received)
        return counts

    def requeue_failed(
        self, import_id: str, now: float | None = None, *, except_codes: Sequence[str] = ()
    ) -> int:
        """Put an import's failed changes back in the queue (their counters move back to pending);
        those failed with a reason code in `except_codes` stay as they are, and so does a
        cancelled import (cancelled is final)."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            state = conn.execute(select(imports.c.state).where(imports.c.id == import_id)).scalar()
            if state == ImportState.CANCELLED.value:
                return 0  # cancelled is final: its failed users are not sent again
            q = select(changes.c.id).where(
                changes.c.import_id == import_id, changes.c.status == Status.FAILED.value
            )
            if except_codes:
                q = q.where(
                    changes.c.reason_code.is_(None) | changes.c.reason_code.not_in(list(except_codes))
                )
            ids = list(conn.execute(q).scalars())
            for chunk in chunks(ids, CHUNK):
                conn.execute(
                    update(changes)
                    .where(changes.c.id.in_(chunk))
                    .values(
                        state="pending",
                        status=None,
                        reason_code=None,
                        reason_message=None,
                        attempts=0,
                        not_before=0.0,
                        finished_at=None,
                        published=False,
                    )
                )
            if ids:
                conn.execute(
                    update(imports)
                    .where(imports.c.id == import_id)
                    .values(
                        failed=imports.c.failed - len(ids),
                        state=ImportState.RUNNING.value,
                        finished_at=None,
                        updated_at=now,
                    )
                )
            return len(ids)


def _import(m: RowMapping) -> ImportRecord:
    return ImportRecord(
        id=m["id"],
        tenant=m["tenant"],
        origin=m["origin"],
        input_name=m["input_name"],
        state=ImportState(m["state"]),
        total=m["total"],
        counts={k: int(m[k]) for k in ("received", *COUNTED)},
        input_cursor=int(m["input_cursor"]),
        input_done=bool(m["input_done"]),
        rate=float(m["rate"]),
        started_at=float(m["started_at"]),
        updated_at=float(m["updated_at"]),
        finished_at=float(m["finished_at"]) if m["finished_at"] is not None else None,
        api_calls=int(m["api_calls"]),
    )
