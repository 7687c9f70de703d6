"""The composition root: one `Emulator` owns the org, the limiter, the faults, hooks and stats.

Why one object: the ASGI pipeline, the admin endpoints and tests reach everything through it,
and `reset()` has one place that knows what "everything" is.
"""

from __future__ import annotations

import asyncio

from idsync.emulator.okta.clock import Clock, SystemClock
from idsync.emulator.okta.exchange_log import ExchangeLog
from idsync.emulator.okta.faults import FaultInjector
from idsync.emulator.okta.groups_claim import ROUTES as CLAIM_ROUTES
from idsync.emulator.okta.hooks import HookDispatcher
from idsync.emulator.okta.ids import IdFactory
from idsync.emulator.okta.idsources import IdentitySources
from idsync.emulator.okta.idsources_import import ImportProcessor
from idsync.emulator.okta.journal import open_journal
from idsync.emulator.okta.lag import ListLag
from idsync.emulator.okta.org import Org
from idsync.emulator.okta.ratelimit import RateLimiter
from idsync.emulator.okta.routes_apps import ROUTES as APP_ROUTES
from idsync.emulator.okta.routes_grants import ROUTES as GRANT_ROUTES
from idsync.emulator.okta.routes_groups import ROUTES as GROUP_ROUTES
from idsync.emulator.okta.routes_hooks import ROUTES as HOOK_ROUTES
from idsync.emulator.okta.routes_idsources import ROUTES as IDSOURCE_ROUTES
from idsync.emulator.okta.routes_users import ROUTES as USER_ROUTES
from idsync.emulator.okta.routing import Router
from idsync.emulator.okta.settings import EmulatorSettings, FaultSettings
from idsync.emulator.okta.state import OrgState
from idsync.emulator.okta.stats import Recorder, Stats
from idsync.emulator.okta.transitions import Transitions

__all__ = ["Emulator"]


class Emulator:
    def __init__(self, settings: EmulatorSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.ids = IdFactory(settings.seed)
        self.state = OrgState(open_journal(settings.state_file))
        self.state.load()
        if settings.search_lag_s:
            self.state.lag = ListLag(self.clock.now, settings.search_lag_s)
        self.org = Org(settings, self.clock, self.ids, self.state)
        self.org.ensure_defaults()
        self.hooks = HookDispatcher(
            lambda: list(self.state.hooks.values()),
            lambda: self.org.actor,
            self.clock,
            self.ids,
            timeout_s=settings.hook_timeout_s,
            org_url=settings.org_url,
        )
        self.org.events = self.hooks
        self.identity_sources = IdentitySources(self.org)
        self.identity_sources.load()
        self.imports = ImportProcessor(self.identity_sources)
        self.transitions = Transitions(self.org)
        self.transitions.rebuild()
        self.limiter = self._new_limiter()
        self.faults = FaultInjector(settings.faults, settings.seed, self.clock.now())
        self.stats = Stats()
        self.recorder = Recorder(settings.record_exchanges)
        self.exchange_log = ExchangeLog.from_settings(settings.exchange_log)
        self.router = Router(
            [
                *USER_ROUTES,
                *GROUP_ROUTES,
                *APP_ROUTES,
                *CLAIM_ROUTES,
                *GRANT_ROUTES,
                *HOOK_ROUTES,
                *IDSOURCE_ROUTES,
            ]
        )
        self.tokens = frozenset(settings.tokens)
        self.in_flight = 0
        self._settle_timer: asyncio.TimerHandle | None = None

    def _new_limiter(self) -> RateLimiter:
        s = self.settings
        return RateLimiter(
            s.limits,
            time_scale=s.time_scale,
            token_share=s.token_share,
            background_load=s.background_load,
            count_rejected=s.count_rejected_429,
        )

    def settle(self) -> None:
        """Land the asynchronous lifecycle transitions that are due (`lifecycle_delay_s`)."""
        if self.transitions.due():
            with self.state.journal.batch():
                self.transitions.settle()

    def settle_when_due(self) -> None:
        """Arm a timer of the running loop for the earliest transition under way, so it lands even
        if no request comes. A wake-up before the org clock says it is due (uvloop counts whole
        milliseconds of a cached loop time; the org clock is wall time, or a `ManualClock`) lands
        nothing and re-arms, instead of leaving the transition to the next request."""
        due = self.transitions.next_due()
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        if due is not None:
            wait = max(due - self.clock.now(), 0.001)
            self._settle_timer = asyncio.get_running_loop().call_later(wait, self._on_settle_timer)

    def _on_settle_timer(self) -> None:
        self._settle_timer = None
        self.settle()
        self.settle_when_due()

    def set_faults(self, faults: FaultSettings, seed: int | None = None) -> None:
        self.faults.update(faults, self.clock.now(), seed)

    def reset(self) -> None:
        """Forget everything: org (and its state file), e-mails, windows, counters, hook log."""
        self.state.clear()
        self.org.counters.clear()
        self.org.ensure_defaults()
        self.limiter.reset()
        self.faults.reset()
        self.stats.reset()
        self.hooks.reset()
        self.identity_sources.clear()
        self.transitions.reset()

    async def aclose(self) -> None:
        await self.hooks.aclose()
        await self.imports.aclose()
        if self.exchange_log is not None:
            self.exchange_log.close()
        self.state.journal.close()
