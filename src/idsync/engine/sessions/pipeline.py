"""The session pipeline of one IdP: bulk creates and updates go through its identity source's import
sessions instead of one call per user (docs/migration.md, "Identity sources").

`offer` takes a user whose next step is a bulk-lane create, or an update of an account the source masters
(Okta refuses those on /api/v1/users), and keeps it claimed until its session is read back. While one
session is processed the next is filled (`fill.py`), the finished one read back (`read.py`). Sessions live
in the store: a restarted run waits for those Okta still processes and redoes the unstarted ones. One
instance drives a source (a lease in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import replace

from idsync.clock import Clock
from idsync.domain.links import Link, PendingOp
from idsync.domain.models import Lane, Reason, Status
from idsync.domain.planner import ActivateUser, CreateUser, Plan, UpdateProfile
from idsync.domain.policy import TenantPolicy
from idsync.domain.records import ClaimedUser
from idsync.domain.sessions import EntryKind, SessionEntry, SessionState, external_id, source_profile
from idsync.domain.text import login_key
from idsync.engine.metering import metered
from idsync.engine.sessions.fill import Filler
from idsync.engine.sessions.model import Entry, Flight, Hooks, SessionOptions
from idsync.engine.sessions.read import Reader
from idsync.errors import ProviderError, SourceUnavailable
from idsync.ports import IdentityProvider, ImportSessions, LinkStore, SessionStore

__all__ = ["SessionPipeline"]

log = logging.getLogger("idsync.sessions")


class SessionPipeline:
    def __init__(
        self,
        sessions: ImportSessions,
        store: SessionStore,
        links: LinkStore,
        idp: IdentityProvider,
        hooks: Hooks,
        clock: Clock,
        options: SessionOptions,
        *,
        owner: str,
    ) -> None:
        self.name = sessions.name
        self.sessions = sessions
        self.store = store
        self.links = links
        self.hooks = hooks
        self.clock = clock
        self.options = options
        self.owner = owner
        self.disabled: SourceUnavailable | None = None
        self.holding = False
        self.flights: dict[str, Flight] = {}
        self._logins: set[str] = set()  # creates in the pipeline, by login key
        self._room = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate = asyncio.Semaphore(options.fallback_concurrency)
        self._recovered = False
        self._stopping = False
        # Sessions in the store that this run did not fill (a stopped run's): while there are
        # any, each user offered is looked up in them first.
        self._earlier: set[str] = set()
        self._checked_at = 0.0
        self.fill = Filler(
            sessions,
            store,
            clock,
            options,
            disable=self._disable,
            per_user=self._per_user_all,
        )
        self.read = Reader(
            sessions,
            store,
            idp.for_lane(Lane.BULK),
            hooks,
            clock,
            options,
            done=self._done,
            spawn=self._spawn,
            # the import waits for this session alone: it may be read while Okta runs it
            last=lambda flight: self.flights.keys() == {flight.record.id} and self.fill.empty(),
        )

    # ---- what the worker asks ----------------------------------------------------------------

    def busy(self) -> bool:
        """Users are in the pipeline (burst mode waits for them)."""
        return bool(self.fill.stepping or self.fill.waiting or self.fill.open or self.flights or self._tasks)

    def taking(self) -> bool:
        """Users offered now go into sessions (for `fill.hungry` and `fill.filling`)."""
        return self.holding and self.disabled is None and not self._stopping

    async def offer(self, user: ClaimedUser, link: Link, policy: TenantPolicy, plan: Plan) -> bool:
        """Into a session (True) or left to the per-user path (False); fails while Okta refuses the source."""
        if not self.holding and self.disabled is None:
            return await self._not_mine(user, link, policy, plan)
        if self._earlier:  # sessions of an earlier run may hold this user
            live = (await self.store.live_entries(self.name, [user.user_key])).get(user.user_key)
            if live is not None and await self._attach(live, user, link, policy, plan):
                return True
        entry = await self._entry(user, link, policy, plan)
        if entry is None:
            return False
        if self.disabled is not None:
            return await self._refuse(user, link)
        while self.fill.wanted() <= 0 and not self._stopping:
            self._room.clear()
            await self._room.wait()
        if self._stopping:
            await self.hooks.requeue(user, None, count_attempt=False)
            return True
        if entry.kind is EntryKind.CREATE:
            self._logins.add(login_key(entry.login))
        self.fill.waiting.append(entry)
        self.fill.last_offer_at = self.clock.time()
        self._wake.set()
        return True

    async def _not_mine(self, user: ClaimedUser, link: Link, policy: TenantPolicy, plan: Plan) -> bool:
        """Another instance drives the source: creates go one by one here; an update of an account
        the source masters waits for that instance (Okta refuses it on /api/v1/users)."""
        entry = await self._entry(user, link, policy, plan)
        if entry is None or entry.kind is EntryKind.CREATE:
            return False
        await self.hooks.requeue(user, None, count_attempt=False, delay_s=self.options.poll_s)
        return True

    async def _entry(self, user: ClaimedUser, link: Link, policy: TenantPolicy, plan: Plan) -> Entry | None:
        actions = plan.actions
        if not actions or plan.profile is None or plan.profile_hash is None:
            return None
        if max(c.attempts for c in user.changes) >= self.options.max_session_attempts:
            return None  # failed in sessions before (or crashed often): one by one now
        first = actions[0]
        if isinstance(first, CreateUser) and len(actions) == 1:
            if first.lookup_first or user.lane is not Lane.BULK:
                return None
            kind = EntryKind.CREATE
        elif isinstance(first, UpdateProfile) and all(isinstance(a, ActivateUser) for a in actions[1:]):
            if not await self.store.mastered(self.name, [user.user_key]):
                return None  # an account the source does not master is updated on /api/v1/users
            kind = EntryKind.UPDATE
        else:
            return None
        source = source_profile(plan.profile)
        login = str(plan.profile.get("login", ""))
        if source is None or not login:
            return None
        if kind is EntryKind.CREATE and login_key(login) in self._logins:
            return None  # two creates of one login never share a session: the second goes one by one
        ext = external_id(user.tenant, user.source, user.key)
        return Entry(user, link, policy, plan, kind, plan.profile, source, ext, login)

    async def _attach(
        self, live: SessionEntry, user: ClaimedUser, link: Link, policy: TenantPolicy, plan: Plan
    ) -> bool:
        """A user that a session of an earlier run holds (claimed again after a restart)."""
        linked = link.idp_id is not None and link.pending_op in (None, PendingOp.CREATE)  # or one by one
        leftover = (live.kind is EntryKind.CREATE and linked) or (
            live.kind is EntryKind.UPDATE and link.profile_hash == live.profile_hash
        )
        flight = self.flights.get(live.session_id)
        if live.result is None and (flight is None or flight.read):  # read back meanwhile?
            live = (await self.store.live_entries(self.name, [user.user_key])).get(user.user_key) or live
            flight = self.flights.get(live.session_id)
        if leftover or (live.result is None and (flight is None or flight.read)):
            # Its result was recorded before (the entry outlived it), or no session of ours holds it.
            await self.store.forget(live.session_id, [user.user_key])
            return False
        source = source_profile(live.profile) or {}
        entry = Entry(user, link, policy, plan, live.kind, live.profile, source, live.external_id, live.login)
        entry.stale = plan.profile_hash != live.profile_hash or not plan.actions
        if live.result is None and flight is not None:  # not read yet (no await since the check)
            if entry.kind is EntryKind.CREATE:
                self._logins.add(login_key(entry.login))
            flight.entries[user.user_key] = entry
            return True
        assert live.result is not None
        await self.read.settle(entry, live.result, live.idp_id, live.idp_status)
        await self.store.forget(live.session_id, [user.user_key])
        return True

    # ---- the loop -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the source's lease and pick up the sessions of an earlier run (before any claim)."""
        if await self._hold() and not self._recovered:
            await self._recover()

    async def run(self, stop: asyncio.Event) -> None:
        self._stopping = False  # a worker may run again after a burst (one import after another)
        lease = asyncio.create_task(self._keep_lease(stop))
        try:
            while not stop.is_set():
                if self.holding and not self._recovered:
                    await self._recover()
                await self._forget_earlier()
                if self.disabled is not None:
                    await self._drain()
                elif self.holding:
                    with metered() as meter:  # open, uploads, start: for the session's import
                        flight = await self.fill.step()
                    self._bill(meter.calls, flight.entries.values() if flight else self.fill.in_hand())
                    if flight is not None:
                        self._fly(flight)
                    if self.fill.wanted() > 0:
                        self._room.set()
                await self._nap()
        finally:
            lease.cancel()
            await self._stop()

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        """Renew the source's lease on its own beat: a long fill must not let it lapse."""
        while not stop.is_set():
            try:
                await self._hold()
            except Exception:  # the store is out of reach: the next beat tries again
                log.exception("%s: cannot renew the source lease", self.name)
            await self.clock.sleep(self.options.lease_s / 3)

    async def _nap(self) -> None:
        self._wake.clear()
        wait = min(self.options.fill_wait_s / 2, self.options.poll_s, self.options.lease_s / 3)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.01))

    async def _hold(self) -> bool:
        now = self.clock.time()
        self.holding = await self.store.take_source(
            self.name, self.owner, lease_s=self.options.lease_s, now=now
        )
        if not self.holding:
            self._recovered = False  # when it comes back, another instance may have left sessions
        return self.holding

    async def _recover(self) -> None:
        """Sessions a stopped run left: those Okta never started are deleted (their users go
        into new ones); started ones are waited for and read back, and hold their users."""
        earlier = (SessionState.FILLING, SessionState.TRIGGERED, SessionState.READ)
        for record in await self.store.sessions(self.name, earlier):
            self._earlier.add(record.id)
            if record.state is SessionState.FILLING:
                try:
                    seen = await self.sessions.get_session(record.id)
                    if seen is not None and seen.status == "CREATED":  # never started: imports nothing
                        log.info("%s: deleting session %s a stopped run was filling", self.name, record.id)
                        await self.sessions.delete_session(record.id)
                except ProviderError as exc:
                    log.warning("%s: cannot read session %s: %s", self.name, record.id, exc.message)
                    continue
                if seen is None or seen.status in ("CREATED", "CLOSED", "EXPIRED"):
                    await self.store.abandon(self.name, record.id, never_started=True)
                    self._earlier.discard(record.id)
                    continue
                record = replace(record, state=SessionState.TRIGGERED, triggered_at=self.clock.time())
                await self.store.save_session(record)
            if record.state is SessionState.TRIGGERED and record.id not in self.flights:
                log.info("%s: waiting for import session %s of a stopped run", self.name, record.id)
                self._fly(Flight(record))
        self._checked_at = self.clock.time()
        self._recovered = True

    async def _forget_earlier(self) -> None:
        """Sessions of a stopped run whose users all have their results are gone from the store."""
        if not self._earlier or self.clock.time() - self._checked_at < self.options.poll_s:
            return
        self._checked_at = self.clock.time()
        left = await self.store.sessions(self.name, (SessionState.TRIGGERED, SessionState.READ))
        self._earlier &= {r.id for r in left}

    def _bill(self, calls: int, entries: Iterable[Entry]) -> None:
        """A session's calls count for the import of its first user (`idsync status`)."""
        import_id = next((e.user.changes[-1].import_id for e in entries if e.user.changes), None)
        if calls and import_id is not None:
            self.hooks.count_calls(import_id, calls)

    def _fly(self, flight: Flight) -> None:
        self.flights[flight.record.id] = flight

        def completed() -> None:  # Okta counts five minutes from the latest session's creation
            if flight.record.id == self.fill.last_opened:
                self.fill.next_open_at = min(self.fill.next_open_at, self.clock.time())
            self._wake.set()

        entries = list(flight.entries.values())

        async def watch() -> None:
            try:
                with metered() as meter:  # polls and read-back (a user's own path meters itself)
                    await self.read.watch(flight, completed)
                self._bill(meter.calls, entries)
            except Exception:
                log.exception("%s: following import session %s failed", self.name, flight.record.id)
                self._earlier.add(flight.record.id)  # its entries stay: users offered again see them
                stuck, flight.entries = list(flight.entries.values()), {}
                for entry in stuck:  # given back: the per-user path looks before it writes
                    self._done(entry)
                    await self.hooks.requeue(entry.user, None, count_attempt=True)
            finally:
                self.flights.pop(flight.record.id, None)

        flight.task = self._track(watch())

    async def _stop(self) -> None:
        """Users not uploaded go back to the queue; a session being filled is deleted; started
        sessions are left to Okta (the next run reads them back)."""
        self._stopping = True
        self._room.set()
        if self.fill.open is not None:
            with contextlib.suppress(Exception):
                await self.fill.scrap()
        waiting, self.fill.waiting = self.fill.waiting, []
        for entry in waiting:
            self._done(entry)
            with contextlib.suppress(Exception):
                await self.hooks.requeue(entry.user, None, count_attempt=False)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- fallbacks ------------------------------------------------------------------------------

    def _disable(self, exc: SourceUnavailable) -> None:
        if self.disabled is None:
            how = "users fail with this reason" if self.options.fallback == "error" else "users go one by one"
            log.error("%s; %s", exc.message, how)
        self.disabled = exc

    async def _refuse(self, user: ClaimedUser, link: Link) -> bool:
        if self.options.fallback == "standard" or self.disabled is None:
            return False
        reason = Reason(code=self.disabled.code, message=self.disabled.message)
        failed = replace(link, last_error_code=reason.code, last_error_message=reason.message[:500])
        await self.hooks.finish(user, Status.FAILED, link.idp_id, reason, failed if link.exists else None)
        return True

    async def _drain(self) -> None:
        """The source is refused: users waiting for a session fail or go one by one."""
        waiting, self.fill.waiting = self.fill.waiting, []
        self._room.set()
        for entry in waiting:
            self._done(entry)
            if self.options.fallback == "standard":
                self._spawn(self.hooks.per_user(entry.user, entry.link), entry.user)
            else:
                self._spawn(self._refuse(entry.user, entry.link), entry.user)

    def _per_user_all(self, entries: list[Entry]) -> None:
        for entry in entries:
            self._done(entry)
            self._spawn(self.hooks.per_user(entry.user, entry.link), entry.user)

    def _done(self, entry: Entry) -> None:
        if entry.kind is EntryKind.CREATE:
            self._logins.discard(login_key(entry.login))

    def _spawn(self, work: Awaitable[object], user: ClaimedUser) -> None:
        """Run one user's way on beside the pipeline; on an unexpected error the user is retried."""

        async def gated() -> None:
            async with self._gate:
                try:
                    await work
                except Exception:
                    log.exception(
                        "%s: %s/%s: unexpected error; retried later", self.name, user.source, user.key
                    )
                    await self.hooks.requeue(user, None, count_attempt=True)

        self._track(gated())

    def _track(self, work: Awaitable[object]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: session pipeline step failed", self.name)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
