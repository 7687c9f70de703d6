"""Identity sources ("Anything-as-a-Source") and their import sessions: records and session rules.

Okta's rules (developer guide "Build an Anything-as-a-Source custom client integration", spec
tag IdentitySource): a session is CREATED, takes at most 50 bulk uploads, is TRIGGERED by
start-import and ends COMPLETED or ERROR; only one CREATED session per source; no new session
within five minutes of an active one; a CREATED session expires after 24 h without requests and
is CLOSED (its data dropped) by DELETE. Durations are Okta time: multiplied by `time_scale`.

Why apart from HTTP and from processing: every rule here is a method on plain records, so the
handlers only parse requests and `idsources_import` only applies queued operations to users.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from idsync.emulator.okta.clock import iso_timestamp
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.journal import Journal
from idsync.emulator.okta.models import from_doc, to_doc
from idsync.emulator.okta.org import Org, RequestInfo

__all__ = [
    "CREATE_GAP_S",
    "MAX_UPLOADS",
    "SESSION_IDLE_S",
    "IdentitySourceRecord",
    "IdentitySources",
    "ImportOp",
    "ImportSession",
    "SourceLink",
    "session_json",
]

SESSION_IDLE_S = 24 * 3600.0
"""A CREATED session without requests for this long is EXPIRED (guide)."""
CREATE_GAP_S = 5 * 60.0
"""No new session within this long of an active one (guide: "less than five minutes")."""
MAX_UPLOADS = 50
"""Bulk-load requests per session (guide)."""


def _rule(text: str) -> OktaError:
    """400 E0000001 for a broken session rule; Okta documents the status, not the texts (UNVERIFIED)."""
    return OktaError(400, "E0000001", f"Api validation failed: {text}", (text,))


@dataclass(slots=True)
class IdentitySourceRecord:
    id: str
    name: str
    created: float
    match_by_login: bool = False
    """Link a new externalId to an unlinked user with the same login (Okta: a matching rule set
    in the Admin Console); otherwise such a record fails as a duplicate login."""


@dataclass(slots=True)
class SourceLink:
    """An Okta user imported from (mastered by) an identity source, known there by `external_id`."""

    source_id: str
    external_id: str
    user_id: str
    mastered: list[str] = field(default_factory=list)
    """Okta profile attributes the source has sent for this user (sorted)."""


@dataclass(frozen=True, slots=True)
class ImportOp:
    kind: Literal["upsert", "delete"]
    external_id: str
    profile: dict[str, Any] | None = None


@dataclass(slots=True)
class ImportSession:
    id: str
    source_id: str
    created: float
    status: str = "CREATED"
    last_updated: float = 0.0
    last_request: float = 0.0
    uploads: int = 0
    ops: list[ImportOp] = field(default_factory=list)
    triggered_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    processed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    info: RequestInfo | None = None
    """The start-import request, for the events that processing emits."""

    @property
    def active(self) -> bool:
        return self.status in ("CREATED", "TRIGGERED")

    def set_status(self, status: str, when: float) -> None:
        self.status, self.last_updated = status, when

    def admin_json(self) -> dict[str, Any]:
        def ts(value: float | None) -> str | None:
            return None if value is None else iso_timestamp(value)

        return {
            "id": self.id,
            "status": self.status,
            "uploads": self.uploads,
            "upserts": sum(1 for op in self.ops if op.kind == "upsert"),
            "deletes": sum(1 for op in self.ops if op.kind == "delete"),
            "processed": self.processed,
            "counts": dict(self.counts),
            "failures": list(self.failures),
            "created": ts(self.created),
            "triggered": ts(self.triggered_at),
            "started": ts(self.started_at),
            "finished": ts(self.finished_at),
        }


def session_json(session: ImportSession) -> dict[str, Any]:
    """The spec's `IdentitySourceSession`."""
    return {
        "id": session.id,
        "identitySourceId": session.source_id,
        "status": session.status,
        "importType": "INCREMENTAL",
        "created": iso_timestamp(session.created),
        "lastUpdated": iso_timestamp(session.last_updated),
    }


class IdentitySources:
    """The org's identity sources, their links to users and their import sessions."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.scale = org.settings.time_scale
        self.sources: dict[str, IdentitySourceRecord] = {}
        self.links: dict[str, dict[str, SourceLink]] = {}
        """Source id → externalId → link."""
        self.by_user: dict[str, SourceLink] = {}
        self.sessions: dict[str, ImportSession] = {}
        self.queues: dict[str, deque[ImportSession]] = {}
        """Triggered sessions of each source in trigger order; the head is being processed."""
        self.free_at: dict[str, float] = {}
        """When each source finished its last session (the next one starts no earlier)."""

    @property
    def journal(self) -> Journal:
        return self.org.state.journal

    # --- persistence -------------------------------------------------------------------------

    def load(self) -> None:
        """Sources and links from the state file (sessions are not kept, like rate-limit windows)."""
        self.clear()
        for kind, _key, doc in self.journal.load(("identity_source", "identity_source_link")):
            if kind == "identity_source":
                source = from_doc(IdentitySourceRecord, doc)
                self.sources[source.id] = source
                self.links.setdefault(source.id, {})
            elif kind == "identity_source_link":
                self._index_link(from_doc(SourceLink, doc))

    def clear(self) -> None:
        self.sources.clear()
        self.links.clear()
        self.by_user.clear()
        self.sessions.clear()
        self.queues.clear()
        self.free_at.clear()

    def _index_link(self, link: SourceLink) -> None:
        self.links.setdefault(link.source_id, {})[link.external_id] = link
        self.by_user[link.user_id] = link

    def save_link(self, link: SourceLink) -> None:
        self._index_link(link)
        self.journal.put("identity_source_link", f"{link.source_id}:{link.external_id}", to_doc(link))

    def drop_link(self, link: SourceLink) -> None:
        self.links.get(link.source_id, {}).pop(link.external_id, None)
        if self.by_user.get(link.user_id) is link:
            del self.by_user[link.user_id]
        self.journal.delete("identity_source_link", f"{link.source_id}:{link.external_id}")

    # --- sources -----------------------------------------------------------------------------

    def create_source(self, name: str, *, match_by_login: bool = False) -> IdentitySourceRecord:
        """A Custom Identity Source app integration (its id is an app id, `0oa…`)."""
        source = IdentitySourceRecord(self.org.ids.object_id("0oa"), name, self.org.now(), match_by_login)
        self.sources[source.id] = source
        self.links.setdefault(source.id, {})
        with self.journal.batch():
            self.journal.put("identity_source", source.id, to_doc(source))
        return source

    def source(self, source_id: str) -> IdentitySourceRecord:
        source = self.sources.get(source_id)
        if source is None:
            raise OktaError.not_found(source_id, "IdentitySource")
        return source

    # --- sessions ------------------------------------------------------------------------------

    def _expire(self, source_id: str, now: float) -> None:
        idle = SESSION_IDLE_S * self.scale
        for session in self.sessions.values():
            stale = now >= session.last_request + idle
            if session.source_id == source_id and session.status == "CREATED" and stale:
                session.set_status("EXPIRED", session.last_request + idle)
                session.ops.clear()

    def list_sessions(self, source_id: str, now: float) -> list[ImportSession]:
        self.source(source_id)
        self._expire(source_id, now)
        return [s for s in self.sessions.values() if s.source_id == source_id]

    def create_session(self, source_id: str, now: float) -> ImportSession:
        """A new CREATED session, unless one is CREATED or an active one (CREATED or TRIGGERED,
        Okta Workflows "List Import Sessions") was created under 5 minutes ago: Okta's text is
        "allowed to be created every 5 minutes", counted from the creation, not the start (a
        deleted session no longer counts: the Terraform provider deletes a failed one so a re-apply
        is not blocked)."""
        for session in self.list_sessions(source_id, now):
            if session.status == "CREATED":
                raise _rule(
                    "There can only be one identity source session in the CREATED status "
                    f"for an identity source: {session.id}"
                )
        gap = CREATE_GAP_S * self.scale
        for session in self.sessions.values():
            recent = now < session.created + gap
            if session.source_id == source_id and session.status == "TRIGGERED" and recent:
                # Text as quoted from Okta by the Terraform provider's docs (okta_identity_source_import).
                raise _rule(
                    "Only one active import session per identity source is allowed to be created "
                    "every 5 minutes"
                )
        session = ImportSession(
            self.org.ids.object_id("aps"), source_id, now, last_updated=now, last_request=now
        )
        self.sessions[session.id] = session
        return session

    def session(self, source_id: str, session_id: str, now: float) -> ImportSession:
        """The session (a request on it keeps a CREATED session alive), or Okta's 404."""
        self.source(source_id)
        session = self.sessions.get(session_id)
        if session is None or session.source_id != source_id:
            raise OktaError.not_found(session_id, "IdentitySourceSession")
        self._expire(source_id, now)
        session.last_request = now
        return session

    def delete_session(self, session: ImportSession, now: float) -> None:
        """Cancel a CREATED session: CLOSED, its uploaded data dropped."""
        if session.status != "CREATED":
            raise _rule(
                "You can only cancel identity source sessions in the CREATED status; "
                f"this one is {session.status}"
            )
        session.set_status("CLOSED", now)
        session.ops.clear()

    def check_loadable(self, session: ImportSession) -> None:
        """Raise Okta's 400 unless `session` takes another bulk upload."""
        if session.status != "CREATED":
            raise _rule(
                f"You can only load data to an identity source session in the CREATED status; this one is "
                f"{session.status}"
            )
        if session.uploads >= MAX_UPLOADS:
            raise _rule(f"The maximum number of bulk-load requests for a session is {MAX_UPLOADS}")

    def add_upload(self, session: ImportSession, ops: list[ImportOp]) -> None:
        self.check_loadable(session)
        session.uploads += 1
        session.ops.extend(ops)

    def trigger(self, session: ImportSession, now: float, info: RequestInfo) -> None:
        """start-import: TRIGGERED, queued behind the source's other triggered sessions."""
        if session.status != "CREATED":
            raise _rule(
                "The identity source session was already triggered and doesn't have the CREATED status: "
                f"{session.status}"
            )
        session.set_status("TRIGGERED", now)
        session.triggered_at, session.info = now, info
        self.queues.setdefault(session.source_id, deque()).append(session)

    def admin_json(self, source: IdentitySourceRecord) -> dict[str, Any]:
        links = self.links.get(source.id, {})
        return {
            "id": source.id,
            "name": source.name,
            "created": iso_timestamp(source.created),
            "matchByLogin": source.match_by_login,
            "users": {ext: link.user_id for ext, link in links.items()},
            "sessions": [s.admin_json() for s in self.sessions.values() if s.source_id == source.id],
        }
