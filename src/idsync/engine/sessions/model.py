"""What the session pipeline's parts share: its options, a user in it, the sessions it fills and
watches, and what it asks of the worker (`Hooks`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from idsync.domain.links import Link
from idsync.domain.models import Reason, Status
from idsync.domain.planner import Plan
from idsync.domain.policy import TenantPolicy
from idsync.domain.records import ClaimedUser
from idsync.domain.sessions import EntryKind, ReadResult, SessionEntry, SessionRecord
from idsync.engine.apply import Applied
from idsync.ports import IdentityProvider

__all__ = ["Entry", "Flight", "Hooks", "Open", "SessionOptions"]


@dataclass(frozen=True)
class SessionOptions:
    """How one IdP's identity source is driven (config: `[idps.X] identity_source`)."""

    fallback: Literal["error", "standard"] = "error"
    poll_s: float = 5.0  # a triggered session is read this often
    fill_wait_s: float = 2.0  # no new user for this long: the partial session is started
    max_fill_s: float = 60.0  # a session filling this long is started with what it has
    uploads_per_session: int = 50
    session_gap_s: float = 300.0  # Okta: no new session within 5 minutes of an active one
    # How far Okta's user lists may lag behind its writes ("typically less than one second"): a read
    # of a running session's users lists again the accounts changed this long before the last seen.
    list_lag_s: float = 5.0
    read_while_running: bool = True  # the import's last session: read its users as Okta writes them
    lease_s: float = 30.0  # the source lease (one instance drives a source)
    max_waiting: int = 10_000  # users taken but not uploaded yet (a session's worth)
    max_session_attempts: int = 3  # a change retried this often takes the per-user path
    fallback_concurrency: int = 8  # users handed to the per-user path at once


@dataclass
class Entry:
    """A claimed user whose next step goes through a session."""

    user: ClaimedUser
    link: Link  # as the plan saw it (a new user: a link without an account)
    policy: TenantPolicy
    plan: Plan
    kind: EntryKind
    profile: Mapping[str, Any]  # the IdP profile
    source: Mapping[str, str]  # the identity source's form of it
    external_id: str
    login: str
    stale: bool = False  # re-attached after a crash with newer changes: settled, then requeued

    def stored(self, session_id: str, upload: int) -> SessionEntry:
        u = self.user
        return SessionEntry(
            session_id=session_id,
            user_key=u.user_key,
            tenant=u.tenant,
            source=u.source,
            key=u.key,
            external_id=self.external_id,
            login=self.login,
            kind=self.kind,
            profile=dict(self.profile),
            profile_hash=self.plan.profile_hash or "",
            upload=upload,
            idp_id=self.link.idp_id if self.kind is EntryKind.UPDATE else None,
        )


@dataclass
class Open:
    """The session being filled (CREATED at the IdP)."""

    record: SessionRecord
    opened_at: float
    uploads: int = 0
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Flight:
    """A triggered session: its users that are claimed here, by user key, waiting for the result."""

    record: SessionRecord
    entries: dict[str, Entry] = field(default_factory=dict)
    read: bool = False  # results recorded: a user attached from now on is settled at once
    # results of users read back while Okta still processed it (`read.py`, early reads)
    early: list[tuple[str, ReadResult, str | None, str | None]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class Hooks(Protocol):
    """What the pipeline asks of the worker that claimed the users."""

    async def finish(
        self,
        user: ClaimedUser,
        status: Status,
        idp_id: str | None,
        reason: Reason | None,
        link: Link | None,
        activation_url: str | None = None,
    ) -> None:
        """Record the result of every change of the user, with the link; release the user."""
        ...

    def count_calls(self, import_id: str, calls: int) -> None:
        """IdP calls a session made (open, uploads, start, polls, read-back) for an import."""
        ...

    async def requeue(
        self, user: ClaimedUser, link: Link | None, *, count_attempt: bool, delay_s: float = 0.0
    ) -> None:
        """Give the user back to the queue (its changes run again), with the link as it is now."""
        ...

    async def per_user(self, user: ClaimedUser, link: Link | None) -> None:
        """Carry the user's changes out on the per-user path now, from `link`."""
        ...

    async def run_plan(
        self, plan: Plan, link: Link, idp: IdentityProvider, policy: TenantPolicy
    ) -> Applied: ...
