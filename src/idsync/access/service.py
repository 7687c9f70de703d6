"""Routing from the settings: the tenant's rules and its login URL, for the CLI and the HTTP API.

Why a separate module: `routing.route` stays pure; this is the one place that knows where a
tenant's rules (`tenants.<name>.external_idps`) and its main login URL (`tenants.<name>.login_url`,
else the IdP's `url`, else the URL of the built-in emulator once it runs) are configured.
"""

from __future__ import annotations

from collections.abc import Mapping

from idsync.access.routing import LoginRoute, route
from idsync.config import Settings
from idsync.errors import ConfigError

__all__ = ["UnknownTenant", "login_route", "main_login_url"]


class UnknownTenant(ConfigError):
    """The tenant is not configured (and there is no `*` tenant that would take it)."""


def main_login_url(settings: Settings, tenant: str, emulator_urls: Mapping[str, str] = {}) -> str:
    """Where the tenant's users who are not routed elsewhere log in ("" when nobody knows yet)."""
    config = settings.tenant(tenant)
    if config is None:
        raise UnknownTenant(f"tenant {tenant!r} is not configured")
    if config.login_url:
        return config.login_url.rstrip("/")
    idp = settings.idps.get(config.idp)
    url = (idp.url if idp is not None else None) or emulator_urls.get(config.idp, "")
    return url.rstrip("/")


def login_route(
    settings: Settings, tenant: str, email: str, emulator_urls: Mapping[str, str] = {}
) -> LoginRoute:
    """Where `email` of `tenant` logs in; raises `UnknownTenant` or `routing.InvalidEmail`."""
    policy = settings.policy(tenant)
    if policy is None:
        raise UnknownTenant(f"tenant {tenant!r} is not configured")
    return route(
        tenant,
        policy.routing,
        email,
        main_idp=policy.idp,
        main_login_url=main_login_url(settings, tenant, emulator_urls),
    )
