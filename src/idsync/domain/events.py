"""Okta event-hook deliveries as values: parsing, classification, and the ordering rules.

Okta delivers at least once and possibly out of order (okta/FACTS.md §7). Two rules follow:
- an event is known by its `uuid`: a second delivery of it is a duplicate, never applied twice;
- idsync never applies an event's payload; it fetches the user's *current* state from Okta. So
  an old event can never overwrite newer data, and an event published before the state idsync
  last fetched for that user is already reflected (`superseded`) and costs no API call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MEMBERSHIP_EVENTS",
    "SUBSCRIBED_EVENTS",
    "USER_EVENTS",
    "EventRow",
    "okta_time",
    "parse_delivery",
    "parse_okta_time",
    "superseded",
]

USER_EVENTS = frozenset(
    {
        "user.lifecycle.create",
        "user.lifecycle.activate",
        "user.lifecycle.deactivate",
        "user.lifecycle.reactivate",
        "user.lifecycle.suspend",
        "user.lifecycle.unsuspend",
        "user.lifecycle.delete.initiated",
        "user.account.update_profile",
    }
)
MEMBERSHIP_EVENTS = frozenset({"group.user_membership.add", "group.user_membership.remove"})
# What idsync subscribes its event hook to (all hook-eligible per Okta's event-type catalog).
SUBSCRIBED_EVENTS = tuple(sorted(USER_EVENTS | MEMBERSHIP_EVENTS))
# Creating a user may put them in groups without membership events (`groupIds` at creation).
FETCH_GROUPS_ON = frozenset({"user.lifecycle.create", "user.lifecycle.reactivate"})


class DeliveryError(ValueError):
    """The body is not an Okta event-hook delivery."""


@dataclass(frozen=True)
class EventRow:
    uuid: str
    event_type: str
    published: str
    published_ts: float  # 0.0: Okta's `published` was missing or not a timestamp
    okta_user_id: str | None = None
    login: str | None = None
    group_id: str | None = None
    group_name: str | None = None

    @property
    def is_user_event(self) -> bool:
        return self.event_type in USER_EVENTS

    @property
    def is_membership_event(self) -> bool:
        return self.event_type in MEMBERSHIP_EVENTS


def parse_okta_time(value: str | None) -> float | None:
    """Okta's timestamps (`2024-05-01T12:00:00.000Z`) as epoch seconds; None when absent/invalid."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def okta_time(ts: float) -> str:
    """Epoch seconds in Okta's timestamp format (milliseconds, `Z`), as filters expect it."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_delivery(body: Any) -> tuple[str | None, list[EventRow]]:
    """(delivery eventId, events) of a delivery; raises `DeliveryError` when it is not one."""
    if not isinstance(body, Mapping):
        raise DeliveryError("body is not a JSON object")
    data = body.get("data")
    items = data.get("events") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise DeliveryError("no data.events array")
    rows = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("uuid"), str):
            raise DeliveryError("an event has no uuid")
        rows.append(_row(item))
    delivery_id = body.get("eventId")
    return (delivery_id if isinstance(delivery_id, str) else None), rows


def _row(item: Mapping[str, Any]) -> EventRow:
    published = str(item.get("published") or "")
    user: Mapping[str, Any] = {}
    group: Mapping[str, Any] = {}
    for target in item.get("target") or []:
        if not isinstance(target, Mapping):
            continue
        if target.get("type") == "User" and not user:
            user = target
        elif target.get("type") == "UserGroup" and not group:
            group = target
    return EventRow(
        uuid=str(item["uuid"]),
        event_type=str(item.get("eventType") or ""),
        published=published,
        published_ts=parse_okta_time(published) or 0.0,
        okta_user_id=_str(user.get("id")),
        login=_str(user.get("alternateId")),
        group_id=_str(group.get("id")),
        group_name=_str(group.get("displayName") or group.get("alternateId")),
    )


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def superseded(event: EventRow, profile_wm: float | None, roles_wm: float | None) -> bool:
    """True when the state idsync last fetched for the user already reflects this event.

    The watermarks are Okta timestamps: everything published before them had happened when
    idsync fetched the state it applied. Strictly before: two changes in the same millisecond
    are not told apart, so an event at the watermark itself is processed again (harmless).
    """
    if event.published_ts <= 0:  # no usable `published`: never assume it is reflected
        return False
    if event.is_membership_event:
        return roles_wm is not None and event.published_ts < roles_wm
    if event.is_user_event:
        return profile_wm is not None and event.published_ts < profile_wm
    return False
