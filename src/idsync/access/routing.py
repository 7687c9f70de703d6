"""Where does a user log in? The answer comes from the same routing rules the sync uses.

Why here and pure: the planner skips a user whose e-mail domain is routed to an external IdP
(`RoutingRules.external_idp_for`, reason `external_idp`); a login page must send that user to the
same external IdP. Both ask the one function, so "needs no sync" and "logs in elsewhere" can
never disagree. Nothing here reads settings or does I/O: the caller passes the tenant's rules
and the main IdP's login URL (see `access.service` for how they are found).
"""

from __future__ import annotations

from dataclasses import dataclass

from idsync.domain.policy import RoutingRules
from idsync.domain.text import email_domain, is_email

__all__ = ["InvalidEmail", "LoginRoute", "route"]


class InvalidEmail(ValueError):
    """The value is not an e-mail address, so no routing rule can apply to it."""


@dataclass(frozen=True)
class LoginRoute:
    """The answer for one e-mail address of one tenant."""

    tenant: str
    email: str
    domain: str
    idp: str
    """The main IdP's name (e.g. `okta`) or the external IdP's name from the tenant's rules."""
    external: bool
    login_url: str
    """Where the login starts: the main IdP's OpenID Connect issuer, or the external IdP's URL."""

    @property
    def needs_sync(self) -> bool:
        """Users of external IdPs are never synced (the planner's `external_idp` skip)."""
        return not self.external


def route(tenant: str, rules: RoutingRules, email: str, *, main_idp: str, main_login_url: str) -> LoginRoute:
    """Route `email` by the tenant's rules.

    An external IdP configured without a `login_url` is answered with the main IdP's login URL:
    the login then starts at Okta, whose own routing rules (IdP discovery) forward the user.
    """
    email = email.strip()
    if not is_email(email):
        raise InvalidEmail(f"{email!r} is not an e-mail address")
    domain = email_domain(email)
    external = rules.external_idp_for(email)
    if external is None:
        return LoginRoute(tenant, email, domain, main_idp, False, main_login_url)
    return LoginRoute(tenant, email, domain, external.name, True, external.login_url or main_login_url)
