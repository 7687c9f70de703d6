"""Initial and delta sync: page through Okta's users (100 a page by default) into the application.

Initial: every user (DEPROVISIONED ones too, so users deactivated in Okta become inactive in
the application); group memberships come from one listing per mapped group instead of one call
per user. Re-runnable at any time: linked users are compared, unlinked ones re-linked by e-mail
(or login) before anything is created, so a re-run never makes a duplicate.

Delta: the users Okta changed after a cursor (`lastUpdated gt`), plus the members of mapped
groups whose membership changed after it (a membership change does not touch a user's
`lastUpdated`). After a pause, the cursor is the pause time minus a margin.

Each sync is one safety run (domain/inbound_safety.py): deactivations and role removals beyond
its allowance are held, the rest of the sync goes on. `preview_sync` walks the same pages with
nothing written (`idsync inbound sync --dry-run`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

from idsync.adapters.store.inbound import LogEntry
from idsync.domain.inbound import OktaGroupRef, OktaUserState, role_for
from idsync.domain.inbound_safety import sync_run
from idsync.errors import IdSyncError
from idsync.inbound.context import Context
from idsync.inbound.reconcile import Ask, Outcome, reconcile

__all__ = ["Tally", "preview_sync", "run_sync"]

log = logging.getLogger("idsync.inbound")

MAX_LISTED = 1000  # skipped users / errors kept in one log entry (all are counted)
CONCURRENCY = 8

StopCheck = Callable[[], Awaitable[str | None]]  # a reason to stop between pages, or None
Progress = Callable[[], Awaitable[None]]


class Tally:
    """A sync's counts and lists; `run` is its safety run, `dry` a preview (nothing written)."""

    def __init__(self, run: str | None = None, *, dry: bool = False) -> None:
        self.run = run
        self.dry = dry
        self.counts: Counter[str] = Counter()
        self.skipped: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []  # users held by the safety threshold (or, dry: harmed)
        self.harmful = 0  # dry: users it would deactivate or strip of roles
        self.warnings: list[str] = []
        self.cursor: str | None = None  # newest `lastUpdated` seen

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        if outcome.status == "skipped" and len(self.skipped) < MAX_LISTED:
            self.skipped.append(outcome.as_item())
        if outcome.status == "failed" and len(self.errors) < MAX_LISTED:
            self.errors.append(outcome.as_item())
        if self.dry and outcome.harm:
            self.harmful += 1
        if (outcome.status == "held" or (self.dry and outcome.harm)) and len(self.held) < MAX_LISTED:
            self.held.append(outcome.as_item())

    def seen(self, user: OktaUserState) -> None:
        if user.last_updated and (self.cursor is None or user.last_updated > self.cursor):
            self.cursor = user.last_updated

    def detail(self, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            **extra,
            "counts": dict(self.counts),
            "skipped": self.skipped,
            "errors": self.errors,
            "held": self.held,
            "warnings": self.warnings,
        }

    def summary(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items())) or "no users"


async def run_sync(ctx: Context, entry: LogEntry, stop_reason: StopCheck) -> str:
    """Run the sync request `entry` (status `running`) to its end; returns the final status."""
    tally = Tally(sync_run(entry.id))
    integration = await ctx.db.call(ctx.links.get, ctx.name)
    since = entry.detail.get("since") or (integration.delta_cursor if integration else None)
    mode = "delta" if entry.kind == "delta_sync" and since else "initial"
    extra = {**entry.detail, "mode": mode, "since": since if mode == "delta" else None}
    progress = _Progress(ctx, entry, tally, extra)
    status = "succeeded"
    try:
        if mode == "initial":
            stopped = await _initial(ctx, tally, stop_reason, progress)
        else:
            assert since is not None
            stopped = await _delta(ctx, since, tally, stop_reason, progress)
        if stopped:
            status, extra["stopped"] = "interrupted", stopped
        elif tally.counts["failed"] or tally.counts["held"]:
            status = "partial"
    except IdSyncError as exc:
        status = "failed"
        tally.errors.append({"code": getattr(exc, "code", type(exc).__name__), "reason": str(exc)})
        log.warning("inbound %s: %s sync failed: %s", ctx.name, mode, exc)
    except Exception as exc:  # not ours (the store, a bug): the entry must not stay `running`
        status = "failed"
        tally.errors.append({"code": "internal", "reason": type(exc).__name__})
        log.exception("inbound %s: %s sync failed", ctx.name, mode)
    if status in ("succeeded", "partial") and tally.cursor:
        await ctx.db.call(ctx.links.set_cursor, ctx.name, max(tally.cursor, since or ""))
    await ctx.db.call(
        ctx.runlog.complete,
        entry.id,
        status,
        ctx.clock.time(),
        summary=f"{mode} sync: {tally.summary()}",
        detail=tally.detail(extra),
        finished=True,
    )
    log.info("inbound %s: %s sync %s: %s", ctx.name, mode, status, tally.summary())
    return status


class _Progress:
    """Writes the running counts into the log entry after every page (`idsync inbound log`)."""

    def __init__(self, ctx: Context, entry: LogEntry, tally: Tally, extra: dict[str, Any]) -> None:
        self.ctx, self.entry, self.tally, self.extra = ctx, entry, tally, extra

    async def __call__(self) -> None:
        await self.ctx.db.call(
            self.ctx.runlog.complete,
            self.entry.id,
            "running",
            self.ctx.clock.time(),
            summary=self.tally.summary(),
            detail=self.tally.detail(self.extra),
            finished=False,
        )


async def _mapped_groups(ctx: Context, tally: Tally) -> list[OktaGroupRef]:
    keys = list(ctx.rules.group_roles)
    found = await ctx.okta.find_groups(keys)
    for key in keys:
        if key not in found:
            tally.warnings.append(
                f"group {key!r} (mapped to role {ctx.rules.group_roles[key]!r}) not found in Okta"
            )
    return list({g.id: g for g in found.values()}.values())


async def preview_sync(ctx: Context, since: str | None = None) -> Tally:
    """What an initial sync (or, with `since`, a delta sync) would change, page by page, with
    nothing written: no application user, no link, no cursor, no log entry."""
    tally = Tally(dry=True)

    async def nothing() -> None:
        return None

    async def go_on() -> str | None:
        return None

    if since is None:
        await _initial(ctx, tally, go_on, nothing)
    else:
        await _delta(ctx, since, tally, go_on, nothing)
    return tally


async def _initial(ctx: Context, tally: Tally, stop_reason: StopCheck, progress: Progress) -> str | None:
    membership: dict[str, list[OktaGroupRef]] | None = None
    groups_as_of = ctx.clock.time()
    if ctx.rules.group_roles:
        membership = defaultdict(list)
        for group in await _mapped_groups(ctx, tally):
            async for user_id in ctx.okta.group_member_ids(group.id):
                membership[user_id].append(group)
    async for fetched_at, page in _timed(ctx, ctx.okta.user_pages(page_size=ctx.settings.page_size)):
        asks = [
            Ask(
                u.id,
                "initial_sync",
                state=u,
                state_as_of=fetched_at,
                groups=membership.get(u.id, []) if membership is not None else None,
                groups_as_of=groups_as_of,
            )
            for u in page
        ]
        for user in page:
            tally.seen(user)
        await _run_all(ctx, asks, tally)
        await progress()
        reason = await stop_reason()
        if reason:
            return reason
    return None


async def _timed(
    ctx: Context, pages: AsyncIterator[list[OktaUserState]]
) -> AsyncIterator[tuple[float, list[OktaUserState]]]:
    """Pages with the time just before each was requested: the page reflects Okta at or after it."""
    while True:
        fetched_at = ctx.clock.time()
        page = await anext(pages, None)
        if page is None:
            return
        yield fetched_at, page


async def _delta(
    ctx: Context, since: str, tally: Tally, stop_reason: StopCheck, progress: Progress
) -> str | None:
    done: set[str] = set()
    pages = ctx.okta.user_pages(page_size=ctx.settings.page_size, updated_since=since)
    async for fetched_at, page in _timed(ctx, pages):
        for user in page:
            tally.seen(user)
            done.add(user.id)
        await _run_all(ctx, [Ask(u.id, "delta_sync", state=u, state_as_of=fetched_at) for u in page], tally)
        await progress()
        reason = await stop_reason()
        if reason:
            return reason
    if not ctx.rules.group_roles:
        return None
    groups = await _mapped_groups(ctx, tally)
    changed = set(await ctx.okta.groups_changed_since([g.id for g in groups], since))
    if not changed:
        return None
    roles = {r for g in groups if g.id in changed and (r := role_for(g, ctx.rules))}
    candidates: set[str] = set()
    for group_id in changed:
        async for user_id in ctx.okta.group_member_ids(group_id):
            candidates.add(user_id)
    for link in await ctx.db.call(ctx.links.all_links, ctx.name):
        if link.roles and link.roles & roles:
            candidates.add(link.okta_id)  # may have left the group
    asks = [Ask(uid, "delta_sync (group membership)", profile=False) for uid in sorted(candidates - done)]
    await _run_all(ctx, asks, tally)
    await progress()
    return None


async def _run_all(ctx: Context, asks: Iterable[Ask], tally: Tally) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(ask: Ask) -> None:
        async with gate:
            tally.add(await reconcile(ctx, replace(ask, run=tally.run, dry=tally.dry)))

    await asyncio.gather(*(one(a) for a in asks))
