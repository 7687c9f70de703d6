"""The worker: claims users with pending changes (interactive lane first), plans each change
against the current link, carries the plan out through the IdP's connector, and records results.

Changes of one user are applied in arrival order; consecutive upserts coalesce into one plan
(several queued changes of a user cost one call). Retryable failures put the user back in the
queue with backoff; other failures become a `failed` result with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from pydantic import ValidationError

from idsync.clock import Clock
from idsync.domain.decision import next_step
from idsync.domain.links import Link, PendingOp
from idsync.domain.marks import finished_mark
from idsync.domain.models import ChangeMessage, Lane, Reason, Status, stored_change, validation_reason
from idsync.domain.policy import TenantPolicy
from idsync.domain.records import ClaimedUser, Finished, Outcome, QueuedChange
from idsync.engine.apply import Applied, PlanRunner
from idsync.engine.commit import GroupCommitter
from idsync.engine.handoff import SessionHandoff, SessionSource
from idsync.engine.metering import metered
from idsync.engine.retry import backoff_delay
from idsync.errors import CircuitOpen, ProviderError
from idsync.ports import ChangeQueue, IdentityProvider, LinkStore, Pacing, SessionStore

log = logging.getLogger("idsync.worker")
# The governors compare the backlog with a window's budget (Okta's largest are a few thousand
# calls): counting further costs time that grows with the queue (0.2 s for a million, twice a second).
BACKLOG_CAP = 20_000


@dataclass(frozen=True)
class WorkerOptions:
    # Users in progress in the bulk lane: above the governor's burst of calls in flight (40), since
    # users are claimed in batches and some are being planned or written while others wait on a call.
    concurrency: int = 64
    # A session pipeline takes users as fast as they come (engine/sessions): claim this many a turn,
    # or a file's ingest (1,000 rows a turn) leaves the first session's fill a sixth of the CPU.
    session_claim: int = 512
    interactive_slots: int = 8  # extra users in progress reserved for the interactive lane
    lease_s: float = 120.0
    poll_s: float = 0.25
    max_attempts: int = 8  # a change failing with retryable errors this often fails for good
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    backlog_poll_s: float = 0.5


@dataclass(frozen=True)
class _Done:
    """A change's result, and the link as it now is."""

    status: Status
    idp_id: str | None
    reason: Reason | None
    link: Link | None
    activation_url: str | None = None


@dataclass(frozen=True)
class _Postpone:
    delay_s: float
    count_attempt: bool
    link: Link | None = None


def _interrupted(user: ClaimedUser) -> Link | None:
    """The user's link; when a change was interrupted before (a crash, a lost answer), with the
    write it may have sent marked as pending, so the retry looks before it writes again."""
    link = user.link
    if not any(c.attempts > 0 for c in user.changes):
        return link
    if link is None or not link.exists:
        # A create is sent only after its intent is stored in the link (apply.py), and a stored
        # intent makes the planner look the login up first; without one, nothing was sent.
        return link
    # An activation is planned only for an account whose status allows one (planner.py): from
    # any other status, the interrupted attempt cannot have sent one.
    could_activate = link.idp_status is not None and link.idp_status.activatable
    if (
        link.pending_op is None
        and could_activate
        and any(c.op in ("activate", "upsert") for c in user.changes)
    ):
        return replace(link, pending_op=PendingOp.ACTIVATE)
    return link


class Worker:
    def __init__(
        self,
        queue: ChangeQueue,
        links: LinkStore,
        policies: Callable[[str], TenantPolicy | None],
        idps: Mapping[str, IdentityProvider],
        pacing: Mapping[str, Pacing],
        clock: Clock,
        *,
        options: WorkerOptions | None = None,
        owner: str | None = None,
        sessions: Mapping[str, SessionSource] | None = None,
        session_store: SessionStore | None = None,
    ) -> None:
        self.queue = queue
        self.links = links
        self.policies = policies
        self.idps = idps
        self.pacing = pacing
        self.clock = clock
        self.options = options or WorkerOptions()
        self.owner = owner or f"worker-{uuid.uuid4().hex[:8]}"
        self.wakeup = asyncio.Event()
        self.writes = GroupCommitter(queue)
        self.runner = self._runner = PlanRunner(self.writes, links)
        self._active: dict[str, asyncio.Task[None]] = {}
        self._waiters: dict[int, asyncio.Future[Outcome]] = {}
        self._rng = random.Random()
        self.processed = 0
        self._interactive_hint = True
        self._interactive_polled = 0.0
        self._bulk_left = False  # the last bulk claim took all it asked for: more is waiting
        # Bulk creates and updates through identity-source sessions (engine/sessions).
        self.sessions = SessionHandoff(self, sessions or {}, session_store)

    # ---- results for callers that wait (the HTTP API's interactive lane) --------------------

    def notify(self, lane: Lane = Lane.BULK) -> None:
        """New work was stored; an interactive change is claimed at once."""
        if lane is Lane.INTERACTIVE:
            self._interactive_hint = True
        self.wakeup.set()

    def wait_for(self, change_id: int) -> asyncio.Future[Outcome]:
        fut = self._waiters.get(change_id)
        if fut is None:
            fut = self._waiters[change_id] = asyncio.get_running_loop().create_future()
        return fut

    def forget(self, change_id: int) -> None:
        """The caller stopped waiting (its change may finish on another instance)."""
        fut = self._waiters.pop(change_id, None)
        if fut is not None and not fut.done():
            fut.cancel()

    def settled(self, outcomes: list[Outcome]) -> None:
        """Results written elsewhere (a session pipeline): count them, tell who waits."""
        self.processed += len(outcomes)
        self._resolve(outcomes)

    def _resolve(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            fut = self._waiters.pop(o.change_id, None)
            if fut is not None and not fut.done():
                fut.set_result(o)

    # ---- the loop ----------------------------------------------------------------------------

    async def run(
        self, *, stop: asyncio.Event | None = None, until_idle: Callable[[], bool] | None = None
    ) -> None:
        """Work until `stop` is set, or (burst mode) until `until_idle()` is true and nothing is left."""
        stop = stop or asyncio.Event()
        renewer = asyncio.create_task(self._renew_leases(stop))
        backlog = asyncio.create_task(self._report_backlog(stop))
        await self.sessions.start()  # sessions of a stopped run are picked up before any claim
        halt = asyncio.Event()
        pipelines = self.sessions.run(halt)
        try:
            while not stop.is_set():
                claimed = await self._claim()
                for user in claimed:
                    self._active[user.user_key] = asyncio.create_task(self._guarded(user))
                if claimed:
                    continue
                if until_idle is not None and until_idle() and not self._active and not self.sessions.busy():
                    due = await self.queue.next_due()
                    if due is None:
                        return
                    await self._sleep(min(max(due - self.clock.time(), 0.01), self.options.poll_s), stop)
                    continue
                await self._sleep(self.options.poll_s, stop)
        finally:
            renewer.cancel()
            backlog.cancel()
            halt.set()  # the pipelines give back the users they have not uploaded yet
            await asyncio.gather(*pipelines, return_exceptions=True)
            if self._active:
                await asyncio.gather(*self._active.values(), return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.writes.flush()  # the API calls counted since the last commit

    async def _claim(self) -> list[ClaimedUser]:
        bulk_busy = sum(1 for t in self._active.values() if getattr(t, "idsync_lane", Lane.BULK) is Lane.BULK)
        interactive_busy = len(self._active) - bulk_busy
        bulk_slots = self.options.session_claim if self.sessions.hungry() else self.options.concurrency
        # Bulk users never take the slots reserved for interactive ones.
        room = {
            Lane.INTERACTIVE: self.options.interactive_slots - interactive_busy,
            Lane.BULK: bulk_slots - bulk_busy,
        }
        # Claim in batches (a claim is a transaction): bulk waits until a quarter of its slots are
        # free; interactive users are taken as soon as one slot is.
        if room[Lane.BULK] < max(self.options.concurrency // 4, 1) and bulk_busy > 0:
            room[Lane.BULK] = 0
        # Interactive changes are looked for when one was announced, else at most every poll.
        now = self.clock.time()
        if not self._interactive_hint and now - self._interactive_polled < self.options.poll_s:
            room[Lane.INTERACTIVE] = 0
        if room[Lane.INTERACTIVE] > 0:
            self._interactive_hint = False
            self._interactive_polled = now
        lanes = tuple(lane for lane, n in room.items() if n > 0)
        if not lanes:
            return []
        claimed = await self.queue.claim(
            self.owner,
            limit=sum(max(n, 0) for n in room.values()),
            lease_s=self.options.lease_s,
            now=self.clock.time(),
            lanes=lanes,
            lane_limits=room,
        )
        if room[Lane.BULK] > 0:
            self._bulk_left = sum(1 for u in claimed if u.lane is Lane.BULK) >= room[Lane.BULK]
        return claimed

    def feeding_sessions(self) -> bool:
        """An import session waits for users the queue holds: a file's ingest should let it have
        the CPU (the first session of a migration is filled while Okta has nothing to process).
        Either the last claim found more waiting, or the pipeline holds all it can take for now
        (the worker waits in `offer`, so no claim tells whether more is waiting)."""
        return self.sessions.filling() and (self._bulk_left or self.sessions.full())

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        self.wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), timeout=seconds)

    async def _report_backlog(self, stop: asyncio.Event) -> None:
        """Tell the governors how much bulk work waits, so a small job is not spread over a window."""
        while not stop.is_set():
            pending = await self.queue.pending_by_lane(cap=BACKLOG_CAP)
            waiting = pending[Lane.BULK] + sum(
                1 for t in self._active.values() if getattr(t, "idsync_lane", Lane.BULK) is Lane.BULK
            )
            for pacing in self.pacing.values():
                pacing.set_backlog(waiting)
            await asyncio.sleep(self.options.backlog_poll_s)

    async def _renew_leases(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.options.lease_s / 3)
            await self.queue.renew_leases(self.owner, self.options.lease_s, self.clock.time())

    async def _guarded(self, user: ClaimedUser) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.idsync_lane = user.lane  # type: ignore[attr-defined]
        try:
            await self._process(user)
        except Exception:
            log.exception(
                "unexpected error while syncing %s/%s; the change is retried later", user.source, user.key
            )
            await self.queue.postpone(
                user, self.owner, not_before=self.clock.time() + self.options.retry_base_s
            )
        finally:
            self._active.pop(user.user_key, None)
            self.wakeup.set()

    # ---- one user ----------------------------------------------------------------------------

    async def _process(self, user: ClaimedUser) -> None:
        link = _interrupted(user)
        if await self.sessions.offer(user, link):
            return  # a session pipeline holds the user until its session is read back
        await self.process(user, link)

    async def process(self, user: ClaimedUser, link: Link | None) -> None:
        """The per-user path for the user's changes, starting from `link`."""
        outcomes: list[Outcome] = []
        pending = list(user.changes)
        while pending:
            step = await self._step(pending, link, user)
            if isinstance(step, _Postpone):
                if outcomes:
                    await self.writes.finish(
                        Finished(user.user_key, self.owner, outcomes, release=False), link
                    )
                    self._resolve(outcomes)
                await self.queue.postpone(
                    user,
                    self.owner,
                    only=pending,
                    not_before=self.clock.time() + step.delay_s,
                    link=step.link,
                    count_attempt=step.count_attempt,
                )
                return
            done, size = step
            link = done.link
            outcomes.extend(
                Outcome(c.id, done.status, done.idp_id, done.reason, c.import_id, done.activation_url)
                for c in pending[:size]
            )
            pending = pending[size:]
        mark = finished_mark(user.changes, link, self.policies(user.tenant))
        await self.writes.finish(Finished(user.user_key, self.owner, outcomes, line_mark=mark), link)
        self.processed += len(outcomes)
        self._resolve(outcomes)

    async def _step(
        self, pending: list[QueuedChange], link: Link | None, user: ClaimedUser
    ) -> tuple[_Done, int] | _Postpone:
        """Decide and carry out the next step of the user's changes (domain/decision.py)."""
        changes: list[ChangeMessage] = []
        for c in pending:  # read back as validated when received; a damaged row stops the run
            try:
                changes.append(stored_change(c.payload))
            except ValidationError as exc:
                if not changes:
                    return _Done(Status.FAILED, None, validation_reason(exc), link), 1
                break
        tenant = changes[0].tenant
        policy = self.policies(tenant)
        if policy is None:
            reason = Reason(code="unknown_tenant", message=f"tenant {tenant!r} is not configured")
            return _Done(Status.FAILED, None, reason, link), len(pending)
        idp = self.idps.get(policy.idp)
        if idp is None:
            reason = Reason(code="unknown_idp", message=f"IdP {policy.idp!r} is not configured")
            return _Done(Status.FAILED, None, reason, link), len(pending)
        step = next_step(changes, link, policy)
        base = link or Link(tenant=tenant, source=user.source, key=user.key, idp=policy.idp)
        if not base.idp:
            base = replace(base, idp=policy.idp)
        import_id = pending[step.size - 1].import_id  # the step's calls count for its winner's import
        with metered() as meter:
            try:
                applied: Applied = await self._runner.run(step.plan, base, idp.for_lane(user.lane), policy)
            except ProviderError as exc:
                failed = await self._failed(exc, pending[0], user, policy.idp, link)
                return failed if isinstance(failed, _Postpone) else (failed, step.size)
            finally:
                if import_id is not None:
                    self.writes.count_calls(import_id, meter.calls)
        keep = applied.link if (link is not None or applied.link.exists) else None
        return _Done(applied.status, applied.idp_id, applied.reason, keep, applied.activation_url), step.size

    async def _failed(
        self,
        exc: ProviderError,
        change_row: QueuedChange,
        user: ClaimedUser,
        idp: str,
        link: Link | None,
    ) -> _Done | _Postpone:
        partial: Link | None = exc.partial_link if isinstance(exc.partial_link, Link) else link
        if partial is not None and not partial.exists and link is None:
            partial = None if partial.pending_op is None else partial
        if isinstance(exc, CircuitOpen):
            pacing = self.pacing.get(idp)
            retry_at = pacing.retry_at() if pacing is not None else self.clock.time() + 30
            return _Postpone(max(retry_at - self.clock.time(), 0.5), count_attempt=False, link=partial)
        if exc.retryable and change_row.attempts + 1 < self.options.max_attempts:
            delay = backoff_delay(
                change_row.attempts,
                base_s=self.options.retry_base_s,
                max_s=self.options.retry_max_s,
                rng=self._rng,
            )
            # INFO: an outage would write a line per user; the transport logs the circuit instead.
            log.info("%s/%s: %s; retrying in %.1f s", user.source, user.key, exc.message, delay)
            return _Postpone(delay, count_attempt=True, link=partial)
        reason = Reason(code=exc.code, message=exc.message)
        if partial is None and not exc.retryable:
            # A definite refusal (400, 401, 403, 404...) proves the write did not happen: clear the
            # write-ahead intent, so a retry does not pay for a lookup before its create.
            base = exc.partial_link if isinstance(exc.partial_link, Link) else None
            if base is not None and base.pending_op is None:
                partial = base
        if partial is not None:
            pending = None if partial.creation_unrecorded else partial.pending_op  # recorded now
            partial = replace(
                partial, pending_op=pending, last_error_code=exc.code, last_error_message=exc.message[:500]
            )
        log.info("%s/%s failed: %s", user.source, user.key, exc.message)
        return _Done(Status.FAILED, partial.idp_id if partial else None, reason, partial)
