"""`[service.sso]`: the dashboard's sign-in through the organisation's IdP (OpenID Connect).

    [service.sso]
    issuer = "https://example.okta.com"          # the org authorization server
    client_id = "0oa1b2c3d4"
    client_secret_env = "IDSYNC_SSO_CLIENT_SECRET"
    [service.sso.groups]                          # group in the ID token -> role (and tenants)
    "idsync-admins" = "admin"
    "efs-prod-support" = { role = "viewer", tenants = ["efs-prod"] }

The authorization code flow with PKCE (S256); roles come from the `groups` claim of the ID
token (Okta puts it there when the app has a groups claim and the `groups` scope is asked for).
A sign-in whose groups map to nothing is refused. The API token form stays as the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from idsync.domain.authz import Grant, Role
from idsync.errors import ConfigError

__all__ = ["GroupGrant", "SsoSettings", "resolve_sso"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupGrant(_Strict):
    role: str
    tenants: list[Annotated[str, Field(pattern=_NAME)]] | None = None  # None: every tenant

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return Role.parse(value).label

    def grant(self) -> Grant:
        return Grant(Role.parse(self.role), tuple(self.tenants) if self.tenants is not None else None)


class SsoSettings(_Strict):
    issuer: Annotated[str, Field(min_length=1)]
    client_id: Annotated[str, Field(min_length=1)]
    # A confidential (web) client's secret; none for a public client (PKCE alone).
    client_secret_env: str | None = None
    # Default: {the URL the dashboard was opened at}/dashboard/sso/callback.
    redirect_uri: str | None = None
    scopes: list[str] = ["openid", "profile", "email", "groups"]
    groups_claim: Annotated[str, Field(min_length=1)] = "groups"
    label: Annotated[str, Field(min_length=1, max_length=100)] = "Sign in with your organisation's IdP"
    groups: dict[str, GroupGrant] = {}
    client_secret: SecretStr | None = Field(default=None, exclude=True)

    @field_validator("groups", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        """`"idsync-admins" = "admin"` is short for `{ role = "admin" }` (every tenant)."""
        if isinstance(value, Mapping):
            return {k: {"role": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("issuer", "redirect_uri")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _needs_openid_and_groups(self) -> SsoSettings:
        if "openid" not in self.scopes:
            raise ValueError("scopes: must include openid")
        if not self.groups:
            raise ValueError("groups: map at least one IdP group to a role, or nobody can sign in")
        return self

    def grants(self) -> dict[str, Grant]:
        return {group: g.grant() for group, g in self.groups.items()}

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def resolve_sso(
    sso: SsoSettings | None, environ: Mapping[str, str], tenants: set[str] | None
) -> SsoSettings | None:
    """Read the client secret from the environment and check that mapped tenants exist
    (`tenants` None: a `*` tenant is configured, so any tenant name is valid)."""
    if sso is None:
        return None
    for group, grant in sso.groups.items():
        unknown = [t for t in grant.tenants or () if tenants is not None and t not in tenants]
        if unknown:
            raise ConfigError(
                f"service.sso.groups.{group}.tenants: no tenant named {unknown[0]!r} under [tenants]"
            )
    if not sso.client_secret_env:
        return sso
    secret = environ.get(sso.client_secret_env, "")
    if not secret:
        raise ConfigError(
            f"service.sso.client_secret_env: environment variable {sso.client_secret_env} is not set"
        )
    return sso.model_copy(update={"client_secret": SecretStr(secret)})
