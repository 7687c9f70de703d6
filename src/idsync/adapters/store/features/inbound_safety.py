"""Inbound safety's bookkeeping (domain/inbound_safety.py): runs and the users they hold.

- `inbound_safety_runs`: per integration and run (`sync-<entry>`, `events-<window>`): the linked
  users it was measured against, its allowance, how many harmful changes it let through, holds
  and discarded, its state (`open`, `tripped`, `released`).
- `inbound_held`: the users a tripped run holds (the Okta user id, what the change would have
  done, why it was asked), until the run is released or discarded.

`admit` decides one harmful change in one transaction (the run's row locked on PostgreSQL), so
concurrent reconciles and several instances never let more through than the allowance.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)

from idsync.adapters.store import schema
from idsync.adapters.store.features.inbound import links as inbound_links
from idsync.adapters.store.features.rows import from_row
from idsync.adapters.store.repository import dialect_insert
from idsync.domain.inbound_safety import InboundSafetyRules

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = [
    "HeldUser",
    "InboundRun",
    "admit",
    "discard",
    "done_with",
    "held_users",
    "list_runs",
    "release",
    "safety_run",
]

runs = Table(
    "inbound_safety_runs",
    schema.metadata,
    Column("integration", String(100), primary_key=True),
    Column("run_id", String(60), primary_key=True),
    Column("linked_users", BigInteger, nullable=False),
    Column("allowance", BigInteger, nullable=False),
    Column("admitted", BigInteger, nullable=False, default=0),
    Column("held", BigInteger, nullable=False, default=0),
    Column("discarded", BigInteger, nullable=False, default=0),
    Column("state", String(16), nullable=False),  # open | tripped | released
    Column("created_at", Float, nullable=False),
    Column("tripped_at", Float),
    Column("updated_at", Float, nullable=False),
)
Index("ix_inbound_safety_runs_state", runs.c.integration, runs.c.state)

held = Table(
    "inbound_held",
    schema.metadata,
    Column("integration", String(100), primary_key=True),
    Column("run_id", String(60), primary_key=True),
    Column("okta_id", String(100), primary_key=True),
    Column("login", String(200)),
    Column("harm", String(40), nullable=False),  # deactivate, strip_roles, deactivate+strip_roles
    Column("cause", Text),  # initial_sync, event user.lifecycle.deactivate, ...
    Column("held_at", Float, nullable=False),
)


def _create(conn: Connection) -> None:
    runs.create(conn, checkfirst=True)
    held.create(conn, checkfirst=True)


schema.register(
    "inbound_safety_0001",
    "inbound_safety_runs and inbound_held: inbound runs that would deactivate or strip too many users",
    _create,
)


@dataclass(frozen=True)
class InboundRun:
    integration: str
    run_id: str
    linked_users: int
    allowance: int
    admitted: int
    held: int
    discarded: int
    state: str
    created_at: float
    tripped_at: float | None
    updated_at: float

    def describe(self) -> str:
        share = self.allowance / self.linked_users if self.linked_users else 1.0
        total = self.admitted + self.held + self.discarded
        return (
            f"inbound {self.integration} run {self.run_id}: {total} users to deactivate or strip of roles "
            f"so far, the allowance is {self.allowance} ({share:.0%} of {self.linked_users} linked users); "
            f"{self.admitted} let through, {self.held} held, {self.discarded} discarded"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.describe()}


@dataclass(frozen=True)
class HeldUser:
    okta_id: str
    login: str | None
    harm: str
    cause: str | None
    held_at: float


def admit(
    store: Store,
    integration: str,
    run_id: str,
    rules: InboundSafetyRules,
    *,
    okta_id: str,
    login: str,
    harm: str,
    cause: str,
    now: float | None = None,
) -> tuple[bool, InboundRun]:
    """May this harmful change go ahead? (False: it is held.) Opens the run on its first one."""
    now = time.time() if now is None else now
    key = (runs.c.integration == integration) & (runs.c.run_id == run_id)
    with store.engine.begin() as conn:
        linked = int(
            conn.execute(
                select(func.count())
                .select_from(inbound_links)
                .where(inbound_links.c.integration == integration)
            ).scalar_one()
        )
        conn.execute(
            dialect_insert(conn.dialect.name, runs)
            .values(
                integration=integration,
                run_id=run_id,
                linked_users=linked,
                allowance=rules.allowance(linked),
                admitted=0,
                held=0,
                discarded=0,
                state="open",
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        q = select(runs).where(key)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        run = _run(conn.execute(q).mappings().one())
        already = conn.execute(
            select(held.c.okta_id).where(
                held.c.integration == integration, held.c.run_id == run_id, held.c.okta_id == okta_id
            )
        ).first()
        if run.state == "released" or (run.state == "open" and run.admitted < run.allowance and not already):
            conn.execute(update(runs).where(key).values(admitted=runs.c.admitted + 1, updated_at=now))
            return True, _reread(conn, key)
        values: dict[str, Any] = {"state": "tripped", "updated_at": now}
        if run.state == "open":
            values["tripped_at"] = now
        if not already:
            conn.execute(
                dialect_insert(conn.dialect.name, held)
                .values(
                    integration=integration,
                    run_id=run_id,
                    okta_id=okta_id,
                    login=login[:200] or None,
                    harm=harm,
                    cause=cause[:2000],
                    held_at=now,
                )
                .on_conflict_do_nothing()
            )
            values["held"] = runs.c.held + 1
        conn.execute(update(runs).where(key).values(**values))
        return False, _reread(conn, key)


def list_runs(store: Store, integration: str | None = None, limit: int = 100) -> list[InboundRun]:
    q = select(runs).order_by(runs.c.updated_at.desc()).limit(limit)
    if integration is not None:
        q = q.where(runs.c.integration == integration)
    with store.engine.begin() as conn:
        return [_run(m) for m in conn.execute(q).mappings()]


def safety_run(store: Store, integration: str, run_id: str) -> InboundRun | None:
    key = (runs.c.integration == integration) & (runs.c.run_id == run_id)
    with store.engine.begin() as conn:
        found = conn.execute(select(runs).where(key)).mappings().first()
    return _run(found) if found is not None else None


def held_users(store: Store, integration: str, run_id: str, limit: int = 10_000) -> list[HeldUser]:
    q = (
        select(held)
        .where(held.c.integration == integration, held.c.run_id == run_id)
        .order_by(held.c.held_at, held.c.okta_id)
        .limit(limit)
    )
    with store.engine.begin() as conn:
        return [
            HeldUser(m["okta_id"], m["login"], m["harm"], m["cause"], float(m["held_at"]))
            for m in conn.execute(q).mappings()
        ]


def release(store: Store, integration: str, run_id: str, now: float | None = None) -> InboundRun | None:
    """From now on the run lets everything through; its held users stay listed until each is
    brought in line (`done_with`), so a crash half way leaves the rest to a second release."""
    now = time.time() if now is None else now
    key = (runs.c.integration == integration) & (runs.c.run_id == run_id)
    with store.engine.begin() as conn:
        if not conn.execute(update(runs).where(key).values(state="released", updated_at=now)).rowcount:
            return None
        return _reread(conn, key)


def done_with(store: Store, integration: str, run_id: str, okta_ids: list[str], *, discarded: bool) -> int:
    """Forget held users: brought in line after a release, or dropped by a discard."""
    key = (runs.c.integration == integration) & (runs.c.run_id == run_id)
    with store.engine.begin() as conn:
        gone = 0
        for i in range(0, len(okta_ids), 500):
            gone += conn.execute(
                delete(held).where(
                    held.c.integration == integration,
                    held.c.run_id == run_id,
                    held.c.okta_id.in_(okta_ids[i : i + 500]),
                )
            ).rowcount
        counts: dict[str, Any] = {"held": runs.c.held - gone}
        if discarded:
            counts["discarded"] = runs.c.discarded + gone
        conn.execute(update(runs).where(key).values(**counts))
        return int(gone)


def discard(store: Store, integration: str, run_id: str) -> tuple[InboundRun, list[HeldUser]] | None:
    """Drop what the run holds: those users stay as they are. The run stays tripped."""
    run = safety_run(store, integration, run_id)
    if run is None:
        return None
    dropped = held_users(store, integration, run_id)
    done_with(store, integration, run_id, [h.okta_id for h in dropped], discarded=True)
    after = safety_run(store, integration, run_id)
    assert after is not None
    return after, dropped


def _reread(conn: Connection, key: Any) -> InboundRun:
    return _run(conn.execute(select(runs).where(key)).mappings().one())


def _run(m: Any) -> InboundRun:
    return from_row(InboundRun, m)
