"""The `[inbound.<name>]` sections: one integration per application that takes Okta as master.

```toml
[inbound.efs]
idp = "okta"                                  # an [idps] entry of type okta (or emulator)
hook_secret_env = "IDSYNC_HOOK_SECRET_EFS"    # the shared secret Okta sends in Authorization
public_url = "https://idsync.example.com"     # Okta calls {public_url}/hooks/okta/efs
match_on = ["email"]                          # application fields that re-link existing users
[inbound.efs.fields]                          # application field = Okta profile attribute
first_name = "firstName"
[inbound.efs.groups]                          # Okta group (name or id) = application role
"EFS Admins" = "admin"
[inbound.efs.target]
type = "sql"                                  # or "http", "kafka"
url_env = "EFS_DATABASE_URL"
```

Kept free of `idsync.config` imports (that module imports this one); secrets are resolved by
`resolve_inbound`, called from `idsync.config` with the environment mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from idsync.errors import ConfigError

__all__ = [
    "DEFAULT_ACTIVE_STATUSES",
    "DEFAULT_FIELDS",
    "AnyTarget",
    "HttpTargetSettings",
    "InboundSettings",
    "KafkaTargetSettings",
    "SqlTargetSettings",
    "resolve_inbound",
]

# Application field (SQL column, JSON key) = Okta profile attribute. The seed's mapped fields.
DEFAULT_FIELDS = {"first_name": "firstName", "last_name": "lastName", "email": "email", "title": "title"}
# Okta statuses in which the application user is active. Not here: STAGED (not yet activated),
# SUSPENDED (locked out by an admin), DEPROVISIONED (deactivated); a deleted user is inactive too.
DEFAULT_ACTIVE_STATUSES = ["ACTIVE", "PROVISIONED", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"]
_OKTA_STATUSES = {*DEFAULT_ACTIVE_STATUSES, "STAGED", "SUSPENDED", "DEPROVISIONED"}
_MIN_SECRET = 16


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlTargetSettings(_Strict):
    """A table of the application's database, written through SQLAlchemy."""

    type: Literal["sql"]
    url: str | None = None
    url_env: str | None = None  # preferred when the URL carries a password
    table: str = "app_users"
    key_column: str = "id"
    # "generated": the database makes the key (autoincrement); "okta_id": the Okta user id is the key.
    key_from: Literal["generated", "okta_id"] = "generated"
    external_id_column: str | None = None  # holds the Okta id; cleared when the integration is removed
    roles_table: str | None = "app_user_roles"
    roles_user_column: str = "user_id"
    roles_role_column: str = "role"
    create_tables: bool = False  # create both tables when missing (demo, tests)
    resolved_url: SecretStr | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _one_url(self) -> SqlTargetSettings:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give exactly one of url and url_env")
        return self


class HttpTargetSettings(_Strict):
    """A JSON POST per change to the application's callback URL, retried on 429/5xx/no answer."""

    type: Literal["http"]
    url: str
    token_env: str | None = None  # sent as `Authorization: Bearer <token>`
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_base_s: Annotated[float, Field(gt=0)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0)] = 30.0
    token: SecretStr | None = Field(default=None, exclude=True)


class KafkaTargetSettings(_Strict):
    """A message per change on a Kafka topic, keyed by Okta user id (one user's changes stay ordered)."""

    type: Literal["kafka"]
    bootstrap_servers: str
    topic: str
    client_id: str = "idsync-inbound"
    send_timeout_s: Annotated[float, Field(gt=0)] = 30.0


AnyTarget = SqlTargetSettings | HttpTargetSettings | KafkaTargetSettings
TargetSettings = Annotated[AnyTarget, Field(discriminator="type")]


class InboundSettings(_Strict):
    idp: str = "okta"
    target: TargetSettings
    hook_secret_env: str | None = None
    hook_secret: SecretStr | None = Field(default=None, exclude=True)
    public_url: str | None = None  # default: http://{service.host}:{service.port}
    fields: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_FIELDS))
    active_field: str | None = "active"
    required: list[str] = ["email", "firstName", "lastName"]
    match_on: list[str] = ["email"]
    active_statuses: list[str] = Field(default_factory=lambda: list(DEFAULT_ACTIVE_STATUSES))
    groups: dict[str, str] = {}
    page_size: Annotated[int, Field(ge=1, le=200)] = 100
    # The delta sync after a resume starts this long before the pause (clock skew, late writes).
    delta_margin_s: Annotated[float, Field(ge=0)] = 300.0
    event_retention_s: Annotated[float, Field(gt=0)] = 7 * 86400.0  # processed ids kept for dedup
    log_retention_s: Annotated[float, Field(gt=0)] = 30 * 86400.0  # event/delivery log entries
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 8  # per event, on transient failures
    retry_backoff_s: Annotated[float, Field(gt=0)] = 2.0
    # Inbound safety (domain/inbound_safety.py): a run (a sync; the events of a window) that would
    # deactivate or strip roles from more than this share (or count) of the linked users is held.
    max_deprovision_share: Annotated[float, Field(ge=0, le=1)] = 0.2
    max_deprovision_count: Annotated[int, Field(ge=0)] | None = None
    deprovision_floor: Annotated[int, Field(ge=0)] = 10
    safety_window_s: Annotated[float, Field(gt=0)] = 3600.0

    @model_validator(mode="after")
    def _consistent(self) -> InboundSettings:
        if self.active_field is not None and self.active_field in self.fields:
            raise ValueError(f"active_field {self.active_field!r} is also a mapped field")
        unknown = [f for f in self.match_on if f not in self.fields]
        if unknown:
            raise ValueError(f"match_on names unmapped fields: {', '.join(unknown)}")
        bad = [s for s in self.active_statuses if s not in _OKTA_STATUSES]
        if bad:
            raise ValueError(f"active_statuses: not Okta statuses: {', '.join(bad)}")
        if self.groups and isinstance(self.target, SqlTargetSettings) and not self.target.roles_table:
            raise ValueError("groups map to roles, but the SQL target has no roles_table")
        if any(not r.strip() for r in self.groups.values()):
            raise ValueError("groups: a role name is empty")
        return self

    def hook_url(self, name: str, default_base: str) -> str:
        return f"{(self.public_url or default_base).rstrip('/')}/hooks/okta/{name}"


def resolve_inbound(
    inbound: Mapping[str, InboundSettings], idps: Mapping[str, object], environ: Mapping[str, str]
) -> dict[str, InboundSettings]:
    """Check cross-references and read the secrets named by `*_env` settings from `environ`."""
    resolved: dict[str, InboundSettings] = {}
    for name, s in inbound.items():
        where = f"inbound.{name}"
        if s.idp not in idps:
            raise ConfigError(f"{where}.idp: no IdP named {s.idp!r} under [idps]")
        update: dict[str, object] = {}
        if s.hook_secret_env and environ.get(s.hook_secret_env):
            secret = environ[s.hook_secret_env]
            if len(secret) < _MIN_SECRET:
                raise ConfigError(
                    f"{where}.hook_secret_env: the secret in {s.hook_secret_env} is shorter than "
                    f"{_MIN_SECRET} characters"
                )
            update["hook_secret"] = SecretStr(secret)
        update["target"] = _resolve_target(s.target, f"{where}.target", environ)
        resolved[name] = s.model_copy(update=update)
    return resolved


def _env(environ: Mapping[str, str], var: str, where: str) -> SecretStr:
    value = environ.get(var, "")
    if not value:
        raise ConfigError(f"{where}: environment variable {var} is not set")
    return SecretStr(value)


def _resolve_target(target: AnyTarget, where: str, environ: Mapping[str, str]) -> AnyTarget:
    if isinstance(target, SqlTargetSettings):
        if target.url_env:
            url = _env(environ, target.url_env, f"{where}.url_env")
        else:
            url = SecretStr(target.url or "")
        return target.model_copy(update={"resolved_url": url})
    if isinstance(target, HttpTargetSettings) and target.token_env:
        return target.model_copy(update={"token": _env(environ, target.token_env, f"{where}.token_env")})
    return target
