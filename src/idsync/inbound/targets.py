"""The application side of inbound sync: one small interface (the port), three targets (SQL,
HTTP, Kafka) in `idsync.adapters.targets`.

A *readable* target (the SQL table) can be asked for a user by key or by e-mail/login, so
idsync compares with what the application really holds (local edits included) and re-links
existing users. A write-only target (HTTP callback, Kafka topic) receives the full mapped state
of each changed user, keyed by Okta id, so the application can upsert idempotently; idsync
remembers what it sent in its links.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from idsync.errors import IdSyncError
from idsync.inbound.mapping import AppUser

__all__ = ["Ambiguous", "Target", "TargetChange", "TargetError", "change_message"]


class TargetError(IdSyncError):
    """Writing to the application failed; `retryable` says whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Ambiguous(TargetError):
    """More than one application user matches the Okta user's e-mail/login: none is guessed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class TargetChange:
    integration: str
    okta_id: str
    login: str
    key: str | None  # None: create a user
    fields: Mapping[str, Any] = field(default_factory=dict)  # what changes (all mapped fields on create)
    applied: Mapping[str, Any] = field(default_factory=dict)  # every mapped field after the change
    roles_add: frozenset[str] = frozenset()
    roles_remove: frozenset[str] = frozenset()
    managed_roles: frozenset[str] | None = None  # managed roles held after; None: not considered
    link: bool = False  # an existing application user is being linked to this Okta user
    cause: str = ""  # "initial_sync", "event user.account.update_profile", ...
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # same across retries of one change


class Target(Protocol):
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


def change_message(change: TargetChange, op: str = "upsert") -> dict[str, Any]:
    """The JSON body (HTTP) or value (Kafka) sent to write-only targets."""
    message: dict[str, Any] = {
        "id": change.id,
        "integration": change.integration,
        "op": op,
        "okta_id": change.okta_id,
        "login": change.login,
        "key": change.key,
    }
    if op == "upsert":
        message["user"] = dict(change.applied)
        message["changed"] = sorted(change.fields)
        message["roles"] = {
            "add": sorted(change.roles_add),
            "remove": sorted(change.roles_remove),
            "managed": sorted(change.managed_roles) if change.managed_roles is not None else None,
        }
        message["cause"] = change.cause
    return message
