"""The `portal_upsert` message: a new (or changed) portal, registered at the tenant's IdP at once.

The change-message contract (DESIGN.md) carries users; portals get their own op, accepted as the
body of `POST /portals` and as a Kafka value, and answered with a result of the same shape:

    {"op": "portal_upsert", "tenant": "efs-prod", "message_id": "p-7",
     "portal": {"name": "panel-de", "base_url": "https://panel.example.de",
                "redirect_uris": ["https://panel.example.de/oidc/callback"]}}

    {"op": "portal_upsert", "tenant": "efs-prod", "portal": "panel-de", "message_id": "p-7",
     "status": "created", "app_id": "0oa...", "client_id": "0oa...", "label": "idsync/efs-prod/panel-de",
     "reason": null, "note": null}

`status`: created, adopted (an app with the portal's label existed), updated (new redirect URIs),
unchanged, failed (with `reason` {code, message}) or busy (another run holds the portal; retry).
The client secret is never part of a result: only the HTTP API hands it, once, to a caller
that asks (`?return_secret=true`); Kafka results never carry it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from idsync.domain.models import Identifier, Lane, Reason, validation_reason
from idsync.lifecycle.portals import PortalSpec, portal_label
from idsync.lifecycle.registry import PortalRegistrar, SecretSink
from idsync.ports import OidcAppRegistry

if TYPE_CHECKING:
    from idsync.runtime import Runtime

__all__ = ["PORTAL_UPSERT", "PortalUpsert", "PortalUpsertResult", "handle_portal_upsert", "is_portal_message"]

PORTAL_UPSERT = "portal_upsert"


class PortalUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["portal_upsert"] = "portal_upsert"
    tenant: Identifier
    portal: PortalSpec
    message_id: Annotated[str, Field(max_length=200)] | None = None


class PortalUpsertResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    op: Literal["portal_upsert"] = "portal_upsert"
    tenant: str | None = None
    portal: str | None = None
    message_id: str | None = None
    status: str
    app_id: str | None = None
    client_id: str | None = None
    label: str | None = None
    reason: Reason | None = None
    note: str | None = None


def is_portal_message(message: Mapping[str, Any]) -> bool:
    """True for a `portal_upsert` message (what a transport routes to `handle_portal_upsert`)."""
    return message.get("op") == PORTAL_UPSERT


def _failed(data: Mapping[str, Any], code: str, message: str) -> PortalUpsertResult:
    portal = data.get("portal")
    return PortalUpsertResult(
        tenant=str(data.get("tenant"))[:100] if data.get("tenant") is not None else None,
        portal=str(portal.get("name"))[:100] if isinstance(portal, Mapping) and portal.get("name") else None,
        message_id=str(data.get("message_id"))[:200] if data.get("message_id") is not None else None,
        status="failed",
        reason=Reason(code=code, message=message),
    )


async def handle_portal_upsert(
    runtime: Runtime, message: Mapping[str, Any] | str | bytes, *, sink: SecretSink | None = None
) -> PortalUpsertResult:
    """Register one portal at its tenant's IdP (idempotently); never raises for a bad message or
    an IdP error: the result says `failed` and why. `sink` receives a new app's secret (HTTP only)."""
    if isinstance(message, str | bytes):
        try:
            decoded = json.loads(message)
        except ValueError as exc:
            return _failed({}, "invalid", f"message: is not valid JSON ({exc})")
        if not isinstance(decoded, dict):
            return _failed({}, "invalid", "message: must be a JSON object")
        message = decoded
    try:
        upsert = PortalUpsert.model_validate(dict(message))
    except ValidationError as exc:
        reason = validation_reason(exc)
        return _failed(message, reason.code, reason.message)
    policy = runtime.settings.policy(upsert.tenant)
    if policy is None:
        return _failed(message, "unknown_tenant", f"tenant: {upsert.tenant!r} is not configured")
    idp = runtime.idps.get(policy.idp)
    if not isinstance(idp, OidcAppRegistry):
        return _failed(message, "unsupported", f"IdP {policy.idp!r} cannot register OpenID Connect apps")
    tenant_settings = runtime.settings.tenant(upsert.tenant)
    groups = tenant_settings.portal_groups if tenant_settings else ["Everyone"]
    one = idp.for_lane(Lane.INTERACTIVE)  # one portal: ahead of bulk work
    assert isinstance(one, OidcAppRegistry)
    registrar = PortalRegistrar(runtime.db, one, upsert.tenant, sink=sink, groups=groups)
    outcome = await registrar.register(upsert.portal)
    return PortalUpsertResult(
        tenant=upsert.tenant,
        portal=upsert.portal.name,
        message_id=upsert.message_id,
        status=outcome.status,
        app_id=outcome.app_id,
        client_id=outcome.client_id,
        label=portal_label(upsert.tenant, upsert.portal.name),
        reason=outcome.reason,
        note=outcome.note,
    )
