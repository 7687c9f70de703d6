"""The audit trail: who did what, when, to what, and how it ended.

Every state-changing action (a forced or discarded held run, a mode switch, cancel/pause/resume,
token create/revoke, portal registration, retry, activation start, inbound runs) calls
`record_audit` once, from the CLI and the HTTP API alike, including refusals (`outcome="denied"`).
`list_audit` reads it back for `idsync audit`, `GET /audit` and the dashboard.

Actors are strings: `token:NAME` (an API token), `config-token` (the installation's
IDSYNC_API_TOKEN), `sso:LOGIN` (a dashboard sign-in through the IdP), `cli:USER@HOST` (a
command run on the machine), `config` (a change found in the configuration file at start-up).
`detail` is a small JSON object; it never holds a secret (callers pass counts, ids, statuses).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text, insert, or_, select

from idsync.adapters.store import schema

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = ["AuditEntry", "Outcome", "audit_log", "list_audit", "record_audit"]

Outcome = Literal["ok", "failed", "denied"]
_ID = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid

audit_log = Table(
    "audit_log",
    schema.metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(50), nullable=False),
    Column("target", String(300), nullable=False),
    Column("tenant", String(100)),  # None: installation-wide (tokens, inbound integrations)
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),  # JSON object
)
Index("ix_audit_tenant", audit_log.c.tenant, audit_log.c.id)

schema.register(
    "audit_0001",
    "audit_log: who did what, when, and the outcome",
    lambda c: audit_log.create(c, checkfirst=True),
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    target: str
    tenant: str | None
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "tenant": self.tenant,
            "outcome": self.outcome,
            "detail": self.detail,
        }


def record_audit(
    store: Store,
    *,
    actor: str,
    action: str,
    target: str,
    tenant: str | None,
    outcome: Outcome,
    detail: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> int:
    """Record one action (e.g. `action="safety.release", target="efs-prod/imp-42"`); its id."""
    with store.engine.begin() as conn:
        result = conn.execute(
            insert(audit_log).values(
                at=time.time() if now is None else now,
                actor=actor[:200],
                action=action[:50],
                target=target[:300],
                tenant=tenant[:100] if tenant is not None else None,
                outcome=outcome,
                detail=json.dumps(dict(detail), default=str, sort_keys=True) if detail else None,
            )
        )
        key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def list_audit(
    store: Store,
    *,
    tenants: Collection[str] | None = None,
    installation: bool = True,
    tenant: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first. `tenants` limits to those tenants (None: all) and `installation` adds the
    entries of no tenant; `tenant`, `action` (a prefix: `safety` matches `safety.release`),
    `actor` filter; page with `before=<smallest id seen>`."""
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if tenants is not None:
        scope = audit_log.c.tenant.in_(sorted(tenants))
        q = q.where(or_(scope, audit_log.c.tenant.is_(None)) if installation else scope)
    elif not installation:
        q = q.where(audit_log.c.tenant.isnot(None))
    if tenant is not None:
        q = q.where(audit_log.c.tenant == tenant)
    if action:
        q = q.where(or_(audit_log.c.action == action, audit_log.c.action.startswith(f"{action}.")))
    if actor:
        q = q.where(audit_log.c.actor == actor)
    if before is not None:
        q = q.where(audit_log.c.id < before)
    with store.engine.begin() as conn:
        rows = conn.execute(q).mappings().all()
    return [
        AuditEntry(
            id=int(r["id"]),
            at=float(r["at"]),
            actor=r["actor"],
            action=r["action"],
            target=r["target"],
            tenant=r["tenant"],
            outcome=r["outcome"],
            detail=json.loads(r["detail"]) if r["detail"] else {},
        )
        for r in rows
    ]
