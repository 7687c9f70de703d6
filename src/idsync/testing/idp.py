"""An identity provider in memory: `MemoryIdp` is the `ports.IdentityProvider` over a `MemoryOrg`
(org.py) and passes the connector conformance suite (tests/conformance) like the Okta and SCIM
connectors, so engine tests run without HTTP.

At its boundary it fails the way the Okta connector behind its governor does
(adapters/governed.py): a rate limit is waited out on the org's clock and becomes `RateLimited`
after `max_rate_limit_waits` waits; a 5xx is retried at once for idempotent calls (`Unavailable`
after `max_retries` retries) and is an `UnknownOutcome` for a create or an activation; a lost
answer is the same, but the write happened; a wrong token is `Unauthorized`. Unlike the
governor it does not pace calls, learn limits, back off between retries or open a circuit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from idsync.clock import Clock, SystemClock
from idsync.domain.models import Lane
from idsync.errors import (
    IllegalTransition,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unauthorized,
    Unavailable,
    UnknownOutcome,
)
from idsync.ports import Activation, IdpUser
from idsync.testing.org import MemoryOrg

__all__ = ["MemoryIdp", "MemoryPacing"]

T = TypeVar("T")


class MemoryIdp:
    def __init__(
        self,
        name: str = "okta",
        org: MemoryOrg | None = None,
        *,
        token: str | None = None,
        max_rate_limit_waits: int = 20,
        max_retries: int = 2,
    ) -> None:
        self.name = name
        self.org = org or MemoryOrg()
        self._token = token if token is not None else self.org.token
        self.max_rate_limit_waits = max_rate_limit_waits
        self.max_retries = max_retries
        self.closed = False
        self.lanes: list[Lane] = []  # the lane of each view asked for (ports.IdentityProvider.for_lane)

    def for_lane(self, lane: Lane) -> MemoryIdp:
        """The same org; an in-memory IdP paces nothing, so the lane is only recorded."""
        self.lanes.append(lane)
        return self

    async def _call(self, op: str, fn: Callable[[], T], *, idempotent: bool) -> T:
        """One call as it would cross the network: token, rate limit, faults, then the org."""
        org = self.org
        where = f"{self.name} {op}"
        waits = attempts = 0
        while True:
            await asyncio.sleep(0)  # a call lets other tasks run, as a network call does
            if self._token != org.token:
                raise Unauthorized(f"{where}: Okta 401 E0000011: Invalid token provided", provider=self.name)
            reset = org.limited_until()
            if reset is not None:
                org.served_429 += 1
                waits += 1
                if waits > self.max_rate_limit_waits:
                    raise RateLimited(
                        f"{where}: still rate limited after {waits} waits",
                        provider=self.name,
                        status_code=429,
                    )
                await org.clock.sleep(reset - org.clock.time())
                continue
            org.requests[op] += 1
            org.log.append(op)
            fault = org.take_fault(op)
            if fault is not None and fault.status is not None:
                if fault.status < 500:
                    raise _refused(where, fault.status, self.name)
                failure = f"answered {fault.status}"
            else:
                try:
                    result = fn()
                except ProviderError as exc:
                    if fault is None:
                        exc.provider = self.name
                        raise
                if fault is None:
                    return result
                failure = "no answer (the connection dropped)"
            if not idempotent:
                raise UnknownOutcome(f"{where}: {failure}; the write may have happened", provider=self.name)
            attempts += 1
            if attempts > self.max_retries:
                raise Unavailable(f"{where}: {failure}, {attempts} times", provider=self.name)

    # ---- users ---------------------------------------------------------------------------------

    async def create_user(self, profile: Mapping[str, Any], *, activate: bool) -> IdpUser:
        return await self._call(
            "create", lambda: self.org.create(profile, activate=activate).user(), idempotent=False
        )

    async def find_user(self, login: str) -> IdpUser | None:
        """By login, as Okta compares logins (case and diacritics aside)."""

        def find() -> IdpUser | None:
            account = self.org.user(login)
            return account.user() if account is not None else None

        return await self._call("find", find, idempotent=True)

    async def get_user(self, idp_id: str) -> IdpUser | None:
        def get() -> IdpUser | None:
            account = self.org.accounts.get(idp_id)
            return account.user() if account is not None else None

        return await self._call("get", get, idempotent=True)

    async def update_user(self, idp_id: str, profile: Mapping[str, Any]) -> IdpUser:
        """Partial update; a new `login` renames (`Conflict` when another account holds it)."""
        return await self._call("update", lambda: self.org.update(idp_id, profile).user(), idempotent=True)

    async def activate_user(self, idp_id: str, *, send_email: bool) -> Activation:
        """With `send_email` the link goes to the org's outbox; without, it comes back here."""
        url, token = await self._call(
            "activate", lambda: self.org.activate(idp_id, send_email=send_email), idempotent=False
        )
        return Activation() if send_email else Activation(activation_url=url, activation_token=token)

    async def deactivate_user(self, idp_id: str) -> None:
        try:
            await self._call("deactivate", lambda: self.org.deactivate(idp_id), idempotent=True)
        except IllegalTransition:
            return  # already deprovisioned

    async def delete_user(self, idp_id: str, *, deprovisioned: bool) -> None:
        """Okta deletes only DEPROVISIONED users; on any other the first DELETE deactivates."""
        try:
            await self._call("delete", lambda: self.org.delete(idp_id), idempotent=True)
            if not deprovisioned:
                await self._call("delete", lambda: self.org.delete(idp_id), idempotent=True)
        except NotFound:
            return

    async def list_users(
        self, *, page_size: int = 100, updated_since: str | None = None
    ) -> AsyncIterator[IdpUser]:
        """Every user (DEPROVISIONED ones too), page by page; `updated_since`: lastUpdated after it."""
        after: str | None = None
        while True:
            page = self._page(after, page_size, updated_since)
            users, after = await self._call("list", page, idempotent=True)
            for user in users:
                yield user
            if after is None:
                return

    def _page(
        self, after: str | None, limit: int, updated_since: str | None
    ) -> Callable[[], tuple[list[IdpUser], str | None]]:
        return lambda: self.org.page(after=after, limit=limit, updated_since=updated_since)

    async def aclose(self) -> None:
        self.closed = True


class MemoryPacing:
    """`ports.Pacing` without a governor: remembers the backlog the worker reports; `open_until`
    (clock time) stands for an open circuit, so `retry_at` says when calls may go out again."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.backlog = 0
        self.open_until: float | None = None

    def set_backlog(self, waiting: int) -> None:
        self.backlog = waiting

    def retry_at(self) -> float:
        return self.open_until if self.open_until is not None else self.clock.time()


def _refused(where: str, status: int, provider: str) -> ProviderError:
    """A 4xx injected at the boundary, as the Okta connector classifies it."""
    if status in (401, 403):
        return Unauthorized(f"{where}: answered {status}", provider=provider, status_code=status)
    if status == 404:
        return NotFound(f"{where}: answered 404", provider=provider, status_code=status)
    if status == 429:
        return RateLimited(f"{where}: answered 429", provider=provider, status_code=status)
    return InvalidRequest(f"{where}: answered {status}", provider=provider, status_code=status)
