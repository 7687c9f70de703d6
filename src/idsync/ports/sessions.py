"""Okta identity-source import sessions: the IdP side (`ImportSessions`) and their state in the
store (`SessionStore`), so a crash resumes a session instead of replaying it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from idsync.domain.links import Link
from idsync.domain.sessions import ReadResult, SessionEntry, SessionRecord, SessionState
from idsync.ports.idp import IdpUser

__all__ = ["ImportSessions", "ReadBack", "SessionStore", "SourceSession"]


@dataclass(frozen=True)
class SourceSession:
    """An import session as the IdP shows it."""

    id: str
    status: str  # Okta: CREATED, TRIGGERED, IN_PROGRESS, COMPLETED, ERROR, CLOSED, EXPIRED
    created: str  # ISO 8601, the IdP's clock
    last_updated: str = ""  # the last change of status (start-import: when it was triggered)


@dataclass(frozen=True)
class ReadBack:
    """An account found when a session's users are read back, with its creation time."""

    user: IdpUser
    created: str | None  # ISO 8601, the IdP's clock
    last_updated: str | None = None


class ImportSessions(Protocol):
    """Bulk import sessions of one IdP (Okta: an identity source), through the IdP's governed
    bulk-lane client. The IdP gives no per-user results: `read_back` finds the accounts after."""

    name: str  # the IdP's name
    source_id: str
    max_profiles: int  # per upload (and `max_bytes` per upload body, `max_uploads` per session)
    max_bytes: int
    max_uploads: int

    def upload_size(self, external_id: str, profile: Mapping[str, str]) -> int:
        """Bytes one profile adds to an upload body."""
        ...

    async def create_session(self) -> SourceSession:
        """A new session; `InvalidRequest` while the IdP's session rules refuse one."""
        ...

    async def get_session(self, session_id: str) -> SourceSession | None: ...

    async def list_sessions(self) -> list[SourceSession]: ...

    async def delete_session(self, session_id: str) -> None:
        """Cancel a session that was not started (its uploads are dropped)."""
        ...

    async def upload(self, session_id: str, profiles: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """Upsert (externalId, source profile) pairs into the session."""
        ...

    async def start_import(self, session_id: str) -> SourceSession: ...

    async def read_changed(
        self, logins: Collection[str], since: str, *, max_pages: int
    ) -> tuple[dict[str, ReadBack], str] | None:
        """While a session runs: these logins among the accounts changed since `since`, by
        `login_key`, and the latest change seen. None when more than `max_pages` pages changed
        (the org is busy with other writes: the read after the session does it all)."""
        ...

    async def read_back(self, logins: Sequence[str], since: str) -> dict[str, ReadBack]:
        """The accounts holding these logins, by `login_key` (missing logins are left out).
        `since` (the IdP's timestamp of the session's start) lets the IdP list the accounts the
        session touched in pages rather than look each login up."""
        ...


class SessionStore(Protocol):
    """Write-ahead state of import sessions: which user went into which upload, what reading them
    back showed, whose accounts a source masters, which instance drives a source (`take_source`:
    hold or renew that right; False while another instance does)."""

    async def take_source(self, idp: str, owner: str, *, lease_s: float, now: float) -> bool: ...

    async def sessions(self, idp: str, states: Sequence[SessionState]) -> list[SessionRecord]: ...

    async def save_session(self, record: SessionRecord) -> None: ...

    async def add_upload(self, idp: str, entries: Sequence[SessionEntry], links: Sequence[Link]) -> None:
        """One transaction: an upload's entries, their links' write-ahead intents, the count."""
        ...

    async def entries(self, session_id: str) -> list[SessionEntry]: ...

    async def live_entries(self, idp: str, user_keys: Sequence[str]) -> dict[str, SessionEntry]: ...

    async def record(
        self,
        idp: str,
        session_id: str,
        results: Sequence[tuple[str, ReadResult, str | None, str | None]],
        *,
        final: bool = True,
    ) -> None:
        """(user key, result, account id, status) per entry; linked and updated users become the
        source's (`mastered`). `final`: the session is READ (else it still runs: results of users
        read back early)."""
        ...

    async def forget(self, session_id: str, user_keys: Sequence[str]) -> None:
        """Entries done with (or refused by the IdP); a READ session with none left is closed."""
        ...

    async def abandon(self, idp: str, session_id: str, *, never_started: bool) -> None:
        """Drop the session's entries; `never_started`: clear its creates' write-ahead intents."""
        ...

    async def mastered(self, idp: str, user_keys: Sequence[str]) -> set[str]: ...
