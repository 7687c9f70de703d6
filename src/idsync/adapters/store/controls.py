"""Pause, resume and cancel an import, in the store (docs/migration.md, "Stop and steer").

- *Pause*: the import's waiting changes move from `pending` to `paused`, which the queue never
  claims (nor any change of a user who has a paused change, so one user's changes keep their
  order); changes that arrive for it later are stored `paused` too. The state is in the store,
  so a paused import stays paused across restarts and on every instance.
- *Resume*: `paused` changes go back to `pending`; the import runs again (and completes if
  everything is in and done).
- *Cancel*: every change of the import not yet sent (`pending`, `paused`, held by the safety
  threshold) ends with status `cancelled`, counted and published like any result; changes in
  flight finish; changes that arrive later end `cancelled` at once.

Each is one transaction guarded by the import's state (a compare-and-set), so two operators (or
an operator and a Kafka control) never both act on one import.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from idsync.adapters.store.common import CHUNK, bump_import, chunks, maybe_complete
from idsync.adapters.store.schema import changes, imports
from idsync.domain.models import ImportControl, ImportState, Reason, Status
from idsync.domain.records import IngestRow

__all__ = [
    "CANCELLED_CODE",
    "apply_control",
    "blocked_users",
    "cancelled_reason",
    "paused_imports",
    "screen_controlled",
    "settle_stopped",
]

CANCELLED_CODE = "import_cancelled"
_UNSENT = ("pending", "paused", "held")


def apply_control(
    conn: Connection, import_id: str, control: ImportControl, reason: Reason | None, now: float
) -> bool:
    """Pause, resume or cancel `import_id` if its state allows; True when this call did it."""
    moved = conn.execute(
        update(imports)
        .where(imports.c.id == import_id, imports.c.state.in_([s.value for s in control.allowed_from]))
        .values(
            state=control.leads_to.value,
            updated_at=now,
            finished_at=now if control is ImportControl.CANCEL else None,
        )
    ).rowcount
    if not moved:
        return False
    mine = changes.c.import_id == import_id
    if control is ImportControl.PAUSE:
        conn.execute(update(changes).where(mine, changes.c.state == "pending").values(state="paused"))
    elif control is ImportControl.RESUME:
        conn.execute(update(changes).where(mine, changes.c.state == "paused").values(state="pending"))
        maybe_complete(conn, import_id, now)
    else:
        ids = list(conn.execute(select(changes.c.id).where(mine, changes.c.state.in_(_UNSENT))).scalars())
        _cancel(conn, {import_id: [int(i) for i in ids]}, reason or cancelled_reason("an operator"), now)
    return True


def cancelled_reason(actor: str) -> Reason:
    message = f"the import was cancelled by {actor} before this user was sent"
    return Reason(code=CANCELLED_CODE, message=message)


def _cancel(conn: Connection, by_import: dict[str, list[int]], reason: Reason, now: float) -> None:
    from idsync.adapters.store.features.safety import held_changes  # a feature table

    for import_id, ids in sorted(by_import.items()):
        ended = 0
        for chunk in chunks(ids, CHUNK):
            ended += conn.execute(
                update(changes)
                .where(changes.c.id.in_(chunk), changes.c.state.in_(_UNSENT))
                .values(
                    state="done",
                    status=Status.CANCELLED.value,
                    reason_code=reason.code,
                    reason_message=reason.message,
                    finished_at=now,
                    published=False,
                )
            ).rowcount
            conn.execute(delete(held_changes).where(held_changes.c.change_id.in_(chunk)))
        if ended:
            bump_import(conn, import_id, Counter({Status.CANCELLED.value: ended}), now)


def screen_controlled(conn: Connection, inserted: Sequence[tuple[IngestRow, int]], now: float) -> None:
    """A receive hook (`Inbox.receive(after_insert=...)`): changes that arrive for a paused import
    are stored `paused`; for a cancelled one they end `cancelled` at once."""
    queued: dict[str, list[int]] = {}
    for r, cid in inserted:
        if r.import_id and r.result_status is None:
            queued.setdefault(r.import_id, []).append(cid)
    if not queued:
        return
    states = dict(
        conn.execute(
            select(imports.c.id, imports.c.state).where(
                imports.c.id.in_(sorted(queued)),
                imports.c.state.in_([ImportState.PAUSED.value, ImportState.CANCELLED.value]),
            )
        ).all()
    )
    cancelled: dict[str, list[int]] = {}
    for import_id, state in states.items():
        if state == ImportState.PAUSED.value:
            for chunk in chunks(queued[import_id], CHUNK):
                conn.execute(
                    update(changes)
                    .where(changes.c.id.in_(chunk), changes.c.state == "pending")
                    .values(state="paused")
                )
        else:
            cancelled[import_id] = queued[import_id]
    if cancelled:
        _cancel(conn, cancelled, Reason(code=CANCELLED_CODE, message="the import was cancelled"), now)


def settle_stopped(conn: Connection, rows: Sequence[Any], now: float) -> list[Any]:
    """Of the rows a claim took: those of a cancelled import end `cancelled` now (a change that
    went back to the queue after the cancel: a retryable failure, a lease that ran out), those
    of a paused import stay waiting. Returns the rows to work on."""
    stopped = sorted({r["import_id"] for r in rows if r["import_id"]})
    if not stopped:
        return list(rows)
    states = dict(conn.execute(_STOPPED, {"ids": stopped}).all())
    if not states:
        return list(rows)
    ended: dict[str, list[int]] = {}
    keep = []
    for r in rows:
        state = states.get(r["import_id"])
        if state == ImportState.CANCELLED.value:
            ended.setdefault(r["import_id"], []).append(int(r["id"]))
        elif state is None:
            keep.append(r)
    if ended:
        _cancel(conn, ended, Reason(code=CANCELLED_CODE, message="the import was cancelled"), now)
    return keep


# Built once: both run in every claim.
_STOPPED = select(imports.c.id, imports.c.state).where(
    imports.c.id.in_(bindparam("ids", expanding=True)),
    imports.c.state.in_([ImportState.PAUSED.value, ImportState.CANCELLED.value]),
)
_PAUSED = select(imports.c.id).where(imports.c.state == ImportState.PAUSED.value)


def paused_imports(conn: Connection) -> list[str]:
    return [str(i) for i in conn.execute(_PAUSED).scalars()]


def blocked_users(conn: Connection, user_keys: Sequence[str], paused: Sequence[str]) -> set[str]:
    """Users among `user_keys` with a change of a paused import: none of their changes is
    claimed until it is resumed or cancelled (one user's changes keep their order)."""
    blocked: set[str] = set()
    for chunk in chunks(list(user_keys), CHUNK):
        q = select(changes.c.user_key).where(
            changes.c.user_key.in_(chunk),
            (changes.c.state == "paused")
            | ((changes.c.state == "pending") & changes.c.import_id.in_(list(paused))),
        )
        blocked.update(str(k) for k in conn.execute(q).scalars())
    return blocked
