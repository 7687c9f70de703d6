"""The state the engine keeps: `LinkStore`, `ChangeQueue`, `ImportStore` (grouped as `Stores`).
The SQL store (adapters/store) and the in-memory one (idsync.testing) pass the same conformance
tests (tests/conformance/test_stores*.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ImportControl, ImportState, Lane, Reason, Status
from idsync.domain.records import ClaimedUser, Finished, ImportRecord, IngestRow, QueuedChange, Receipt
from idsync.ports.idp import IdpUser

__all__ = ["ChangeQueue", "ImportStore", "Key", "LinkStore", "Stores"]

Key = tuple[str, str, str]  # tenant, source, key


class LinkStore(Protocol):
    """Identity links (tenant + source + key -> IdP account), who holds an account or a login, and
    the org's accounts as listed for `--link-existing`. One account, one identity: a link that
    would make a second identity hold an account raises `LinkConflict`."""

    async def get(self, tenant: str, source: str, key: str) -> Link | None: ...

    async def get_many(self, keys: Sequence[Key]) -> dict[Key, Link]: ...

    async def save(self, link: Link) -> None: ...

    async def at_rest_lines(self, tenant: str, marks: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(source, key) of the tenant's link that holds each of these line marks (domain/marks.py);
        links of shared accounts never answer."""
        ...

    async def mark_at_rest(self, proved: Sequence[tuple[Link, str]]) -> None:
        """Mark each link, as read, with the mark of a line found unchanged against it, unless it
        was written since, shares its account or has a write in flight (then: nothing)."""
        ...

    async def holder_of(self, idp: str, idp_id: str) -> Link | None: ...

    async def holder_by_login(self, idp: str, login: str, *, besides: Key) -> Link | None:
        """Another identity that holds (or is creating) an account with this login."""
        ...

    async def login_in_use(self, idp: str, login: str, *, besides: Key) -> tuple[Link | None, IdpUser | None]:
        """Before a create: `holder_by_login`, and when nobody holds the login, the org's listed
        account with it (`listed`), in one store round trip (it runs for every created user)."""
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
        self,
        *,
        saved_links: Sequence[Link] = (),
        finished: Sequence[Finished] = (),
        api_calls: Mapping[str, int] | None = None,
    ) -> None:
        """One transaction: links, finished changes with their import counters, the IdP calls
        made for each import (`api_calls`, by import id), released claims."""
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

    async def pending_by_lane(self, cap: int | None = None) -> dict[Lane, int]:
        """Changes waiting to be claimed, per lane; with `cap`, counted up to `cap` a lane."""
        ...

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

    async def add_api_calls(self, import_id: str, calls: int) -> None:
        """Count IdP calls made for the import outside its changes (listing the org's accounts)."""
        ...

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
