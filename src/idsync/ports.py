"""The ports the engine talks to. Adapters implement them; the engine knows nothing else.

`IdentityProvider` is the connector contract: every connector passes the same conformance suite
(tests/conformance). Methods raise the `ProviderError` tree from `idsync.errors`.
`LinkStore`, `ChangeQueue` and `ImportStore` are the state the engine keeps: the SQL store
(adapters/store) and the in-memory one (idsync.testing) pass the same conformance tests
(tests/conformance/test_stores.py). `Pacing` is what the worker asks of an IdP's governor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from idsync.domain.inbound import AppUser, TargetChange
from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ImportControl, ImportState, Lane, Reason, Status
from idsync.domain.records import ClaimedUser, Finished, ImportRecord, IngestRow, QueuedChange, Receipt

__all__ = [
    "Activation",
    "ChangeQueue",
    "IdentityProvider",
    "IdpUser",
    "ImportStore",
    "LinkStore",
    "OidcApp",
    "OidcAppRegistry",
    "Pacing",
    "Stores",
    "Target",
]

Key = tuple[str, str, str]  # tenant, source, key


@dataclass(frozen=True)
class IdpUser:
    id: str
    login: str
    status: IdpStatus
    profile: Mapping[str, Any] = field(default_factory=dict)
    last_updated: str | None = None


@dataclass(frozen=True)
class Activation:
    """What an activation returns: the link to set a password when no e-mail was sent."""

    activation_url: str | None = None
    activation_token: str | None = None


@dataclass(frozen=True)
class OidcApp:
    id: str
    label: str
    client_id: str
    redirect_uris: tuple[str, ...]
    # Only ever present right after creation; kept out of repr so no log line can carry it.
    client_secret: str | None = field(default=None, repr=False)


class IdentityProvider(Protocol):
    """One IdP account store. Calls go through the governor of that IdP."""

    name: str

    def for_lane(self, lane: Lane) -> IdentityProvider:
        """The same IdP, its calls paced in `lane` (interactive work goes ahead of bulk work)."""
        ...

    async def create_user(self, profile: Mapping[str, Any], *, activate: bool) -> IdpUser: ...

    async def find_user(self, login: str) -> IdpUser | None:
        """Look a user up by login (case-insensitive, as the IdP compares logins)."""
        ...

    async def get_user(self, idp_id: str) -> IdpUser | None: ...

    async def update_user(self, idp_id: str, profile: Mapping[str, Any]) -> IdpUser:
        """Partial profile update; a new `login` renames the account."""
        ...

    async def activate_user(self, idp_id: str, *, send_email: bool) -> Activation: ...

    async def deactivate_user(self, idp_id: str) -> None: ...

    async def delete_user(self, idp_id: str, *, deprovisioned: bool) -> None: ...

    def list_users(self, *, page_size: int = 100, updated_since: str | None = None) -> AsyncIterator[IdpUser]:
        """Every user, page by page (cursor pagination); `updated_since` gives a delta."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class OidcAppRegistry(Protocol):
    """An IdP that registers OpenID Connect applications (portals); the Okta connector is one."""

    name: str

    async def list_oidc_apps(self, q: str | None = None) -> list[OidcApp]:
        """Apps whose name or label starts with `q` (every app without it); never a secret."""
        ...

    async def create_oidc_app(self, label: str, redirect_uris: list[str], *, base_url: str = "") -> OidcApp:
        """The new app; its `client_secret` is in this answer only."""
        ...

    async def update_oidc_app(
        self, app_id: str, redirect_uris: list[str], *, base_url: str = ""
    ) -> OidcApp: ...

    async def assign_groups(self, app_id: str, group_names: list[str]) -> list[str]:
        """Assign the named groups to the app (idempotent); returns their ids."""
        ...


class Pacing(Protocol):
    """What the worker tells an IdP's governor, and asks it."""

    def set_backlog(self, waiting: int) -> None:
        """Bulk users waiting: a small job is not spread over a whole rate-limit window."""
        ...

    def retry_at(self) -> float:
        """When calls may go out again after the circuit opened (clock time)."""
        ...


class LinkStore(Protocol):
    """Identity links (tenant + source + key -> IdP account), who holds an account or a login, and
    the org's accounts as listed for `--link-existing`. One account, one identity: a link that
    would make a second identity hold an account raises `LinkConflict`."""

    async def get(self, tenant: str, source: str, key: str) -> Link | None: ...

    async def get_many(self, keys: Sequence[Key]) -> dict[Key, Link]: ...

    async def save(self, link: Link) -> None: ...

    async def holder_of(self, idp: str, idp_id: str) -> Link | None: ...

    async def holder_by_login(self, idp: str, login: str, *, besides: Key) -> Link | None:
        """Another identity that holds (or is creating) an account with this login."""
        ...

    async def save_listed(self, idp: str, users: Sequence[IdpUser]) -> int: ...

    async def listed(self, idp: str, login: str) -> IdpUser | None: ...

    async def forget_listed(self, idp: str, login: str) -> None: ...

    async def by_status(
        self,
        tenant: str,
        statuses: Iterable[IdpStatus],
        *,
        source: str | None = None,
        after: tuple[str, str] = ("", ""),
        limit: int = 500,
    ) -> list[Link]: ...

    async def count(
        self, tenant: str, statuses: Iterable[IdpStatus] | None = None, source: str | None = None
    ) -> int: ...


class ChangeQueue(Protocol):
    """Every received change, stored before anything acts on it; users claimed under a lease,
    interactive lane first; results written with the links they produced (group commit)."""

    async def receive(
        self,
        rows: Sequence[IngestRow],
        *,
        import_id: str | None = None,
        cursor: int | None = None,
        unrecorded_unchanged: int = 0,
        force: bool = False,
    ) -> Receipt: ...

    async def open_user_keys(self, user_keys: Sequence[str]) -> set[str]: ...

    async def claim(
        self,
        owner: str,
        *,
        limit: int,
        lease_s: float,
        now: float,
        lanes: Sequence[Lane] = (Lane.INTERACTIVE, Lane.BULK),
        lane_limits: dict[Lane, int] | None = None,
    ) -> list[ClaimedUser]: ...

    async def renew_leases(self, owner: str, lease_s: float, now: float) -> int: ...

    async def release_expired(self, now: float | None = None, *, owner: str | None = None) -> int: ...

    async def write_batch(
        self, *, saved_links: Sequence[Link] = (), finished: Sequence[Finished] = ()
    ) -> None:
        """One transaction: links, finished changes with their import counters, released claims."""
        ...

    async def postpone(
        self,
        user: ClaimedUser,
        owner: str,
        *,
        not_before: float,
        link: Link | None = None,
        count_attempt: bool = True,
        only: Sequence[QueuedChange] | None = None,
    ) -> None: ...

    async def next_due(self) -> float | None: ...

    async def pending_by_lane(self) -> dict[Lane, int]: ...

    async def queue_depth(self) -> dict[Lane, int]: ...

    async def change_result(self, change_id: int) -> dict[str, object] | None: ...


class ImportStore(Protocol):
    """Imports (and activation jobs): counters, input cursor, state, and their changes' results."""

    async def create(
        self,
        import_id: str,
        tenant: str,
        origin: str,
        *,
        input_name: str | None = None,
        total: int | None = None,
    ) -> ImportRecord: ...

    async def get(self, import_id: str) -> ImportRecord | None: ...

    async def recent(self, *, limit: int = 50, tenant: str | None = None) -> list[ImportRecord]: ...

    async def finish_input(self, import_id: str) -> None: ...

    async def set_state(self, import_id: str, state: ImportState) -> None: ...

    async def control(self, import_id: str, control: ImportControl, reason: Reason | None = None) -> bool:
        """Pause, resume or cancel an import (docs/migration.md): paused changes are not claimed
        (nor other changes of their users); cancelling ends every unsent change as `cancelled`
        (with `reason`), counted; changes received later for it follow its state. False when the
        import's state does not allow it, or there is no such import."""
        ...

    async def set_rate(self, import_id: str, rate: float) -> None: ...

    async def results(
        self,
        import_id: str,
        *,
        statuses: Sequence[Status] | None = None,
        limit: int = 1000,
        after_id: int = 0,
    ) -> list[dict[str, object]]: ...

    async def reason_summary(self, import_id: str) -> list[tuple[str, str, int, str]]: ...

    async def recount(self, import_id: str) -> dict[str, int]: ...

    async def requeue_failed(self, import_id: str, *, except_codes: Sequence[str] = ()) -> int: ...


@dataclass(frozen=True)
class Stores:
    """The engine's state, by concern (built by the composition root)."""

    links: LinkStore
    queue: ChangeQueue
    imports: ImportStore


class Target(Protocol):
    """The application side of inbound sync (adapters/targets: SQL table, HTTP callback, Kafka
    topic). A *readable* target can be asked for a user by key or by e-mail/login, so idsync
    compares with what the application really holds and re-links existing users; a write-only
    one receives the full mapped state of each changed user, keyed by Okta id."""

    readable: bool

    async def open(self) -> None: ...

    async def find(self, match: Sequence[tuple[str, str]]) -> AppUser | None:
        """The user whose field equals the value (case-insensitive), trying pairs in order;
        raises `Ambiguous` when several match. Write-only targets return None."""
        ...

    async def get(self, key: str) -> AppUser | None: ...

    async def apply(self, change: TargetChange) -> str:
        """Write the change; returns the application key of the user."""
        ...

    async def unlink(self, key: str, okta_id: str) -> None:
        """Forget the Okta link of this user (the integration is removed); nothing else changes."""
        ...

    async def aclose(self) -> None: ...
