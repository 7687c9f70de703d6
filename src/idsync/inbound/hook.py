"""Registering idsync's event hook at Okta: idempotent create-or-update, activate, verify.

Okta keeps the shared secret write-only, so idsync cannot tell whether a hook it finds has the
current secret: it always replaces the hook's channel, which makes Okta verify it again.
"""

from __future__ import annotations

from typing import Any

from idsync.domain.events import SUBSCRIBED_EVENTS
from idsync.inbound.context import Context

__all__ = ["register_event_hook"]


async def register_event_hook(ctx: Context, known_id: str | None, uri: str, secret: str) -> dict[str, Any]:
    """The hook found by its stored id, else by its URI, else a new one; returns its state."""
    hooks = await ctx.okta.list_event_hooks()
    hook_id = known_id if known_id in {h["id"] for h in hooks} else None
    if hook_id is None:
        hook_id = next((h["id"] for h in hooks if _uri(h) == uri), None)
    hook = await ctx.okta.put_event_hook(
        hook_id, name=f"idsync {ctx.name}", uri=uri, events=SUBSCRIBED_EVENTS, secret=secret
    )
    await ctx.db.call(ctx.links.set_hook, ctx.name, hook["id"])
    if hook.get("status") != "ACTIVE":
        hook = await ctx.okta.hook_lifecycle(hook["id"], "activate")
    hook = await ctx.okta.hook_lifecycle(hook["id"], "verify")  # Okta calls `uri` now
    return {
        "id": hook["id"],
        "uri": uri,
        "status": hook.get("status"),
        "verificationStatus": hook.get("verificationStatus"),
        "events": list(SUBSCRIBED_EVENTS),
    }


def _uri(hook: dict[str, Any]) -> Any:
    return ((hook.get("channel") or {}).get("config") or {}).get("uri")
