"""The tenants at a glance (`idsync tenants`, `GET /tenants`, the dashboard): each one's sync mode
in force, who set it and when, what the configuration says, and its users by IdP status.

`StoreHost` lets the command line switch a mode on the bare store (lifecycle/modes.py's
`ModeHost`) without building a runtime: on SQLite a runtime would take back a running
service's claims as those of a dead run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

from idsync.adapters.store.aio import AsyncStore, Runner, sql_stores
from idsync.adapters.store.features.activation import get_tenant_mode
from idsync.adapters.store.sql import Store
from idsync.config import Settings
from idsync.domain.links import IdpStatus
from idsync.engine.governor import Governor
from idsync.lifecycle.modes import ModeHost, tenant_names

__all__ = ["StoreHost", "TenantInfo", "list_tenants"]

_ACTIVE = {s.value for s in IdpStatus} - {IdpStatus.STAGED.value, IdpStatus.DEPROVISIONED.value}


@dataclass(frozen=True)
class TenantInfo:
    tenant: str
    mode: str  # in force
    configured_mode: str  # what the configuration file says
    set_by: str | None  # who made the last switch (`config`: the file); None: never switched
    changed_at: float | None
    previous_mode: str | None
    activation_job: str | None  # queued by the last switch to sync_and_activate
    users: dict[str, int] = field(default_factory=dict)  # identity links by IdP status

    @property
    def linked(self) -> int:
        return sum(n for status, n in self.users.items() if status != "none")

    @property
    def staged(self) -> int:
        return self.users.get(IdpStatus.STAGED.value, 0)

    @property
    def active(self) -> int:
        return sum(n for status, n in self.users.items() if status in _ACTIVE)

    @property
    def deprovisioned(self) -> int:
        return self.users.get(IdpStatus.DEPROVISIONED.value, 0)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            linked=self.linked, staged=self.staged, active=self.active, deprovisioned=self.deprovisioned
        )
        return out


async def list_tenants(host: ModeHost, only: frozenset[str] | None = None) -> list[TenantInfo]:
    """Every configured tenant (with a `*` tenant: every one the store knows), or those in `only`."""
    out = []
    for tenant in await tenant_names(host):
        if only is not None and tenant not in only:
            continue
        policy = host.settings.policy(tenant)
        if policy is None:
            continue
        seen = await host.db.call(get_tenant_mode, host.store, tenant)
        out.append(
            TenantInfo(
                tenant=tenant,
                mode=seen.mode if seen is not None else policy.mode.value,
                configured_mode=policy.mode.value,
                set_by=seen.set_by if seen is not None else None,
                changed_at=seen.changed_at if seen is not None and seen.set_by else None,
                previous_mode=seen.previous_mode if seen is not None else None,
                activation_job=seen.activation_job if seen is not None else None,
                users=await host.db.call(host.store.links.status_counts, tenant),
            )
        )
    return out


class StoreHost:
    """The store and its ports without a runtime: what `idsync tenants` needs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __aenter__(self) -> StoreHost:
        self.store = Store(self.settings.store.url)
        self.run = Runner(self.store.dialect)
        self.db = AsyncStore(self.store, self.run)
        self.stores = sql_stores(self.store, self.run, self.settings.safety_rules)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.run.close()
        self.store.close()

    @property
    def governors(self) -> Mapping[str, Governor]:
        return {}  # no IdP call here: estimates use the limits the store remembers

    async def mode_switched(self) -> None:
        """Nothing runs here: every instance applies the new mode within `mode_refresh_s`, and a
        queued activation job is worked on by the service (or `idsync activate`)."""
