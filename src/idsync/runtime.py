"""The composition root: builds the store, one governor and connector per IdP, the worker and
the ingestor from the settings, and closes them again. CLI, service and tests all use it."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, ExitStack
from types import TracebackType
from typing import Any

from idsync.adapters.store import Store
from idsync.clock import Clock, SystemClock
from idsync.config import IdpSettings, Settings
from idsync.engine.db import AsyncStore
from idsync.engine.governor import Governor
from idsync.engine.ingest import Ingestor
from idsync.engine.worker import Worker, WorkerOptions
from idsync.errors import ConfigError
from idsync.ports import IdentityProvider

log = logging.getLogger("idsync.runtime")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        worker_options: WorkerOptions | None = None,
        owner: str | None = None,
        activate_on_mode_switch: bool = True,
    ) -> None:
        self.settings = settings
        self._activate_on_mode_switch = activate_on_mode_switch
        self.clock = clock or SystemClock()
        self._worker_options = worker_options
        self._owner = owner or settings.service.instance_id  # names the instance's claims
        self._exit = AsyncExitStack()
        self._sync_exit = ExitStack()
        self.governors: dict[str, Governor] = {}
        self.idps: dict[str, IdentityProvider] = {}
        self.emulator_urls: dict[str, str] = {}

    async def __aenter__(self) -> Runtime:
        self.store = Store(self.settings.store.url)
        self.db = AsyncStore(self.store)
        if self.store.dialect == "sqlite":
            # The embedded set-up is one process: claims left behind belong to a run that died.
            released = self.store.release_all()
        else:
            released = self.store.release_expired()
        if released:
            log.info("took back %d users left in progress by a stopped run", released)
        for name, idp in self.settings.idps.items():
            self.idps[name] = self._connect(name, idp)
        self.worker = Worker(
            self.db, self.settings, self.idps, self.clock, options=self._worker_options, owner=self._owner
        )
        self.ingestor = Ingestor(self.db, self.settings)
        if self._activate_on_mode_switch:
            await self._mode_switches()
        return self

    async def _mode_switches(self) -> None:
        """Tenants switched to sync_and_activate get their staged users activated (lifecycle/modes.py)."""
        from idsync.lifecycle.modes import activate_on_mode_switch

        try:
            await activate_on_mode_switch(self)
        except Exception:  # the next start-up tries again; the runtime itself still works
            log.exception("could not check the tenants' sync modes for a switch to sync_and_activate")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        from idsync.lifecycle.limits import remember_limits

        remember_limits(self.store, self.governors)  # learned rate limits, for estimates without a call
        for idp in self.idps.values():
            await idp.aclose()
        await self._exit.aclose()
        self._sync_exit.close()
        self.db.close()

    def _connect(self, name: str, idp: IdpSettings) -> IdentityProvider:
        governor = Governor(name, idp.governor, self.clock)
        self.governors[name] = governor
        token = idp.token.get_secret_value() if idp.token else ""
        url = idp.url
        if idp.type == "emulator":
            url = self._start_emulator(name, idp, token)
        assert url is not None
        if idp.type in ("okta", "emulator"):
            from idsync.adapters.okta import OktaConnector
            from idsync.adapters.okta.oauth import credentials_from_settings

            oauth = credentials_from_settings(name, idp)  # an OAuth 2.0 service app instead of token_env
            return OktaConnector(name, url, token, governor, timeout_s=idp.governor.timeout_s, oauth=oauth)
        if idp.type == "scim":
            from idsync.adapters.scim import ScimConnector  # type: ignore[import-not-found,unused-ignore]

            connector: IdentityProvider = ScimConnector(
                name, url, token, governor, timeout_s=idp.governor.timeout_s
            )
            return connector
        raise ConfigError(f"idps.{name}.type: unknown IdP type {idp.type!r}")

    def _start_emulator(self, name: str, idp: IdpSettings, token: str) -> str:
        from idsync.emulator.okta.server import EmulatorThread
        from idsync.emulator.okta.settings import EmulatorSettings

        settings = EmulatorSettings(token=token, state_file=idp.state_file, time_scale=idp.time_scale)
        emulator = self._sync_exit.enter_context(EmulatorThread(settings))
        self.emulator_urls[name] = emulator.url
        return str(emulator.url)

    def api_calls(self) -> int:
        return sum(g.total_calls for g in self.governors.values())

    def governor_snapshot(self) -> dict[str, Any]:
        return {name: g.snapshot() for name, g in self.governors.items()}
