"""Applies queued Okta events, oldest `published` first, one reconcile per user per batch.

Per user, events that are already reflected (older than the user's watermark), that concern
groups no mapping names, or that idsync does not handle are finished without an API call; the
rest trigger one `reconcile` that fetches the user's current state. Transient failures (Okta or
the application unavailable) are retried with backoff up to `max_attempts`; every event gets
an execution-log entry with its outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from idsync.adapters.store.inbound import QueuedEvent, log_values
from idsync.domain.events import FETCH_GROUPS_ON, EventRow, superseded
from idsync.domain.inbound import OktaGroupRef, role_for
from idsync.domain.inbound_safety import events_run
from idsync.inbound.context import Context
from idsync.inbound.reconcile import Ask, Outcome, reconcile

__all__ = ["process_due"]

log = logging.getLogger("idsync.inbound")

BATCH = 500
MAX_CLOCK_SKEW_S = 300.0  # Okta's clock vs ours
CONCURRENCY = 8


async def process_due(ctx: Context, *, limit: int = BATCH) -> int:
    """Process one batch of due events; returns how many were taken (0: nothing due)."""
    due = await ctx.db.call(ctx.queue.due, ctx.name, ctx.clock.time(), limit)
    if not due:
        return 0
    by_user: dict[str, list[QueuedEvent]] = defaultdict(list)
    for item in due:  # already in `published` order
        by_user[item.row.okta_user_id or ""].append(item)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(okta_id: str, items: list[QueuedEvent]) -> None:
        async with gate:
            await _user_events(ctx, okta_id, items)

    await asyncio.gather(*(one(u, items) for u, items in by_user.items()))
    return len(due)


async def _user_events(ctx: Context, okta_id: str, items: list[QueuedEvent]) -> None:
    finished: list[tuple[QueuedEvent, str, str | None, Outcome | None]] = []
    relevant: list[QueuedEvent] = []
    link = await ctx.db.call(ctx.links.get_link, ctx.name, okta_id) if okta_id else None
    for item in items:
        e = item.row
        if not okta_id:
            finished.append((item, "ignored", "no user in the event", None))
        elif e.is_membership_event and not _mapped(ctx, e):
            finished.append((item, "ignored", f"group {e.group_name or e.group_id} is not mapped", None))
        elif not (e.is_user_event or e.is_membership_event):
            finished.append((item, "ignored", f"event type {e.event_type} is not handled", None))
        elif link is not None and superseded(e, link.profile_wm, link.roles_wm):
            finished.append((item, "superseded", "already reflected by a newer state", None))
        else:
            relevant.append(item)
    if relevant:
        types = sorted({i.row.event_type for i in relevant})
        ask = Ask(
            okta_id,
            "event " + ", ".join(types),
            profile=any(i.row.is_user_event for i in relevant),
            roles=any(i.row.is_membership_event or i.row.event_type in FETCH_GROUPS_ON for i in relevant),
            published=_watermark(ctx, relevant),
            run=events_run(ctx.clock.time(), ctx.safety.window_s),  # a burst of hooks: one run
        )
        outcome = await reconcile(ctx, ask)
        attempts = min(i.attempts for i in relevant) + 1
        if outcome.status == "failed" and outcome.retryable and attempts < ctx.settings.max_attempts:
            delay = min(ctx.settings.retry_backoff_s * 2 ** (attempts - 1), 600.0)
            await ctx.db.call(
                ctx.queue.postpone,
                ctx.name,
                [i.row.uuid for i in relevant],
                ctx.clock.time() + delay,
                outcome.reason or "",
            )
            await _log(ctx, [(i, "retrying", outcome.reason, outcome) for i in relevant])
            log.info(
                "inbound %s: user %s: will retry in %.0f s: %s", ctx.name, okta_id, delay, outcome.reason
            )
            relevant = []
        else:
            finished += [(i, outcome.status, outcome.reason, outcome) for i in relevant]
    if finished:
        await ctx.db.call(
            ctx.queue.finish,
            ctx.name,
            [(i.row.uuid, status, msg) for i, status, msg, _ in finished],
            ctx.clock.time(),
        )
        await _log(ctx, finished)


def _watermark(ctx: Context, items: Sequence[QueuedEvent]) -> float | None:
    """The newest usable `published`: one far ahead of our clock would make every later event
    of the user look old, so it is not trusted as a watermark."""
    limit = ctx.clock.time() + MAX_CLOCK_SKEW_S
    stamps = [i.row.published_ts for i in items if 0 < i.row.published_ts <= limit]
    return max(stamps) if stamps else None


def _mapped(ctx: Context, e: EventRow) -> bool:
    return role_for(OktaGroupRef(e.group_id or "", e.group_name or ""), ctx.rules) is not None


async def _log(ctx: Context, entries: Sequence[tuple[QueuedEvent, str, str | None, Outcome | None]]) -> None:
    now = ctx.clock.time()
    rows = []
    for item, status, message, outcome in entries:
        e = item.row
        detail: dict[str, Any] = {
            "event_type": e.event_type,
            "published": e.published,
            "login": (outcome.login if outcome else "") or e.login,
            "attempt": item.attempts + 1,
        }
        if e.group_id:
            detail["group"] = {"id": e.group_id, "name": e.group_name}
        if outcome is not None:
            detail.update(key=outcome.key, code=outcome.code, reason=outcome.reason)
        summary = f"{e.event_type} {detail['login'] or e.okta_user_id}: {status}" + (
            f" ({message})" if message else ""
        )
        rows.append(log_values(ctx.name, "event", status, now, e.uuid, e.okta_user_id, summary, detail, True))
    await ctx.db.call(ctx.runlog.record_many, rows)
