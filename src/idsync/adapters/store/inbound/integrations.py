"""Integrations and links of inbound sync (tables `inbound_integrations`, `inbound_links`).

Synchronous and domain-level like `idsync.adapters.store.Store`; callers run them through
`AsyncStore.call`. Tables: `idsync.adapters.store.features.inbound`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from idsync.adapters.store.features.inbound import integrations, links
from idsync.adapters.store.features.rows import from_row
from idsync.adapters.store.repository import Repository
from idsync.errors import LinkConflict

__all__ = ["InboundLink", "InboundStore", "Integration"]


@dataclass(frozen=True)
class Integration:
    name: str
    state: str  # active, paused, removed
    paused_at: float | None = None
    delta_cursor: str | None = None
    hook_id: str | None = None
    lease_owner: str | None = None
    lease_until: float | None = None


@dataclass(frozen=True)
class InboundLink:
    integration: str
    okta_id: str
    app_key: str
    login: str | None = None
    okta_status: str | None = None
    applied: dict[str, Any] = field(default_factory=dict)
    roles: frozenset[str] | None = None
    profile_wm: float | None = None
    roles_wm: float | None = None
    as_of: float = 0.0
    roles_as_of: float = 0.0


class InboundStore(Repository):
    # ---- integrations ------------------------------------------------------------------------

    def ensure(self, name: str, now: float) -> Integration:
        with self._tx() as conn:
            stmt = self._insert(integrations).on_conflict_do_nothing(index_elements=["name"])
            conn.execute(stmt, {"name": name, "state": "active", "created_at": now, "updated_at": now})
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> Integration | None:
        with self._tx() as conn:
            row = conn.execute(select(integrations).where(integrations.c.name == name)).mappings().first()
        return _integration(row) if row else None

    def set_state(self, name: str, state: str, now: float, *, paused_at: float | None = None) -> None:
        with self._tx() as conn:
            conn.execute(
                update(integrations)
                .where(integrations.c.name == name)
                .values(state=state, paused_at=paused_at, updated_at=now)
            )

    def set_cursor(self, name: str, cursor: str | None) -> None:
        with self._tx() as conn:
            conn.execute(update(integrations).where(integrations.c.name == name).values(delta_cursor=cursor))

    def set_hook(self, name: str, hook_id: str | None) -> None:
        with self._tx() as conn:
            conn.execute(update(integrations).where(integrations.c.name == name).values(hook_id=hook_id))

    def take_lease(self, name: str, owner: str, now: float, ttl_s: float) -> bool:
        """One process at a time applies an integration's changes; a dead holder's lease expires."""
        c = integrations.c
        with self._tx() as conn:
            result = conn.execute(
                update(integrations)
                .where(c.name == name)
                .where(or_(c.lease_owner.is_(None), c.lease_owner == owner, c.lease_until < now))
                .values(lease_owner=owner, lease_until=now + ttl_s)
            )
        return int(result.rowcount) == 1

    def drop_lease(self, name: str, owner: str) -> None:
        c = integrations.c
        with self._tx() as conn:
            conn.execute(
                update(integrations)
                .where(c.name == name, c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    # ---- links -------------------------------------------------------------------------------

    def get_link(self, integration: str, okta_id: str) -> InboundLink | None:
        return self._one_link(integration, links.c.okta_id == okta_id)

    def link_for_key(self, integration: str, app_key: str) -> InboundLink | None:
        return self._one_link(integration, links.c.app_key == app_key)

    def _one_link(self, integration: str, which: ColumnElement[bool]) -> InboundLink | None:
        with self._tx() as conn:
            q = select(links).where(links.c.integration == integration, which)
            row = conn.execute(q).mappings().first()
        return _link(row) if row else None

    def all_links(self, integration: str) -> list[InboundLink]:
        with self._tx() as conn:
            rows = conn.execute(select(links).where(links.c.integration == integration)).mappings().all()
        return [_link(r) for r in rows]

    def count_links(self, integration: str) -> int:
        with self._tx() as conn:
            q = select(func.count()).select_from(links).where(links.c.integration == integration)
            return int(conn.execute(q).scalar_one())

    def save_links(self, saved: Sequence[InboundLink], now: float) -> None:
        """Insert or update; raises `LinkConflict` when an application key is linked to another
        Okta user already (the unique index on (integration, app_key))."""
        if not saved:
            return
        stmt = self._insert(links)
        columns = [c.name for c in links.c if c.name not in ("integration", "okta_id")]
        stmt = stmt.on_conflict_do_update(
            index_elements=["integration", "okta_id"], set_={c: stmt.excluded[c] for c in columns}
        )
        try:
            with self._tx() as conn:
                conn.execute(stmt, [_link_values(link, now) for link in saved])
        except IntegrityError as exc:
            raise LinkConflict("the application user is linked to another Okta user") from exc

    def clear_links(self, integration: str) -> int:
        with self._tx() as conn:
            return int(conn.execute(delete(links).where(links.c.integration == integration)).rowcount)


def _integration(r: RowMapping) -> Integration:
    return Integration(
        r["name"],
        r["state"],
        r["paused_at"],
        r["delta_cursor"],
        r["hook_id"],
        r["lease_owner"],
        r["lease_until"],
    )


def _link(r: RowMapping) -> InboundLink:
    return from_row(
        InboundLink,
        r,
        applied=json.loads(r["applied"]) if r["applied"] else {},
        roles=frozenset(json.loads(r["roles"])) if r["roles"] is not None else None,
        as_of=r["as_of"] or 0.0,
        roles_as_of=r["roles_as_of"] or 0.0,
    )


def _link_values(link: InboundLink, now: float) -> dict[str, Any]:
    return {
        "integration": link.integration,
        "okta_id": link.okta_id,
        "app_key": link.app_key,
        "login": link.login,
        "okta_status": link.okta_status,
        "applied": json.dumps(link.applied, sort_keys=True, default=str),
        "roles": json.dumps(sorted(link.roles)) if link.roles is not None else None,
        "profile_wm": link.profile_wm,
        "roles_wm": link.roles_wm,
        "as_of": link.as_of,
        "roles_as_of": link.roles_as_of,
        "updated_at": now,
    }
