"""Bulk import sessions (Okta identity sources): the values and rules the engine and the store
share, pure so they are tested without a server.

Why a session's users are recorded one by one: Okta answers an upload with 202 and a session
with COMPLETED, never with per-user results. So idsync writes ahead which user went into which
upload (`SessionEntry`), reads the users back once the session is done, and decides per user
(`ReadResult`) whether the session created or updated its account, or whether the per-user path
must take over.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

__all__ = [
    "EXTERNAL_ID_MAX",
    "EntryKind",
    "ReadResult",
    "SessionEntry",
    "SessionRecord",
    "SessionState",
    "before",
    "created_since",
    "external_id",
    "latest",
    "source_profile",
]

EXTERNAL_ID_MAX = 255
"""Okta's externalId: the upload schema allows 512 characters, the identity-source user 255; the
smaller one holds wherever the id is read back."""
_USERNAME_MAX = 100  # IdentitySourceUserProfileForUpsert.userName


class SessionState(enum.StrEnum):
    """A session as idsync tracks it (Okta's status is read when it matters)."""

    FILLING = "filling"  # CREATED at the IdP; uploads going in
    TRIGGERED = "triggered"  # start-import sent; the IdP processes it
    READ = "read"  # completed and read back: each entry has its result
    ABANDONED = "abandoned"  # deleted, expired or failed: its users go into another session


class EntryKind(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"


class ReadResult(enum.StrEnum):
    """What reading a user back after the session showed."""

    LINKED = "linked"  # the session created the account: linked to this identity
    UPDATED = "updated"  # the account shows the profile the session carried
    FOREIGN = "foreign"  # the login belongs to an account the session did not create
    MISSING = "missing"  # no account with this login: the session did not create it
    NOT_APPLIED = "not_applied"  # the account does not show the update


@dataclass(frozen=True)
class SessionRecord:
    idp: str
    id: str
    source_id: str
    state: SessionState
    created: str  # the IdP's timestamp of the session (ISO 8601)
    uploads: int = 0
    triggered_at: float | None = None  # idsync's clock
    # The IdP's timestamp of start-import: accounts the session creates are no older. Okta's
    # timestamps are whole seconds, so this is tighter than `created` (the filling takes seconds).
    started: str | None = None

    @property
    def since(self) -> str:
        return self.started or self.created


@dataclass(frozen=True)
class SessionEntry:
    """One user in one upload of a session, written before the upload is sent."""

    session_id: str
    user_key: str
    tenant: str
    source: str
    key: str
    external_id: str
    login: str
    kind: EntryKind
    profile: Mapping[str, Any]  # the IdP profile the session carries (to check the read-back)
    profile_hash: str
    upload: int
    idp_id: str | None = None  # updates: the account; creates: the account read back
    result: ReadResult | None = None
    idp_status: str | None = None


def external_id(tenant: str, source: str, key: str) -> str:
    """The user's externalId in the identity source: unique per source, stable, readable.

    Percent-encoded parts joined by '/', so no two identities share one (a '/' inside a part is
    encoded). Longer than Okta keeps: a SHA-256 of the readable form, still unique and stable."""
    readable = "/".join(quote(part, safe="") for part in (tenant, source, key))
    if len(readable) <= EXTERNAL_ID_MAX:
        return readable
    return "sha256/" + hashlib.sha256(readable.encode()).hexdigest()


def source_profile(profile: Mapping[str, Any]) -> dict[str, str] | None:
    """The identity source's form of an IdP profile (`login` travels as `userName`), or None
    when a session cannot carry it: Okta takes string attributes only, userName up to 100."""
    out: dict[str, str] = {}
    for name, value in profile.items():
        if not isinstance(value, str):
            return None
        out["userName" if name == "login" else name] = value
    if len(out.get("userName", "")) > _USERNAME_MAX or "userName" in profile:
        return None
    return out


def created_since(created: str | None, since: str) -> bool:
    """Was an account created at or after `since` (both the IdP's ISO 8601 timestamps)? An
    account older than the session's start existed before it: the session did not create it.
    Okta's timestamps are whole seconds: an account someone else made with the same login in the
    very second the session started would pass; the window is one second (docs/migration.md)."""
    at, start = _instant(created), _instant(since)
    return at is not None and start is not None and at >= start


def latest(*stamps: str) -> str:
    """The latest of the IdP's ISO 8601 timestamps given (empty or unreadable ones are skipped)."""
    best, when = "", None
    for stamp in stamps:
        at = _instant(stamp)
        if at is not None and (when is None or at > when):
            best, when = stamp, at
    return best


def before(stamp: str, seconds: float) -> str:
    """The IdP timestamp `seconds` earlier, in Okta's form (`2026-01-02T03:04:05.000Z`); an
    unreadable one is returned as it is."""
    at = _instant(stamp)
    if at is None:
        return stamp
    return (at - timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _instant(stamp: str | None) -> datetime | None:
    """An IdP timestamp as a time (None: empty or unreadable)."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None
