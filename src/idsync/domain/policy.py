"""Per-tenant policy: sync mode, delete policy, login routing and attribute mapping.

The same routing rules answer two questions: "does this user need syncing?" (the planner skips
users whose e-mail domain is routed to an external IdP) and "where does this user log in?".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from idsync.domain.text import email_domain


class SyncMode(enum.StrEnum):
    OFF = "off"  # nothing is synced
    SYNC = "sync"  # users are created but not activated (phase 1)
    SYNC_AND_ACTIVATE = "sync_and_activate"  # created and activated; staged users get activated


class ExistingAccount(enum.StrEnum):
    """What to do when a user's login is already held by an IdP account (docs/migration.md)."""

    REJECT = "reject"  # fail with login_taken; the account is not touched
    ADOPT_UNLINKED = "adopt_unlinked"  # link an account no identity links yet (made by hand)
    MERGE_SOURCES = "merge_sources"  # sources of one tenant share one account (one person, one login)


class DeletePolicy(enum.StrEnum):
    IGNORE = "ignore"  # the seeds' default: deleting in the app leaves the IdP account alone
    DEACTIVATE = "deactivate"
    DELETE = "delete"


@dataclass(frozen=True)
class ExternalIdp:
    """A company's own IdP; users of its e-mail domains log in there and need no sync."""

    name: str
    domains: tuple[str, ...]
    login_url: str = ""

    def matches(self, domain: str) -> bool:
        for pattern in self.domains:
            p = pattern.lower()
            if p.startswith("*."):
                if domain.endswith(p[1:]):
                    return True
            elif domain == p:
                return True
        return False


@dataclass(frozen=True)
class RoutingRules:
    external: tuple[ExternalIdp, ...] = ()

    def external_idp_for(self, email: str) -> ExternalIdp | None:
        """The external IdP that the e-mail's domain is routed to, or None (the main IdP)."""
        domain = email_domain(email)
        if not domain:
            return None
        for idp in self.external:
            if idp.matches(domain):
                return idp
        return None


@dataclass(frozen=True)
class TenantPolicy:
    tenant: str
    idp: str = "okta"
    mode: SyncMode = SyncMode.SYNC
    delete_policy: DeletePolicy = DeletePolicy.IGNORE
    routing: RoutingRules = field(default_factory=RoutingRules)
    # App attribute -> IdP profile attribute for attributes beyond the four named ones.
    # None passes every extra attribute through under its own name.
    attribute_map: Mapping[str, str] | None = None
    # Phase 2 activation makes the IdP send its activation e-mail (the seeds' flow).
    send_activation_email: bool = True
    existing_account: ExistingAccount = ExistingAccount.REJECT
    # merge_sources: the source listed first masters the profile of a shared account.
    source_priority: tuple[str, ...] = ()

    def rank(self, source: str) -> tuple[int, str]:
        """Sort key of a source for mastering a shared profile: listed sources first, in order."""
        order = self.source_priority
        return (order.index(source) if source in order else len(order), source)

    def masters(self, source: str, others: tuple[str, ...]) -> bool:
        """Does `source` master the profile of an account it shares with `others`?"""
        return all(self.rank(source) <= self.rank(o) for o in others)
