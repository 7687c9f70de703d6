"""Whose is an IdP account? The rule for a login that is already held by an account.

One account belongs to one identity (tenant + source + key). When a create finds the login taken
(or `--link-existing` finds the account up front), the tenant's `existing_account` policy decides
with what the store knows of the account's holder. Never across tenants, whatever the policy: two
tenants that share an Okta org must not reach each other's accounts. Pure, so every case is
tested without a server (tests/unit/test_identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from idsync.domain.links import Link
from idsync.domain.models import Reason
from idsync.domain.policy import ExistingAccount, TenantPolicy

__all__ = ["Adopt", "Claim", "Reject", "Share", "claim_existing", "login_taken"]


@dataclass(frozen=True)
class Adopt:
    """Link the account to this identity (it is ours, or unlinked and the tenant adopts)."""

    ours: bool  # our own earlier create (its answer was lost): the result is `created`


@dataclass(frozen=True)
class Share:
    """merge_sources: this identity shares the account held by `holder` (same tenant)."""

    holder: Link


@dataclass(frozen=True)
class Reject:
    reason: Reason


Claim = Adopt | Share | Reject


def login_taken(login: str, detail: str) -> Reason:
    return Reason(code="login_taken", message=f"login {login} is already held by an IdP account: {detail}")


def claim_existing(
    policy: TenantPolicy,
    me: Link,
    login: str,
    holder: Link | None,
    *,
    our_create_pending: bool,
) -> Claim:
    """Decide for identity `me` about the account that holds `login`.

    `holder` is the identity that links the account (or has a create of this login in flight),
    None when no identity does. `our_create_pending`: `me` sent a create of this login whose
    outcome was never recorded, so an unlinked account with this login is that create's."""
    if holder is not None and (holder.tenant, holder.source, holder.key) == (me.tenant, me.source, me.key):
        return Adopt(ours=False)
    if holder is None:
        if our_create_pending:
            return Adopt(ours=True)
        if policy.existing_account is ExistingAccount.ADOPT_UNLINKED:
            return Adopt(ours=False)
        return Reject(
            login_taken(
                login,
                "it is not managed by this tenant (existing_account = "
                f"{policy.existing_account.value}; see docs/migration.md, shared logins)",
            )
        )
    if holder.tenant != me.tenant:
        return Reject(login_taken(login, "it is not managed by this tenant"))
    if (
        policy.existing_account is ExistingAccount.MERGE_SOURCES
        and holder.source != me.source
        and me.source not in holder.sharers
    ):
        return Share(holder)
    return Reject(login_taken(login, f"it is linked to {holder.identity} of this tenant"))
