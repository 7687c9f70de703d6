"""The composition root: builds the store and its ports, one governor and connector per IdP, the
worker, the ingestor and the engine they form, from the settings; and closes them again. The CLI,
the service and the tests all use it. Nothing below it (engine, adapters) imports it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Callable, Coroutine, Mapping
from contextlib import ExitStack
from types import TracebackType
from typing import Any, TypeVar

from idsync.adapters.store import Store
from idsync.adapters.store.aio import AsyncStore, Runner, sql_stores
from idsync.adapters.store.features.activation import all_tenant_modes
from idsync.adapters.store.features.limits import load_counters, save_counters, save_limits
from idsync.adapters.store.sessions import SessionTable, SqlSessionStore
from idsync.clock import Clock, SystemClock
from idsync.config import IdpSettings, Settings
from idsync.engine.core import Engine
from idsync.engine.governor import Governor
from idsync.engine.handoff import SessionSource
from idsync.engine.ingest import Ingestor
from idsync.engine.policies import TenantPolicies
from idsync.engine.sessions import SessionOptions
from idsync.engine.worker import Worker, WorkerOptions
from idsync.errors import ConfigError
from idsync.ports import IdentityProvider, Stores

log = logging.getLogger("idsync.runtime")
T = TypeVar("T")


def fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop factory where uvloop is installed (not on Windows), else None (the
    standard loop). An import spends its CPU in the loop and its socket writes: uvloop's are C."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def use_fast_loop() -> bool:
    """Every `asyncio.run` of this process on uvloop where it is installed (the CLI's entry point:
    its commands call `asyncio.run`); the standard loop otherwise. Returns whether uvloop is used."""
    if fast_loop() is None:
        return False
    import uvloop

    with warnings.catch_warnings():  # Python 3.14 deprecates loop policies; 3.11-3.13 have no other way
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on uvloop where it is installed, without changing the process's policy."""
    with asyncio.Runner(loop_factory=fast_loop()) as runner:
        return runner.run(main)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        worker_options: WorkerOptions | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self._worker_options = worker_options
        self._owner = owner or settings.service.instance_id  # names the instance's claims
        self._sync_exit = ExitStack()
        self.governors: dict[str, Governor] = {}
        self.idps: dict[str, IdentityProvider] = {}
        self.sources: dict[str, SessionSource] = {}  # IdPs whose bulk work goes through identity sources
        self.emulator_urls: dict[str, str] = {}

    async def __aenter__(self) -> Runtime:
        self.store = Store(self.settings.store.url)
        self.run = Runner(self.store.dialect)
        self.db = AsyncStore(self.store, self.run)  # feature tables, for the layers above the engine
        self.stores: Stores = sql_stores(self.store, self.run, self.settings.safety_rules)
        if self.store.dialect == "sqlite":
            # The embedded set-up is one process: claims left behind belong to a run that died.
            released = self.store.queue.release_all()
            SessionTable(self.store).release_sources()
        else:
            released = self.store.queue.release_expired()
        if released:
            log.info("took back %d users left in progress by a stopped run", released)
        for name, idp in self.settings.idps.items():
            self.idps[name] = self._connect(name, idp)
        # The configured policies with the sync mode the store holds, read again every few seconds.
        self.policies = TenantPolicies(
            self.settings.policy, self._stored_modes, refresh_s=self.settings.service.mode_refresh_s
        )
        await self.policies.refresh()
        self._stop_refresh = asyncio.Event()
        self._refresher = asyncio.create_task(self.policies.run(self._stop_refresh), name="tenant-modes")
        self.worker = Worker(
            self.stores.queue,
            self.stores.links,
            self.policies,
            self.idps,
            self.governors,
            self.clock,
            options=self._worker_options,
            owner=self._owner,
            sessions=self.sources,
            session_store=SqlSessionStore(self.store, self.run),
        )
        self.ingestor = Ingestor(self.stores.queue, self.stores.links, self.policies)
        self.engine = Engine(
            stores=self.stores,
            idps=self.idps,
            pacing=self.governors,
            policies=self.policies,
            clock=self.clock,
            worker=self.worker,
            ingestor=self.ingestor,
            api_calls=self.api_calls,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop_refresh.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._refresher
        self.remember_limits()  # learned rate limits, for estimates without a call
        for idp in self.idps.values():
            await idp.aclose()
        self._sync_exit.close()
        self.run.close()
        self.store.close()

    async def mode_switched(self) -> None:
        """A tenant's sync mode changed (lifecycle/modes.py): in force here at once; an
        activation job it queued is worked on."""
        await self.policies.refresh()
        self.worker.notify()

    async def _stored_modes(self) -> Mapping[str, str]:
        return {m.tenant: m.mode for m in await self.db.call(all_tenant_modes, self.store)}

    def remember_limits(self) -> int:
        """Save every governor's learned limits; never raises (closing must not fail on it)."""
        saved = 0
        for name, governor in self.governors.items():
            try:
                now = governor.clock.time()
                saved += save_limits(self.store, name, governor.snapshot(), now=now)
                save_counters(self.store, name, governor.counters.placed(), now=now)
            except Exception as exc:  # a store problem here must not hide the job's own outcome
                log.warning("could not save the rate limits learned from %s: %s", name, exc)
        return saved

    def _connect(self, name: str, idp: IdpSettings) -> IdentityProvider:
        governor = Governor(name, idp.governor, self.clock)
        # Which endpoints share a counter, as an earlier run learned it: a better first guess.
        governor.counters.remember({e: c for e, (c, _) in load_counters(self.store, name).items()})
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
            okta = OktaConnector(name, url, token, governor, timeout_s=idp.governor.timeout_s, oauth=oauth)
            if idp.identity_source is not None:
                self.sources[name] = (okta.identity_source(idp.identity_source.id), _session_options(idp))
            return okta
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


def _session_options(idp: IdpSettings) -> SessionOptions:
    source = idp.identity_source
    assert source is not None
    return SessionOptions(
        fallback=source.fallback,
        poll_s=source.poll_s,
        fill_wait_s=source.fill_wait_s,
        uploads_per_session=source.uploads_per_session,
        session_gap_s=source.session_gap_s,
        list_lag_s=source.list_lag_s,
        read_while_running=source.read_while_running,
    )
