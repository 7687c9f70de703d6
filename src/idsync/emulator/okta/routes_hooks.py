"""HTTP handlers of `/api/v1/eventHooks…`: register, verify, activate, deactivate, delete.

Deviation (documented): Okta requires an HTTPS hook URI; the emulator also accepts
`http://127.0.0.1…` and `http://localhost…`, so tests and demos can receive events locally.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.http import ApiRequest, ApiResponse
from idsync.emulator.okta.models import HookRecord
from idsync.emulator.okta.render import hook_json

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator
    from idsync.emulator.okta.org import Org

__all__ = ["ELIGIBLE_EVENT_TYPES", "ROUTES"]

# Hook-eligible event types the emulator can emit or accept (FACTS §7, EVT catalog).
ELIGIBLE_EVENT_TYPES = frozenset(
    {
        "user.lifecycle.create",
        "user.lifecycle.activate",
        "user.lifecycle.deactivate",
        "user.lifecycle.reactivate",
        "user.lifecycle.suspend",
        "user.lifecycle.unsuspend",
        "user.lifecycle.delete.initiated",
        "user.account.update_profile",
        "user.account.lock",
        "group.user_membership.add",
        "group.user_membership.remove",
        "application.user_membership.add",
    }
)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _find(org: Org, hook_id: str) -> HookRecord:
    hook = org.state.hooks.get(hook_id)
    if hook is None:
        raise OktaError.not_found(hook_id, "Webhook")
    return hook


def _check(body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    if not isinstance(body, dict):
        raise OktaError.malformed_body()
    name, events, channel = body.get("name"), body.get("events"), body.get("channel")
    if not isinstance(name, str) or not name.strip():
        raise OktaError.api_validation("name", "name: The field cannot be left blank")
    if not isinstance(events, dict) or events.get("type") != "EVENT_TYPE":
        raise OktaError.api_validation("events", "events: type must be EVENT_TYPE")
    items = events.get("items")
    if not isinstance(items, list) or not items or len(items) > 300:
        raise OktaError.api_validation("events", "events: items must list 1 to 300 event types")
    unknown = [i for i in items if i not in ELIGIBLE_EVENT_TYPES]
    if unknown:
        raise OktaError.api_validation(
            "events", f"events: Event type is not eligible for event hooks: {unknown[0]}"
        )
    if not isinstance(channel, dict) or channel.get("type") != "HTTP" or not channel.get("version"):
        raise OktaError.api_validation("channel", "channel: type must be HTTP and version is required")
    config = channel.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("uri"), str):
        raise OktaError.api_validation("channel", "channel.config.uri: The field cannot be left blank")
    uri = urlsplit(config["uri"])
    if not (uri.scheme == "https" or (uri.scheme == "http" and uri.hostname in _LOCAL_HOSTS)):
        raise OktaError.api_validation("channel", "channel.config.uri: The URI must use HTTPS")
    auth = config.get("authScheme")
    if auth is not None and (not isinstance(auth, dict) or auth.get("type") != "HEADER"):
        raise OktaError.api_validation("channel", "channel.config.authScheme: type must be HEADER")
    return name, copy.deepcopy(events), copy.deepcopy(channel)


async def create(emu: Emulator, req: ApiRequest) -> ApiResponse:
    org = emu.org
    name, events, channel = _check(req.json())
    now = org.now()
    hook = HookRecord(
        id=org.ids.object_id("who"),
        seq=org.state.next_seq(),
        name=name,
        status="ACTIVE",
        verification_status="UNVERIFIED",
        created=now,
        created_by=str(org.state.meta.get("admin_id", "")),
        last_updated=now,
        events=events,
        channel=channel,
    )
    org.state.save_hook(hook)
    return ApiResponse(200, hook_json(hook, req.info.org_url))


async def list_hooks(emu: Emulator, req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, [hook_json(h, req.info.org_url) for h in emu.org.state.hooks.values()])


async def get(emu: Emulator, req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, hook_json(_find(emu.org, req.params["id"]), req.info.org_url))


async def replace(emu: Emulator, req: ApiRequest) -> ApiResponse:
    hook = _find(emu.org, req.params["id"])
    name, events, channel = _check(req.json())
    old_auth = hook.channel.get("config", {}).get("authScheme") or {}
    new_auth = channel["config"].get("authScheme")
    if isinstance(new_auth, dict) and "value" not in new_auth and "value" in old_auth:
        new_auth["value"] = old_auth["value"]  # `value` is write-only: omitted means unchanged
    if channel != hook.channel:
        hook.verification_status = "UNVERIFIED"  # changing the channel requires a new verification (L-EH)
    hook.name, hook.events, hook.channel = name, events, channel
    hook.last_updated = emu.org.now()
    emu.org.state.save_hook(hook)
    return ApiResponse(200, hook_json(hook, req.info.org_url))


async def delete(emu: Emulator, req: ApiRequest) -> ApiResponse:
    hook = _find(emu.org, req.params["id"])
    if hook.status != "INACTIVE":  # "only event hooks with a status of INACTIVE" (L-EH); code UNVERIFIED
        raise OktaError.api_validation("status", "status: Only an INACTIVE event hook can be deleted")
    emu.org.state.remove_hook(hook)
    return ApiResponse(204)


async def lifecycle(emu: Emulator, req: ApiRequest) -> ApiResponse:
    hook = _find(emu.org, req.params["id"])
    op = req.params["op"]
    if op == "verify":
        problem = await emu.hooks.verify(hook)
        if problem is not None:  # 400 per SPEC verifyEventHook; the errorCode is UNVERIFIED
            raise OktaError.api_validation("verification", f"Event hook verification failed: {problem}")
        hook.verification_status = "VERIFIED"
    elif op in ("activate", "deactivate"):
        hook.status = "ACTIVE" if op == "activate" else "INACTIVE"
    else:
        raise OktaError.not_found(req.path, "Operation")
    hook.last_updated = emu.org.now()
    emu.org.state.save_hook(hook)
    return ApiResponse(200, hook_json(hook, req.info.org_url))


ROUTES = [
    ("POST", "/api/v1/eventHooks", create),
    ("GET", "/api/v1/eventHooks", list_hooks),
    ("GET", "/api/v1/eventHooks/{id}", get),
    ("PUT", "/api/v1/eventHooks/{id}", replace),
    ("DELETE", "/api/v1/eventHooks/{id}", delete),
    ("POST", "/api/v1/eventHooks/{id}/lifecycle/{op}", lifecycle),
]
