"""Registering portals at the IdP: one OpenID Connect app per portal, never two.

For each portal: take its row under a lease (a concurrent run answers `busy` instead of racing),
look for an app with the portal's label, and only if there is none, create one. The lookup
comes before every create, so a run interrupted between "created at the IdP" and "recorded
here" adopts the app on the next run instead of creating a second. Redirect URIs or base URL
that changed are sent to the existing app (PUT), keeping its client id and secret.

A batch (`portals sync`) lists the tenant's apps once (one call per 200 apps in Okta's small
apps bucket); a single registration (HTTP API, `portal_upsert`) looks up its own label.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.features.portals import (
    FAILED,
    REGISTERED,
    REGISTERING,
    PortalRow,
    claim_portal,
    get_portal,
    release_portal,
)
from idsync.domain.models import Reason
from idsync.errors import ProviderError
from idsync.lifecycle.portals import LABEL_PREFIX, PortalSpec
from idsync.ports import OidcApp, OidcAppRegistry

__all__ = ["PortalOutcome", "PortalRegistrar", "SecretSink"]

log = logging.getLogger("idsync.lifecycle.portals")

# Receives a newly created app's secret (the only moment it exists); the CLI writes it to the
# secrets file, the HTTP API may hand it to the caller that asked. Nothing else sees it.
SecretSink = Callable[[str, PortalSpec, OidcApp, SecretStr], None]


@dataclass(frozen=True)
class PortalOutcome:
    tenant: str
    name: str
    label: str
    # created | adopted | updated | unchanged | failed | busy; dry run: would_create|would_update|would_adopt
    status: str
    app_id: str | None = None
    client_id: str | None = None
    reason: Reason | None = None
    secret_kept: bool | None = None  # for `created`: whether the sink took the secret
    note: str | None = None


class PortalRegistrar:
    def __init__(
        self,
        db: AsyncStore,
        registry: OidcAppRegistry,
        tenant: str,
        *,
        sink: SecretSink | None = None,
        dry_run: bool = False,
        lease_s: float = 120.0,
        groups: Sequence[str] = ("Everyone",),
    ) -> None:
        self.groups = list(groups)
        self.db = db
        self.registry = registry
        self.tenant = tenant
        self.sink = sink
        self.dry_run = dry_run
        self.lease_s = lease_s

    def label(self, spec: PortalSpec) -> str:
        return spec.label(self.tenant)

    async def sync(self, specs: Sequence[PortalSpec]) -> list[PortalOutcome]:
        """Every portal of a file, with one listing of the tenant's apps."""
        apps = await self.registry.list_oidc_apps(q=f"{LABEL_PREFIX}/{self.tenant}/")
        by_label: dict[str, list[OidcApp]] = {}
        for app in apps:
            by_label.setdefault(app.label, []).append(app)
        return [await self._one(spec, by_label.get(self.label(spec), [])) for spec in specs]

    async def register(self, spec: PortalSpec) -> PortalOutcome:
        """One portal (HTTP API, `portal_upsert`): looks up its own label."""
        return await self._one(spec, None)

    async def _lookup(self, spec: PortalSpec) -> list[OidcApp]:
        label = self.label(spec)
        return [a for a in await self.registry.list_oidc_apps(q=label) if a.label == label]

    async def _one(self, spec: PortalSpec, listed: list[OidcApp] | None) -> PortalOutcome:
        label = self.label(spec)
        if self.dry_run:
            return await self._preview(spec, listed if listed is not None else await self._lookup(spec))
        before = await self.db.call(
            claim_portal,
            self.db.store,
            tenant=self.tenant,
            name=spec.name,
            idp=self.registry.name,
            label=label,
            base_url=spec.base_url,
            redirect_uris=spec.redirect_uris,
            lease_s=self.lease_s,
        )
        if before is None:
            busy = Reason(code="busy", message="another run is registering this portal; try again shortly")
            return PortalOutcome(self.tenant, spec.name, label, "busy", reason=busy)
        try:
            outcome = await self._ensure(spec, before, listed)
        except ProviderError as exc:
            await self._release(spec, FAILED, error=exc.message)
            log.info("portal %s/%s: %s", self.tenant, spec.name, exc.message)
            reason = Reason(code=exc.code, message=exc.message)
            return PortalOutcome(
                self.tenant, spec.name, label, "failed", before.app_id, before.client_id, reason=reason
            )
        except BaseException:
            await self._release(spec, FAILED, error="interrupted")
            raise
        await self._release(spec, REGISTERED, app_id=outcome.app_id, client_id=outcome.client_id)
        return outcome

    async def _ensure(
        self, spec: PortalSpec, before: PortalRow, listed: list[OidcApp] | None
    ) -> PortalOutcome:
        label = self.label(spec)
        candidates = listed
        # The batch listing may predate a create by another run, or a run may have died between
        # the create and the record: whenever this portal may have an app, look again first.
        if candidates is None or (not candidates and (before.app_id or before.state == REGISTERING)):
            candidates = await self._lookup(spec)
        if not candidates:
            app = await self.registry.create_oidc_app(label, list(spec.redirect_uris), base_url=spec.base_url)
            if self.groups:
                await self.registry.assign_groups(app.id, self.groups)  # else nobody could sign in
            kept = False
            if app.client_secret and self.sink is not None:
                self.sink(self.tenant, spec, app, SecretStr(app.client_secret))
                kept = True
            return PortalOutcome(
                self.tenant, spec.name, label, "created", app.id, app.client_id, secret_kept=kept
            )
        app = next((a for a in candidates if a.id == before.app_id), candidates[0])
        note = (
            f"{len(candidates)} apps carry the label {label!r} at the IdP; using {app.id}, remove the others"
            if len(candidates) > 1
            else None
        )
        status = "unchanged" if before.app_id == app.id else "adopted"
        if set(app.redirect_uris) != set(spec.redirect_uris) or (
            before.app_id == app.id and before.base_url != spec.base_url
        ):
            app = await self.registry.update_oidc_app(
                app.id, list(spec.redirect_uris), base_url=spec.base_url
            )
            status = "updated"
        if status != "unchanged" and self.groups:
            await self.registry.assign_groups(app.id, self.groups)
        return PortalOutcome(self.tenant, spec.name, label, status, app.id, app.client_id, note=note)

    async def _preview(self, spec: PortalSpec, candidates: list[OidcApp]) -> PortalOutcome:
        label = self.label(spec)
        if not candidates:
            return PortalOutcome(self.tenant, spec.name, label, "would_create")
        row = await self.db.call(get_portal, self.db.store, self.tenant, spec.name)
        app = next((a for a in candidates if row is not None and a.id == row.app_id), candidates[0])
        changed = set(app.redirect_uris) != set(spec.redirect_uris) or (
            row is not None and row.app_id == app.id and row.base_url != spec.base_url
        )
        status = (
            "would_update" if changed else ("unchanged" if row and row.app_id == app.id else "would_adopt")
        )
        return PortalOutcome(self.tenant, spec.name, label, status, app.id, app.client_id)

    async def _release(
        self,
        spec: PortalSpec,
        state: str,
        *,
        app_id: str | None = None,
        client_id: str | None = None,
        error: str | None = None,
    ) -> None:
        await self.db.call(
            release_portal,
            self.db.store,
            tenant=self.tenant,
            name=spec.name,
            state=state,
            base_url=spec.base_url,
            redirect_uris=spec.redirect_uris,
            app_id=app_id,
            client_id=client_id,
            error=error,
        )
