"""The worker's side of the session pipelines (engine/sessions): which claimed users it offers
them, and what it does when a pipeline hands a user back (a result, the queue, the per-user path).

Why here and not in the worker: the worker stays the per-user path; everything a pipeline needs
from it goes through the four `Hooks` below, so the pipeline never touches the queue directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import ValidationError

from idsync.domain.decision import next_step
from idsync.domain.links import Link
from idsync.domain.marks import finished_mark
from idsync.domain.models import ChangeMessage, Reason, Status, stored_change
from idsync.domain.planner import Plan
from idsync.domain.policy import TenantPolicy
from idsync.domain.records import ClaimedUser, Finished, Outcome
from idsync.engine.apply import Applied
from idsync.engine.sessions import SessionOptions, SessionPipeline
from idsync.ports import IdentityProvider, ImportSessions, SessionStore

if TYPE_CHECKING:
    from idsync.engine.worker import Worker

__all__ = ["SessionHandoff", "SessionSource"]

log = logging.getLogger("idsync.sessions")

SessionSource = tuple[ImportSessions, SessionOptions]  # an IdP's identity source and how to drive it


class SessionHandoff:
    def __init__(
        self, worker: Worker, sources: Mapping[str, SessionSource], store: SessionStore | None
    ) -> None:
        self.worker = worker
        self.pipelines: dict[str, SessionPipeline] = {}
        if store is None:
            return
        for name, (sessions, options) in sources.items():
            idp = worker.idps.get(name)
            if idp is None:
                continue
            self.pipelines[name] = SessionPipeline(
                sessions, store, worker.links, idp, self, worker.clock, options, owner=worker.owner
            )

    # ---- the worker's calls ---------------------------------------------------------------------

    async def start(self) -> None:
        for pipeline in self.pipelines.values():
            await pipeline.start()

    def run(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        tasks = [asyncio.create_task(p.run(stop), name=f"sessions:{n}") for n, p in self.pipelines.items()]
        for task in tasks:
            task.add_done_callback(_report_crash)
        return tasks

    def busy(self) -> bool:
        return any(p.busy() for p in self.pipelines.values())

    def hungry(self) -> bool:
        """A pipeline is being fed users and wants more (the worker may claim more a turn)."""
        return any(p.taking() and p.fill.hungry() for p in self.pipelines.values())

    def filling(self) -> bool:
        """A pipeline fills a session: it wants the CPU more than a file's ingest does."""
        return any(p.taking() and (p.fill.filling() or p.fill.hungry()) for p in self.pipelines.values())

    def full(self) -> bool:
        """A pipeline takes no more users until its uploads are sent."""
        return any(p.taking() and p.fill.wanted() <= 0 for p in self.pipelines.values())

    async def offer(self, user: ClaimedUser, link: Link | None) -> bool:
        """True when a pipeline took the user (or settled it); False: the per-user path."""
        if not self.pipelines:
            return False
        changes: list[ChangeMessage] = []
        for c in user.changes:
            try:
                changes.append(stored_change(c.payload))
            except ValidationError:
                return False  # the per-user path reports it
        policy = self.worker.policies(changes[0].tenant)
        pipeline = self.pipelines.get(policy.idp) if policy is not None else None
        if policy is None or pipeline is None:
            return False
        step = next_step(changes, link, policy)
        if step.size != len(changes):
            return False  # several steps (an upsert, then a delete...): one by one
        base = link or Link(tenant=user.tenant, source=user.source, key=user.key, idp=policy.idp)
        return await pipeline.offer(user, replace(base, idp=base.idp or policy.idp), policy, step.plan)

    # ---- Hooks: what a pipeline asks of the worker ----------------------------------------------

    async def finish(
        self,
        user: ClaimedUser,
        status: Status,
        idp_id: str | None,
        reason: Reason | None,
        link: Link | None,
        activation_url: str | None = None,
    ) -> None:
        outcomes = [Outcome(c.id, status, idp_id, reason, c.import_id, activation_url) for c in user.changes]
        mark = finished_mark(user.changes, link, self.worker.policies(user.tenant))
        finished = Finished(user.user_key, self.worker.owner, outcomes, line_mark=mark)
        await self.worker.writes.finish(finished, link)
        self.worker.settled(outcomes)

    def count_calls(self, import_id: str, calls: int) -> None:
        self.worker.writes.count_calls(import_id, calls)

    async def requeue(
        self, user: ClaimedUser, link: Link | None, *, count_attempt: bool, delay_s: float = 0.0
    ) -> None:
        await self.worker.queue.postpone(
            user,
            self.worker.owner,
            not_before=self.worker.clock.time() + delay_s,
            link=link,
            count_attempt=count_attempt,
        )
        self.worker.wakeup.set()

    async def per_user(self, user: ClaimedUser, link: Link | None) -> None:
        await self.worker.process(user, link)

    async def run_plan(self, plan: Plan, link: Link, idp: IdentityProvider, policy: TenantPolicy) -> Applied:
        return await self.worker.runner.run(plan, link, idp, policy)


def _report_crash(task: asyncio.Task[None]) -> None:
    """A pipeline that died says so (its users go the per-user way from then on)."""
    if task.cancelled() or task.exception() is None:
        return
    log.error(
        "%s stopped: %r; users take the per-user path",
        task.get_name(),
        task.exception(),
        exc_info=task.exception(),
    )
