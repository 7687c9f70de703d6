"""Portal instances registered at the IdP as OpenID Connect applications.

One row per tenant + portal: what was asked (base URL, redirect URIs), what the IdP holds (app id,
client id) and a short lease while a run registers it, so two runs never create two apps for one
portal. The client secret is never stored here: Okta shows it once, in the create answer, and it
goes only to the secrets file the operator asked for.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, String, Table, Text, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from idsync.adapters.store import schema
from idsync.adapters.store.features.rows import from_row

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = ["PortalRow", "claim_portal", "get_portal", "list_portals", "portals", "release_portal"]

portals = Table(
    "portals",
    schema.metadata,
    Column("tenant", String(100), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("idp", String(100), nullable=False),
    Column("label", String(300), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("redirect_uris", Text, nullable=False),  # JSON list
    Column("app_id", String(100)),
    Column("client_id", String(200)),
    Column("state", String(16), nullable=False),  # registering | registered | failed
    Column("lease_until", Float, nullable=False),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

schema.register(
    "portals_0001",
    "portals: OpenID Connect applications registered per tenant portal (never the client secret)",
    lambda conn: portals.create(conn, checkfirst=True),
)

REGISTERING, REGISTERED, FAILED = "registering", "registered", "failed"


@dataclass(frozen=True)
class PortalRow:
    tenant: str
    name: str
    idp: str
    label: str
    base_url: str
    redirect_uris: tuple[str, ...]
    app_id: str | None
    client_id: str | None
    state: str
    last_error: str | None
    updated_at: float


def _row(r: object) -> PortalRow:
    m = r._mapping  # type: ignore[attr-defined]
    return from_row(PortalRow, m, redirect_uris=tuple(json.loads(m["redirect_uris"])))


def get_portal(store: Store, tenant: str, name: str) -> PortalRow | None:
    with store.engine.begin() as conn:
        r = conn.execute(select(portals).where(portals.c.tenant == tenant, portals.c.name == name)).first()
    return _row(r) if r is not None else None


def list_portals(store: Store, tenant: str | None = None) -> list[PortalRow]:
    q = select(portals).order_by(portals.c.tenant, portals.c.name)
    if tenant is not None:
        q = q.where(portals.c.tenant == tenant)
    with store.engine.begin() as conn:
        return [_row(r) for r in conn.execute(q)]


def claim_portal(
    store: Store,
    *,
    tenant: str,
    name: str,
    idp: str,
    label: str,
    base_url: str,
    redirect_uris: list[str],
    lease_s: float,
    now: float | None = None,
) -> PortalRow | None:
    """Take the portal for registration under a lease. Returns the row as it was before (with the
    app id recorded by an earlier run, if any), or None while another run holds the lease."""
    now = time.time() if now is None else now
    values = {
        "idp": idp,
        "label": label,
        "state": REGISTERING,
        "lease_until": now + lease_s,
        "updated_at": now,
    }
    try:
        with store.engine.begin() as conn:
            before = conn.execute(
                select(portals).where(portals.c.tenant == tenant, portals.c.name == name)
            ).first()
            if before is None:
                conn.execute(
                    insert(portals).values(
                        tenant=tenant,
                        name=name,
                        base_url=base_url,
                        redirect_uris=json.dumps(redirect_uris),
                        created_at=now,
                        **values,
                    )
                )
                return PortalRow(
                    tenant, name, idp, label, base_url, tuple(redirect_uris), None, None, "new", None, now
                )
            taken = conn.execute(
                update(portals)
                .where(
                    portals.c.tenant == tenant,
                    portals.c.name == name,
                    or_(portals.c.state != REGISTERING, portals.c.lease_until < now),
                )
                .values(**values)
            ).rowcount
            return _row(before) if taken == 1 else None
    except IntegrityError:  # another instance inserted it first: it holds the lease
        return None


def release_portal(
    store: Store,
    *,
    tenant: str,
    name: str,
    state: str,
    base_url: str,
    redirect_uris: list[str],
    app_id: str | None = None,
    client_id: str | None = None,
    error: str | None = None,
    now: float | None = None,
) -> None:
    """Record the outcome and give the lease back (registered or failed)."""
    now = time.time() if now is None else now
    values: dict[str, object] = {
        "state": state,
        "lease_until": 0.0,
        "last_error": error,
        "updated_at": now,
    }
    if state == REGISTERED:
        values |= {
            "base_url": base_url,
            "redirect_uris": json.dumps(redirect_uris),
            "app_id": app_id,
            "client_id": client_id,
        }
    with store.engine.begin() as conn:
        conn.execute(
            update(portals).where(and_(portals.c.tenant == tenant, portals.c.name == name)).values(**values)
        )
