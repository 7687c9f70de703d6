"""The identity link: what idsync knows of one application user at the IdP."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class IdpStatus(enum.StrEnum):
    """Okta's user statuses (okta/FACTS.md §1); SCIM maps active/inactive onto ACTIVE/DEPROVISIONED."""

    STAGED = "STAGED"
    PROVISIONED = "PROVISIONED"
    ACTIVE = "ACTIVE"
    RECOVERY = "RECOVERY"
    PASSWORD_EXPIRED = "PASSWORD_EXPIRED"
    LOCKED_OUT = "LOCKED_OUT"
    SUSPENDED = "SUSPENDED"
    DEPROVISIONED = "DEPROVISIONED"

    @property
    def activatable(self) -> bool:
        """Okta allows `activate` only from STAGED or DEPROVISIONED."""
        return self in (IdpStatus.STAGED, IdpStatus.DEPROVISIONED)

    @property
    def is_active(self) -> bool:
        return self not in (IdpStatus.STAGED, IdpStatus.DEPROVISIONED)


class PendingOp(enum.StrEnum):
    """A write sent to the IdP whose outcome is not yet recorded (written ahead of the call).

    CREATE without an account id: a create was sent and its answer is unknown. CREATE with an
    account id: the change in progress created (or claimed as its own create) that account, and
    its result is not recorded yet; a replay after a crash reports the change as `created`, not as
    `unchanged` or `activated`."""

    CREATE = "create"
    ACTIVATE = "activate"


@dataclass(frozen=True)
class Link:
    """Keyed by tenant + source + key: an e-mail change renames, it never creates a second account."""

    tenant: str
    source: str
    key: str
    idp: str
    idp_id: str | None = None
    login: str | None = None
    profile_hash: str | None = None
    idp_status: IdpStatus | None = None
    version: int | None = None
    pending_op: PendingOp | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None
    # merge_sources: this identity reaches its account through the link of (source, key) of the
    # same tenant, which holds the account; the store fills in that link's idp_id and status.
    via: tuple[str, str] | None = None
    # Sources of the other identities that share this account (filled in by the store on read).
    sharers: tuple[str, ...] = ()
    # Written with the link, not stored: this identity gives up a shared account, which passes
    # to another identity sharing it (the account itself is left alone).
    handover: bool = False

    @property
    def exists(self) -> bool:
        return self.idp_id is not None

    @property
    def creation_unrecorded(self) -> bool:
        """The account was created by the change in progress, whose result is not recorded yet."""
        return self.idp_id is not None and self.pending_op is PendingOp.CREATE

    @property
    def identity(self) -> str:
        return f"{self.source}/{self.key}"
