"""The tenants' policies as the engine applies them: the configuration's, with the sync mode
held in the store (docs/migration.md, "Switching the sync mode").

The mode can be switched at runtime (`idsync tenants set-mode`, `PUT /tenants/{t}/mode`) on any
instance; every instance reads the stored modes every `refresh_s` seconds (a few rows), so a
switch is in force everywhere within that. The ingestor and the worker ask for a tenant's
policy for every change, so the answer comes from memory, built once per tenant and refresh.
The configuration gives a tenant's first mode; a tenant without a stored mode keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from idsync.domain.policy import SyncMode, TenantPolicy

__all__ = ["TenantPolicies"]

log = logging.getLogger("idsync.policies")
_MAX_CACHED = 10_000  # a `*` tenant makes any name valid: never grow without bound


class TenantPolicies:
    def __init__(
        self,
        configured: Callable[[str], TenantPolicy | None],
        read_modes: Callable[[], Awaitable[Mapping[str, str]]],
        *,
        refresh_s: float = 2.0,
    ) -> None:
        self._configured = configured
        self._read = read_modes
        self.refresh_s = refresh_s
        self._modes: dict[str, SyncMode] = {}
        self._cache: dict[str, TenantPolicy | None] = {}

    def __call__(self, tenant: str) -> TenantPolicy | None:
        try:
            return self._cache[tenant]
        except KeyError:
            pass
        policy = self._configured(tenant)
        mode = self._modes.get(tenant)
        if policy is not None and mode is not None and mode is not policy.mode:
            policy = replace(policy, mode=mode)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[tenant] = policy
        return policy

    def stored_mode(self, tenant: str) -> SyncMode | None:
        """The mode the store holds for `tenant` as last read (None: none, the configuration's)."""
        return self._modes.get(tenant)

    async def refresh(self) -> bool:
        """Read the stored modes; True when one changed since the last read."""
        read = await self._read()
        modes: dict[str, SyncMode] = {}
        for tenant, value in read.items():
            try:
                modes[tenant] = SyncMode(value)
            except ValueError:
                log.warning(
                    "tenant %s: stored sync mode %r is unknown; the configured one applies", tenant, value
                )
        if modes == self._modes:
            return False
        changed = sorted(t for t in {*modes, *self._modes} if modes.get(t) != self._modes.get(t))
        self._modes = modes
        self._cache.clear()
        for tenant in changed:
            now = modes.get(tenant)
            log.info("tenant %s: sync mode %s is in force", tenant, now.value if now else "(configured)")
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh every `refresh_s` until `stop`; a failed read keeps the modes last read."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.refresh_s)
            if stop.is_set():
                return
            try:
                await self.refresh()
            except Exception as exc:  # the store is away: keep the last modes, try again
                log.warning("could not read the tenants' sync modes (%s); keeping the last ones", exc)
