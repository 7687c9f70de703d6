"""The application side of inbound sync."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from idsync.domain.inbound import AppUser, TargetChange

__all__ = ["Target"]


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
