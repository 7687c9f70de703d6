"""The org's records: plain mutable dataclasses, stored as JSON documents by the journal.

Why timestamps are epoch floats: comparisons and arithmetic stay cheap; `render` formats them
the way Okta does (whole seconds, `…000Z`).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "AppGroupRecord",
    "AppRecord",
    "AppUserRecord",
    "GroupRecord",
    "HookRecord",
    "OutboxEntry",
    "UserRecord",
    "email_key",
    "from_doc",
    "login_key",
    "to_doc",
    "transitioning_to",
]

T = TypeVar("T")


def login_key(login: str) -> str:
    """Logins differing only in case or diacritics are the same login (SPEC `UserProfile.login`)."""
    decomposed = unicodedata.normalize("NFKD", login)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def email_key(email: str) -> str:
    return email.casefold()


@dataclass(slots=True)
class UserRecord:
    id: str
    seq: int
    status: str
    created: float
    last_updated: float
    profile: dict[str, Any]
    type_id: str
    activated: float | None = None
    status_changed: float | None = None
    last_login: float | None = None
    password_changed: float | None = None
    has_password: bool = False
    recovery_question: str | None = None
    provider_type: str = "OKTA"
    provider_name: str = "OKTA"
    activation_token: str | None = None
    activation_emails: int = 0
    pending_op: str | None = None
    """An asynchronous lifecycle operation under way: `activate`, `deactivate` or `delete`."""
    pending_until: float | None = None
    """When it lands (epoch seconds)."""

    @property
    def login(self) -> str:
        return str(self.profile.get("login", ""))

    @property
    def email(self) -> str | None:
        value = self.profile.get("email")
        return value if isinstance(value, str) else None


def transitioning_to(user: UserRecord) -> str | None:
    """`transitioningToStatus` of a user (SPEC: ACTIVE, DEPROVISIONED or PROVISIONED), or None."""
    if user.pending_op == "activate":
        return "ACTIVE" if user.has_password else "PROVISIONED"
    if user.pending_op == "deactivate":
        return "DEPROVISIONED"
    return None  # a pending deletion shows no status: the user stays DEPROVISIONED meanwhile


@dataclass(slots=True)
class GroupRecord:
    id: str
    seq: int
    type: str
    created: float
    last_updated: float
    last_membership_updated: float
    profile: dict[str, Any]


@dataclass(slots=True)
class AppRecord:
    id: str
    seq: int
    status: str
    created: float
    last_updated: float
    body: dict[str, Any]
    """The app as the client sent it, completed with Okta's defaults (no secret inside)."""
    client_secret: str | None = None
    id_token_claim: dict[str, Any] | None = None
    """The groups claim of its ID tokens (`groups_claim.py`); not part of the app's JSON."""


@dataclass(slots=True)
class AppUserRecord:
    app_id: str
    user_id: str
    created: float
    last_updated: float
    scope: str = "USER"
    profile: dict[str, Any] = field(default_factory=dict)
    user_name: str | None = None


@dataclass(slots=True)
class AppGroupRecord:
    app_id: str
    group_id: str
    last_updated: float
    priority: int = 0
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class HookRecord:
    id: str
    seq: int
    name: str
    status: str
    verification_status: str
    created: float
    created_by: str
    last_updated: float
    events: dict[str, Any]
    channel: dict[str, Any]
    """As sent, including the write-only `authScheme.value` (never rendered)."""


@dataclass(slots=True)
class OutboxEntry:
    """An e-mail Okta would have sent: the emulator keeps it instead (GET /__emulator/outbox)."""

    id: str
    seq: int
    kind: str
    to: str
    user_id: str
    login: str
    sent_at: float
    activation_url: str | None = None
    activation_token: str | None = None


def to_doc(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


def from_doc(cls: type[T], doc: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in doc.items() if k in names})
