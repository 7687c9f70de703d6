"""The safety threshold's bookkeeping: runs, their allowance, and the changes they hold.

- `safety_runs`: one row per run (an import, or a tenant's single changes in one window): the
  linked users it was measured against, its allowance, how many deprovisioning changes it let
  through and holds, its state (`open`, `tripped`, `released`).
- `held_changes`: the changes a tripped run holds (their `changes.state` is `held`: never
  claimed), with the user, so a later change of that user is held behind them.

`Screen` runs inside the store's receive transaction (`Store.receive(after_insert=...)`), so a
crash never leaves a change counted but not held or held but not counted, and a redelivered
message (dropped by its origin reference before the hook) is never counted twice. The rules
are in `idsync.domain.safety`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    String,
    Table,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from idsync.adapters.store import schema
from idsync.adapters.store.features.rows import from_row
from idsync.adapters.store.repository import dialect_insert
from idsync.adapters.store.schema import changes, links
from idsync.domain.links import IdpStatus
from idsync.domain.safety import DEPROVISIONING_OPS, SafetyRules, run_id, window_start

if TYPE_CHECKING:
    from idsync.domain.records import IngestRow

__all__ = [
    "CHUNK",
    "REASON_CODE",
    "SafetyRun",
    "Screen",
    "held_changes",
    "release_held",
    "requeue_held",
    "run_from_row",
    "safety_runs",
]

REASON_CODE = "safety_threshold"
CHUNK = 500

safety_runs = Table(
    "safety_runs",
    schema.metadata,
    Column("run_id", String(250), primary_key=True),
    Column("tenant", String(100), nullable=False),
    Column("import_id", String(100)),
    Column("window_start", Float),
    Column("linked_users", BigInteger, nullable=False),
    Column("allowance", BigInteger, nullable=False),
    Column("admitted", BigInteger, nullable=False, default=0),
    Column("held", BigInteger, nullable=False, default=0),
    Column("discarded", BigInteger, nullable=False, default=0),
    Column("state", String(16), nullable=False),  # open | tripped | released
    Column("forced", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("tripped_at", Float),
    Column("updated_at", Float, nullable=False),
)
Index("ix_safety_runs_state", safety_runs.c.state)

held_changes = Table(
    "held_changes",
    schema.metadata,
    Column("change_id", BigInteger, primary_key=True, autoincrement=False),
    Column("run_id", String(250), nullable=False),
    Column("user_key", String(420), nullable=False),
)
Index("ix_held_changes_run", held_changes.c.run_id)
Index("ix_held_changes_user", held_changes.c.user_key)


def _create_tables(conn: Connection) -> None:
    safety_runs.create(conn, checkfirst=True)
    held_changes.create(conn, checkfirst=True)


schema.register(
    "safety_0001",
    "safety_runs and held_changes: the mass deactivate/delete threshold (domain/safety.py)",
    _create_tables,
)


@dataclass
class SafetyRun:
    run_id: str
    tenant: str
    import_id: str | None
    window_start: float | None
    linked_users: int
    allowance: int
    admitted: int
    held: int
    discarded: int
    state: str
    forced: bool
    created_at: float
    tripped_at: float | None
    updated_at: float

    def describe(self) -> str:
        share = self.allowance / self.linked_users if self.linked_users else 1.0
        return (
            f"run {self.run_id}: {self.admitted + self.held + self.discarded} deactivations/deletions "
            f"so far, the allowance is {self.allowance} ({share:.0%} of {self.linked_users} linked users); "
            f"{self.admitted} let through, {self.held} held, {self.discarded} discarded"
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Screen:
    """The hook `Ingestor.receive` hands to `Store.receive`: counts a batch's deprovisioning
    changes against their runs and holds what a tripped run must not send. `tripped` lists the
    runs that tripped in this batch (for the caller's warning, after the commit)."""

    rules: Callable[[str], SafetyRules | None]
    force: bool = False
    tripped: list[SafetyRun] = field(default_factory=list)

    def __call__(self, conn: Connection, inserted: Sequence[tuple[IngestRow, int]], now: float) -> None:
        self.tripped = []
        queued = [(r, cid) for r, cid in inserted if r.result_status is None]
        if not queued:
            return
        deprov: dict[int, SafetyRules] = {}
        for r, cid in queued:
            rules = self.rules(r.tenant)
            if rules is not None and rules.deprovisions(r.op):
                deprov[cid] = rules
        anything_held = conn.execute(select(held_changes.c.change_id).limit(1)).first() is not None
        if not deprov and not anything_held:
            return
        held_users: dict[str, str] = {}
        if anything_held:
            keys = sorted({r.user_key for r, _ in queued})
            for i in range(0, len(keys), CHUNK):
                q = select(held_changes.c.user_key, held_changes.c.run_id).where(
                    held_changes.c.user_key.in_(keys[i : i + CHUNK])
                )
                held_users.update({str(uk): str(rid) for uk, rid in conn.execute(q).all()})
        runs: dict[str, SafetyRun] = {}
        let_through: dict[str, list[tuple[int, str]]] = {}  # this batch's, per run: held if it trips
        batch = {cid for _, cid in inserted}
        hold: dict[int, tuple[str, str]] = {}  # change id -> (run id, user key)
        for r, cid in queued:
            if r.user_key in held_users:
                hold[cid] = (held_users[r.user_key], r.user_key)
                continue
            rules = deprov.get(cid)
            if rules is None:
                continue
            rid = run_id(r.tenant, r.import_id, now, rules.window_s)
            run = runs.get(rid)
            if run is None:
                run = runs[rid] = self._open(conn, rid, r, rules, now)
            if run.state == "released":
                run.admitted += 1
                continue
            if run.state == "open" and run.admitted < run.allowance:
                run.admitted += 1
                let_through.setdefault(rid, []).append((cid, r.user_key))
                continue
            if run.state == "open":  # this one would exceed the allowance: the run trips
                run.state, run.tripped_at = "tripped", now
                self.tripped.append(run)
                waiting = _queued_deprovisions(conn, run, rules, now, batch)
                for qid, quser in [*waiting, *let_through.pop(rid, [])]:
                    hold[qid] = (run.run_id, quser)
                    held_users[quser] = run.run_id
                    run.admitted -= 1  # counted as let through, but it was never sent
            hold[cid] = (run.run_id, r.user_key)
            held_users[r.user_key] = run.run_id
        if hold:
            _hold(conn, hold, held_users)
        for run in runs.values():
            run.held = _count_held(conn, run.run_id)
            _save(conn, run, now)

    def _open(self, conn: Connection, rid: str, row: IngestRow, rules: SafetyRules, now: float) -> SafetyRun:
        q = select(safety_runs).where(safety_runs.c.run_id == rid)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        found = conn.execute(q).mappings().first()
        if found is None:
            linked = _linked_users(conn, row.tenant)
            conn.execute(
                _insert_ignore(conn).values(
                    run_id=rid,
                    tenant=row.tenant,
                    import_id=row.import_id,
                    window_start=None if row.import_id else window_start(now, rules.window_s),
                    linked_users=linked,
                    allowance=rules.allowance(linked),
                    admitted=0,
                    held=0,
                    discarded=0,
                    state="open",
                    forced=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            found = conn.execute(q).mappings().one()
        run = run_from_row(found)
        if self.force and run.state != "released":
            release_held(conn, run, now, forced=True)
        return run


def _insert_ignore(conn: Connection) -> Any:
    return dialect_insert(conn.dialect.name, safety_runs).on_conflict_do_nothing()


def _linked_users(conn: Connection, tenant: str) -> int:
    q = (
        select(func.count())
        .select_from(links)
        .where(
            links.c.tenant == tenant,
            links.c.idp_id.is_not(None),
            or_(links.c.idp_status.is_(None), links.c.idp_status != IdpStatus.DEPROVISIONED.value),
        )
    )
    return int(conn.execute(q).scalar_one())


def _queued_deprovisions(
    conn: Connection, run: SafetyRun, rules: SafetyRules, now: float, batch: set[int]
) -> list[tuple[int, str]]:
    """The run's deprovisioning changes of earlier batches still waiting in the queue (none of
    them has been sent)."""
    ops = [op for op in DEPROVISIONING_OPS if rules.deprovisions(op)]
    q = select(changes.c.id, changes.c.user_key).where(
        changes.c.state == "pending", changes.c.tenant == run.tenant, changes.c.op.in_(ops)
    )
    if run.import_id is not None:
        q = q.where(changes.c.import_id == run.import_id)
    else:
        start = run.window_start if run.window_start is not None else window_start(now, rules.window_s)
        q = q.where(changes.c.import_id.is_(None), changes.c.received_at >= start)
    return [(int(i), str(u)) for i, u in conn.execute(q).all() if int(i) not in batch]


def _hold(conn: Connection, hold: dict[int, tuple[str, str]], held_users: dict[str, str]) -> None:
    """Hold the given changes and every other waiting change of their users."""
    users = sorted({u for _, u in hold.values()})
    for i in range(0, len(users), CHUNK):
        chunk = users[i : i + CHUNK]
        q = select(changes.c.id, changes.c.user_key).where(
            changes.c.state == "pending", changes.c.user_key.in_(chunk)
        )
        for cid, uk in conn.execute(q).all():
            hold.setdefault(int(cid), (held_users[uk], uk))
    ids = sorted(hold)
    for i in range(0, len(ids), CHUNK):
        part = ids[i : i + CHUNK]
        now_held = conn.execute(
            update(changes)
            .where(changes.c.id.in_(part), changes.c.state == "pending")
            .values(state="held")
            .returning(changes.c.id)
        ).scalars()
        rows = [
            {"change_id": int(cid), "run_id": hold[int(cid)][0], "user_key": hold[int(cid)][1]}
            for cid in now_held
        ]
        if rows:
            conn.execute(insert(held_changes), rows)


def _count_held(conn: Connection, rid: str) -> int:
    q = select(func.count()).select_from(held_changes).where(held_changes.c.run_id == rid)
    return int(conn.execute(q).scalar_one())


def _save(conn: Connection, run: SafetyRun, now: float) -> None:
    conn.execute(
        update(safety_runs)
        .where(safety_runs.c.run_id == run.run_id)
        .values(
            admitted=run.admitted,
            held=run.held,
            state=run.state,
            tripped_at=run.tripped_at,
            updated_at=now,
        )
    )


def run_from_row(m: Any) -> SafetyRun:
    return from_row(SafetyRun, m)


# ---- releasing a run (forced here, by an operator in safety_ops.py) ---------------------------------


def requeue_held(conn: Connection, run_id: str, ids: Sequence[int]) -> None:
    """The held changes `ids` go back to the queue, due at once, and the run holds no one any
    more (a release sends all of them back, a discard the ones it does not skip)."""
    for i in range(0, len(ids), CHUNK):
        conn.execute(
            update(changes)
            .where(changes.c.id.in_(ids[i : i + CHUNK]), changes.c.state == "held")
            .values(state="pending", not_before=0.0)
        )
    conn.execute(delete(held_changes).where(held_changes.c.run_id == run_id))


def release_held(conn: Connection, run: SafetyRun, now: float, *, forced: bool) -> int:
    """The run's held changes go back to the queue; from now on it lets everything through."""
    rows = conn.execute(
        select(held_changes.c.change_id, changes.c.op)
        .join(changes, changes.c.id == held_changes.c.change_id)
        .where(held_changes.c.run_id == run.run_id, changes.c.state == "held")
    ).all()
    ids = [int(cid) for cid, _ in rows]
    requeue_held(conn, run.run_id, ids)
    run.admitted += sum(1 for _, op in rows if op in DEPROVISIONING_OPS)
    run.held, run.state, run.forced = 0, "released", run.forced or forced
    conn.execute(
        update(safety_runs)
        .where(safety_runs.c.run_id == run.run_id)
        .values(admitted=run.admitted, held=0, state="released", forced=run.forced, updated_at=now)
    )
    return len(ids)
