"""Inbound sync's operations: receive deliveries, request syncs, pause, resume, remove, register
the Okta event hook. The web routes and the CLI call these; `worker.Worker` runs the work.

Every operation goes through the store, so it works from any process: the CLI pausing an
integration that a running service applies, or a second service instance receiving a delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from idsync.adapters.okta.connector import OktaConnector
from idsync.adapters.okta.inbound import OktaInbound
from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.inbound import EventQueue, ExecutionLog, InboundStore, Integration, LogEntry
from idsync.adapters.targets import build_target
from idsync.clock import Clock, SystemClock
from idsync.config import Settings
from idsync.domain.events import okta_time, parse_delivery
from idsync.errors import ConfigError, IdSyncError, TargetError
from idsync.inbound.context import Context, rules_from_settings, safety_from_settings
from idsync.inbound.hook import register_event_hook
from idsync.ports import IdentityProvider

__all__ = ["InboundService", "Received", "UnknownIntegration"]

log = logging.getLogger("idsync.inbound")


class UnknownIntegration(IdSyncError):
    """No `[inbound.<name>]` section has this name."""


class Removed(IdSyncError):
    """The integration was removed; run a sync to deploy it again."""


@dataclass(frozen=True)
class Received:
    events: int
    new: int
    duplicates: int
    held: bool


class InboundService:
    def __init__(
        self,
        settings: Settings,
        db: AsyncStore,
        idps: Mapping[str, IdentityProvider],
        *,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock or SystemClock()
        links, queue, runlog = InboundStore(db.store), EventQueue(db.store), ExecutionLog(db.store)
        self.contexts: dict[str, Context] = {}
        for name, s in settings.inbound.items():
            connector = idps.get(s.idp)
            if not isinstance(connector, OktaConnector):
                raise ConfigError(f"inbound.{name}.idp: {s.idp!r} is not an Okta IdP")
            rules = rules_from_settings(s)
            target = build_target(s.target, rules, clock=self.clock, where=f"inbound.{name}.target")
            self.contexts[name] = Context(
                name,
                s,
                rules,
                OktaInbound(connector),
                target,
                db,
                links,
                queue,
                runlog,
                self.clock,
                safety=safety_from_settings(s),
            )

    def context(self, name: str) -> Context:
        ctx = self.contexts.get(name)
        if ctx is None:
            raise UnknownIntegration(
                f"no inbound integration named {name!r} (see [inbound.*] in the configuration)"
            )
        return ctx

    async def start(self) -> None:
        for ctx in self.contexts.values():
            await self.db.call(ctx.links.ensure, ctx.name, self.clock.time())

    async def aclose(self) -> None:
        for ctx in self.contexts.values():
            await ctx.target.aclose()

    async def integration(self, name: str) -> Integration:
        ctx = self.context(name)
        found = await self.db.call(ctx.links.get, name)
        if found is None:
            found = await self.db.call(ctx.links.ensure, name, self.clock.time())
        return found

    async def _log(self, ctx: Context, kind: str, status: str, summary: str, **kw: Any) -> int:
        return await self.db.call(
            ctx.runlog.record, ctx.name, kind, status, self.clock.time(), summary=summary, **kw
        )

    # ---- the hook endpoint -------------------------------------------------------------------

    def secret(self, name: str) -> str | None:
        secret = self.context(name).settings.hook_secret
        return secret.get_secret_value() if secret is not None else None

    async def receive(self, name: str, body: Any) -> Received:
        """Store a delivery's events durably (before Okta is answered); raises `DeliveryError`."""
        ctx = self.context(name)
        integration = await self.integration(name)
        if integration.state == "removed":
            raise Removed(f"inbound integration {name!r} is removed")
        delivery_id, rows = parse_delivery(body)
        held = integration.state == "paused"
        new = await self.db.call(
            ctx.queue.receive,
            name,
            rows,
            state="held" if held else "queued",
            delivery_id=delivery_id,
            now=self.clock.time(),
        )
        duplicates = len(rows) - len(new)
        status = "duplicate" if rows and not new else "held" if held else "received"
        summary = f"{len(rows)} event(s), {len(new)} new, {duplicates} already received" + (
            " (held: integration paused)" if held else ""
        )
        detail = {
            "events": [r.uuid for r in rows],
            "types": sorted({r.event_type for r in rows}),
            "new": len(new),
            "duplicates": duplicates,
        }
        await self._log(ctx, "delivery", status, summary, ref=delivery_id, detail=detail)
        ctx.wakeup.set()
        return Received(len(rows), len(new), duplicates, held)

    async def refused(self, name: str, why: str, client: str) -> None:
        """A delivery or verification without the right secret (never logs what was presented)."""
        log.warning("inbound %s: refused an event-hook request from %s: %s", name, client, why)
        if name in self.contexts:
            await self._log(
                self.contexts[name], "delivery", "refused", f"refused: {why}", detail={"client": client}
            )

    async def verified(self, name: str) -> None:
        await self._log(self.context(name), "hook", "verified", "answered Okta's verification challenge")

    # ---- operations --------------------------------------------------------------------------

    async def request_sync(
        self, name: str, mode: str = "initial", *, requested_by: str = "api", since: str | None = None
    ) -> LogEntry:
        """Queue an initial (or delta) sync; a removed integration is deployed again by it."""
        ctx = self.context(name)
        integration = await self.integration(name)
        if integration.state == "removed":
            await self.db.call(ctx.links.set_state, name, "active", self.clock.time())
        detail = {"requested_by": requested_by, **({"since": since} if since else {})}
        entry_id = await self._log(
            ctx, f"{mode}_sync", "queued", f"{mode} sync requested", detail=detail, finished=False
        )
        ctx.wakeup.set()
        entry = await self.db.call(ctx.runlog.get, entry_id)
        assert entry is not None
        return entry

    async def pause(self, name: str) -> Integration:
        """No event is applied while paused; deliveries are kept (held) for the resume."""
        ctx = self.context(name)
        integration = await self.integration(name)
        if integration.state == "removed":
            raise Removed(f"inbound integration {name!r} is removed")
        if integration.state == "active":
            now = self.clock.time()
            await self.db.call(ctx.links.set_state, name, "paused", now, paused_at=now)
            await self._log(ctx, "pause", "succeeded", "paused: events are held, none applied")
        return await self.integration(name)

    async def resume(self, name: str) -> tuple[Integration, LogEntry | None]:
        """Held events are released and a delta sync catches up with everything changed since the
        pause (minus a margin), so nothing that happened while paused is lost."""
        ctx = self.context(name)
        integration = await self.integration(name)
        if integration.state != "paused":
            return integration, None
        paused_at = integration.paused_at or self.clock.time()
        released = await self.db.call(ctx.queue.release_held, name)
        last_initial = await self.db.call(ctx.runlog.entries, name, kind="initial_sync", limit=1)
        last_delta = await self.db.call(ctx.runlog.entries, name, kind="delta_sync", limit=1)
        if last_initial and last_initial[0].status in ("interrupted", "queued", "running"):
            request = await self.request_sync(name, "initial", requested_by="resume")
        else:
            since = okta_time(paused_at - ctx.settings.delta_margin_s)
            if last_delta and last_delta[0].status == "interrupted" and last_delta[0].detail.get("since"):
                since = min(since, str(last_delta[0].detail["since"]))  # finish what it left
            request = await self.request_sync(name, "delta", requested_by="resume", since=since)
        await self.db.call(ctx.links.set_state, name, "active", self.clock.time())
        await self._log(
            ctx,
            "resume",
            "succeeded",
            f"resumed: {released} held event(s) released, "
            f"{request.kind.replace('_', ' ')} #{request.id} queued",
            detail={"released": released, "request": request.id},
        )
        ctx.wakeup.set()
        return await self.integration(name), request

    async def remove(self, name: str, *, delete_hook: bool = True) -> dict[str, Any]:
        """Clears the links (and the application's external-id column, if configured) and drops
        unapplied events; application users are not changed otherwise."""
        ctx = self.context(name)
        integration = await self.integration(name)
        await self.db.call(ctx.links.set_state, name, "removed", self.clock.time())
        dropped = await self.db.call(ctx.queue.drop_open, name, self.clock.time())
        cleared, failures = await clear_links(ctx)
        hook = None
        if delete_hook and integration.hook_id:
            try:
                await ctx.okta.delete_event_hook(integration.hook_id)
                hook = "deleted"
                await self.db.call(ctx.links.set_hook, name, None)
            except IdSyncError as exc:
                hook = f"not deleted: {exc}"
        result = {
            "links_cleared": cleared,
            "unlink_failures": failures,
            "events_dropped": dropped,
            "hook": hook,
        }
        await self._log(
            ctx,
            "remove",
            "succeeded" if not failures else "partial",
            f"removed: {cleared} link(s) cleared, {dropped} unapplied event(s) dropped",
            detail=result,
        )
        return result

    async def register_hook(self, name: str) -> dict[str, Any]:
        """Create (or update) the Okta event hook for this integration, activate and verify it.
        Okta calls the hook URL during verification: the service must be reachable there."""
        ctx = self.context(name)
        secret = self.secret(name)
        if secret is None:
            raise ConfigError(f"inbound.{name}.hook_secret_env: no hook secret is configured")
        service = self.settings.service
        uri = ctx.settings.hook_url(name, f"http://{service.host}:{service.port}")
        integration = await self.integration(name)
        try:
            result = await register_event_hook(ctx, integration.hook_id, uri, secret)
        except IdSyncError as exc:
            await self._log(ctx, "hook", "failed", f"event hook at {uri}: {exc}")
            raise
        summary = f"event hook {result['id']} registered and verified at {uri}"
        await self._log(ctx, "hook", "succeeded", summary, detail=result)
        return result

    async def status(self, name: str) -> dict[str, Any]:
        ctx = self.context(name)
        integration = await self.integration(name)
        syncs = [
            e
            for kind in ("initial_sync", "delta_sync")
            for e in await self.db.call(ctx.runlog.entries, name, kind=kind, limit=1)
        ]
        return {
            "name": name,
            "state": integration.state,
            "paused_at": integration.paused_at,
            "delta_cursor": integration.delta_cursor,
            "hook_id": integration.hook_id,
            "target": ctx.settings.target.type,
            "links": await self.db.call(ctx.links.count_links, name),
            "events": await self.db.call(ctx.queue.event_counts, name),
            "last_syncs": [e.as_dict() for e in sorted(syncs, key=lambda e: e.id)],
        }


async def clear_links(ctx: Context) -> tuple[int, int]:
    """Unlink every linked application user at the target, then forget the links."""
    failures = 0
    for link in await ctx.db.call(ctx.links.all_links, ctx.name):
        try:
            await ctx.target.unlink(link.app_key, link.okta_id)
        except TargetError as exc:
            failures += 1
            log.warning("inbound %s: could not unlink application user %s: %s", ctx.name, link.app_key, exc)
    cleared = await ctx.db.call(ctx.links.clear_links, ctx.name)
    return cleared, failures
