"""The durable queue of received Okta events (table `inbound_events`).

Events are stored before Okta gets its answer; the primary key (integration, uuid) turns a
redelivery into a no-op, and processed rows are kept for `event_retention_s` so that late
redeliveries are still recognised. States: queued -> done; held (integration paused) ->
queued on resume; queued/held -> dropped when the integration is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, delete, func, select, update

from idsync.adapters.store.features.inbound import events
from idsync.adapters.store.repository import Repository
from idsync.domain.events import EventRow

__all__ = ["EventQueue", "QueuedEvent"]


@dataclass(frozen=True)
class QueuedEvent:
    row: EventRow
    attempts: int
    state: str


class EventQueue(Repository):
    # ---- events ------------------------------------------------------------------------------

    def receive(
        self, integration: str, rows: Sequence[EventRow], *, state: str, delivery_id: str | None, now: float
    ) -> list[str]:
        """Store new events (durably, before Okta is answered); returns the uuids that were new."""
        if not rows:
            return []
        uuids = list(dict.fromkeys(r.uuid for r in rows))
        with self._tx() as conn:
            seen = set(
                conn.execute(
                    select(events.c.uuid).where(events.c.integration == integration, events.c.uuid.in_(uuids))
                ).scalars()
            )
            fresh = {r.uuid: r for r in rows if r.uuid not in seen}
            if fresh:
                stmt = self._insert(events).on_conflict_do_nothing(index_elements=["integration", "uuid"])
                conn.execute(
                    stmt, [_event_values(integration, r, state, delivery_id, now) for r in fresh.values()]
                )
        return list(fresh)

    def due(self, integration: str, now: float, limit: int) -> list[QueuedEvent]:
        c = events.c
        q = (
            select(events)
            .where(c.integration == integration, c.state == "queued", c.not_before <= now)
            .order_by(c.published_ts, c.received_at, c.uuid)
            .limit(limit)
        )
        with self._tx() as conn:
            return [_queued(r) for r in conn.execute(q).mappings()]

    def finish(self, integration: str, results: Sequence[tuple[str, str, str | None]], now: float) -> None:
        """(uuid, outcome, message) of processed events."""
        if not results:
            return
        c = events.c
        with self._tx() as conn:
            for uuid, outcome, message in results:
                conn.execute(
                    update(events)
                    .where(c.integration == integration, c.uuid == uuid)
                    .values(state="done", outcome=outcome, message=message, processed_at=now)
                )

    def postpone(self, integration: str, uuids: Sequence[str], not_before: float, message: str) -> None:
        c = events.c
        with self._tx() as conn:
            conn.execute(
                update(events)
                .where(c.integration == integration, c.uuid.in_(list(uuids)))
                .values(attempts=c.attempts + 1, not_before=not_before, message=message)
            )

    def release_held(self, integration: str) -> int:
        c = events.c
        with self._tx() as conn:
            return conn.execute(
                update(events).where(c.integration == integration, c.state == "held").values(state="queued")
            ).rowcount

    def drop_open(self, integration: str, now: float) -> int:
        c = events.c
        with self._tx() as conn:
            return conn.execute(
                update(events)
                .where(c.integration == integration, c.state.in_(("queued", "held")))
                .values(state="dropped", outcome="dropped", message="integration removed", processed_at=now)
            ).rowcount

    def prune(self, integration: str, before: float) -> int:
        c = events.c
        with self._tx() as conn:
            return conn.execute(
                delete(events).where(
                    c.integration == integration, c.state.in_(("done", "dropped")), c.processed_at < before
                )
            ).rowcount

    def event_counts(self, integration: str) -> dict[str, int]:
        c = events.c
        q = select(c.state, func.count()).where(c.integration == integration).group_by(c.state)
        with self._tx() as conn:
            return {str(s): int(n) for s, n in conn.execute(q)}


def _event_values(
    integration: str, r: EventRow, state: str, delivery_id: str | None, now: float
) -> dict[str, Any]:
    return {
        "integration": integration,
        "uuid": r.uuid,
        "event_type": r.event_type,
        "published": r.published,
        "published_ts": r.published_ts,
        "okta_user_id": r.okta_user_id,
        "login": r.login,
        "group_id": r.group_id,
        "group_name": r.group_name,
        "delivery_id": delivery_id,
        "state": state,
        "attempts": 0,
        "not_before": 0.0,
        "received_at": now,
    }


def _queued(r: RowMapping) -> QueuedEvent:
    row = EventRow(
        uuid=r["uuid"],
        event_type=r["event_type"],
        published=r["published"] or "",
        published_ts=r["published_ts"],
        okta_user_id=r["okta_user_id"],
        login=r["login"],
        group_id=r["group_id"],
        group_name=r["group_name"],
    )
    return QueuedEvent(row, r["attempts"], r["state"])
