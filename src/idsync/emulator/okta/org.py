"""The emulated org: its state plus what every operation needs (clock, ids, events, counters).

Why a small container: services take one `Org` instead of six arguments, and tests can build
one with a `ManualClock`, a seeded `IdFactory` and an in-memory journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from idsync.emulator.okta.clock import Clock
from idsync.emulator.okta.events import EventSink, NullSink, OrgEvent
from idsync.emulator.okta.ids import IdFactory
from idsync.emulator.okta.models import GroupRecord, OutboxEntry, UserRecord
from idsync.emulator.okta.settings import EmulatorSettings
from idsync.emulator.okta.state import OrgState

__all__ = ["Org", "RequestInfo"]


@dataclass(frozen=True)
class RequestInfo:
    """What an operation needs to know of the request that caused it."""

    org_url: str
    request_id: str = ""
    request_uri: str = ""
    client_ip: str = "127.0.0.1"
    user_agent: str = ""


@dataclass
class Org:
    settings: EmulatorSettings
    clock: Clock
    ids: IdFactory
    state: OrgState
    events: EventSink = field(default_factory=NullSink)
    counters: dict[str, int] = field(default_factory=dict)
    """Business counters for /__emulator/stats (e.g. duplicate_login_rejections)."""

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def now(self) -> float:
        return self.clock.now()

    def ensure_defaults(self) -> None:
        """Create what every Okta org has: a user type, a schema, the admin and `Everyone`."""
        state = self.state
        with state.journal.batch():
            for key, prefix in (
                ("type_id", "oty"),
                ("schema_id", "osc"),
                ("admin_id", "00u"),
                ("org_id", "00o"),
                ("enrollment_policy_id", "rst"),
                ("access_policy_id", "rst"),
            ):
                if key not in state.meta:
                    state.set_meta(key, self.ids.object_id(prefix))
            if "everyone_id" not in state.meta or state.meta["everyone_id"] not in state.groups:
                now = self.now()
                everyone = GroupRecord(
                    id=self.ids.object_id("00g"),
                    seq=state.next_seq(),
                    type="BUILT_IN",
                    created=now,
                    last_updated=now,
                    last_membership_updated=now,
                    profile={"name": "Everyone", "description": "All users in your organization"},
                )
                state.save_group(everyone)
                state.set_meta("everyone_id", everyone.id)

    @property
    def everyone_id(self) -> str:
        return str(self.state.meta["everyone_id"])

    @property
    def actor(self) -> dict[str, Any]:
        """The System Log actor of API-token calls: the (emulated) admin who made the token."""
        return {
            "id": self.state.meta.get("admin_id", ""),
            "type": "User",
            "alternateId": "admin@emulator.idsync.invalid",
            "displayName": "Emulator Admin",
            "detailEntry": None,
        }

    def emit(self, event_type: str, info: RequestInfo, *targets: dict[str, Any], **changed: Any) -> None:
        self.events.emit(
            OrgEvent(
                event_type=event_type,
                targets=targets,
                published=self.now(),
                uuid=self.ids.uuid(),
                org_url=info.org_url,
                request_id=info.request_id,
                request_uri=info.request_uri,
                client_ip=info.client_ip,
                user_agent=info.user_agent,
                changed=changed,
            )
        )

    def activation_url(self, org_url: str, token: str) -> str:
        if self.settings.activation_url_style == "classic":
            return f"{org_url}/welcome/{token}"
        return f"{org_url}/tokens/{token}/verify"

    def _send(self, user: UserRecord, kind: str, url: str, token: str | None = None) -> None:
        """Put an e-mail to the user in the outbox (the emulator keeps what Okta would send)."""
        self.state.add_outbox(
            OutboxEntry(
                id=self.ids.object_id("eml"),
                seq=self.state.next_seq(),
                kind=kind,
                to=user.email or user.login,
                user_id=user.id,
                login=user.login,
                sent_at=self.now(),
                activation_url=url,
                activation_token=token,
            )
        )

    def password_reset_email(self, user: UserRecord, url: str) -> None:
        """Put the e-mail of a forgotten-password request in the outbox."""
        self._send(user, "password_reset", url)

    def new_activation(self, user: UserRecord, info: RequestInfo, *, send_email: bool) -> tuple[str, str]:
        """Issue a fresh activation token; with `send_email` put the e-mail in the outbox."""
        token = self.ids.token()
        url = self.activation_url(info.org_url, token)
        user.activation_token = token
        if send_email:
            user.activation_emails += 1
            self._send(user, "activation", url, token)
        return url, token
