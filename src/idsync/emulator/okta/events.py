"""System Log events of the org and their event-hook delivery payload (FACTS §7, EH-CONCEPT).

Why values: the API handlers only say *what happened* (`OrgEvent`); the hook dispatcher decides
who hears of it and when, so no API call ever waits for a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from idsync.emulator.okta.clock import iso_timestamp
from idsync.emulator.okta.lifecycle import EVENT_MESSAGES
from idsync.emulator.okta.models import GroupRecord, UserRecord

__all__ = ["EventSink", "NullSink", "OrgEvent", "delivery_payload", "group_target", "user_target"]


@dataclass(frozen=True)
class OrgEvent:
    event_type: str
    targets: tuple[dict[str, Any], ...]
    published: float
    uuid: str
    org_url: str = ""
    request_id: str = ""
    request_uri: str = ""
    client_ip: str = "127.0.0.1"
    user_agent: str = ""
    changed: dict[str, Any] = field(default_factory=dict)


class EventSink(Protocol):
    def emit(self, event: OrgEvent) -> None: ...


class NullSink:
    def emit(self, event: OrgEvent) -> None:
        pass


def user_target(user: UserRecord) -> dict[str, Any]:
    first, last = user.profile.get("firstName"), user.profile.get("lastName")
    display = " ".join(str(p) for p in (first, last) if p) or user.login
    return {
        "id": user.id,
        "type": "User",
        "alternateId": user.login,
        "displayName": display,
        "detailEntry": None,
    }


def group_target(group: GroupRecord) -> dict[str, Any]:
    name = group.profile.get("name")
    return {
        "id": group.id,
        "type": "UserGroup",
        "alternateId": name,
        "displayName": name,
        "detailEntry": None,
    }


def log_event(event: OrgEvent, actor: dict[str, Any]) -> dict[str, Any]:
    """The System Log `LogEvent` of one event (the element of `data.events`)."""
    return {
        "uuid": event.uuid,
        "published": iso_timestamp(event.published)[:-4] + f"{int(event.published * 1000) % 1000:03d}Z",
        "eventType": event.event_type,
        "version": "0",
        "displayMessage": EVENT_MESSAGES.get(event.event_type, event.event_type),
        "severity": "INFO",
        "client": {
            "userAgent": {"rawUserAgent": event.user_agent, "os": "Unknown", "browser": "UNKNOWN"},
            "zone": "null",
            "device": "Unknown",
            "id": None,
            "ipAddress": event.client_ip,
            "geographicalContext": None,
        },
        "device": None,
        "actor": actor,
        "outcome": {"result": "SUCCESS", "reason": None},
        "target": list(event.targets),
        "transaction": {"type": "WEB", "id": event.request_id, "detail": {}},
        "debugContext": {
            "debugData": {
                "requestId": event.request_id,
                "requestUri": event.request_uri,
                "url": event.request_uri,
            }
        },
        "legacyEventType": None,
        "authenticationContext": {
            "authenticationProvider": None,
            "credentialProvider": None,
            "credentialType": None,
            "issuer": None,
            "authenticationStep": 0,
            "externalSessionId": "unknown",
            "interface": None,
        },
        "securityContext": {"asNumber": None, "asOrg": None, "isp": None, "domain": None, "isProxy": None},
        "insertionTimestamp": None,
    }


def delivery_payload(
    events: list[OrgEvent], hook_id: str, org_url: str, event_id: str, now: float, actor: dict[str, Any]
) -> dict[str, Any]:
    """The body of one POST to a hook: Okta's CloudEvents envelope around the LogEvents."""
    return {
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": f"{org_url}/api/v1/eventHooks/{hook_id}",
        "eventId": event_id,
        "eventTime": iso_timestamp(now),
        "contentType": "application/json",
        "data": {"events": [log_event(e, actor) for e in events]},
    }
