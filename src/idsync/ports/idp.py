"""The IdP ports: an IdP's account store (`IdentityProvider`), its OpenID Connect apps
(`OidcAppRegistry`), and what the worker asks of its governor (`Pacing`). Every connector passes
the same conformance suite (tests/conformance); methods raise the `ProviderError` tree."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from idsync.domain.links import IdpStatus
from idsync.domain.models import Lane

__all__ = ["Activation", "IdentityProvider", "IdpUser", "OidcApp", "OidcAppRegistry", "Pacing"]


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
