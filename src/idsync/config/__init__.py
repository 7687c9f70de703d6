"""Configuration: one TOML file, validated at start-up; secrets come from environment variables.

Every error names the setting (`tenants.efs-prod.mode: ...`) so a typo never starts a migration.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from idsync.config.access import SsoSettings, resolve_sso
from idsync.config.inbound import InboundSettings, resolve_inbound
from idsync.domain.policy import (
    DeletePolicy,
    ExistingAccount,
    ExternalIdp,
    RoutingRules,
    SyncMode,
    TenantPolicy,
)
from idsync.domain.safety import SafetyRules
from idsync.errors import ConfigError

DEFAULT_TENANT = "*"
EMULATOR_TOKEN = "idsync-emulator-token"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Strict):
    url: str = "sqlite:///idsync.db"


class GovernorSettings(_Strict):
    """How one IdP's calls are paced and retried (see docs/architecture.md, "The governor")."""

    budget_share: Annotated[float, Field(gt=0, le=1)] = 0.8
    # The most calls in flight, ever (Okta caps an org at 75, 35 on Integrator Free). The governor
    # keeps to CRUISE_CONCURRENCY (8) and goes above it only where round trips set the pace.
    max_concurrency: Annotated[int, Field(ge=1, le=75)] = 40
    interactive_reserve: Annotated[float, Field(ge=0, lt=0.5)] = 0.02
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    backoff_base_s: Annotated[float, Field(gt=0)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0)] = 30.0
    max_rate_limit_waits: Annotated[int, Field(ge=1)] = 20
    circuit_failures: Annotated[int, Field(ge=1)] = 20
    circuit_cooldown_s: Annotated[float, Field(gt=0)] = 30.0
    timeout_s: Annotated[float, Field(gt=0)] = 10.0


class OAuthSettings(_Strict):
    """An Okta OAuth 2.0 service app instead of an API token (docs/deployment.md): client
    credentials with private_key_jwt; DPoP when the org asks for it (`dpop = true` always)."""

    client_id: Annotated[str, Field(min_length=1)]
    private_key_env: Annotated[str, Field(min_length=1)]  # PEM (or JWK JSON) private key
    scopes: Annotated[list[str], Field(min_length=1)]
    key_id: str | None = None  # the `kid` of the app's public key this private key belongs to
    dpop: bool | None = None
    renew_before_s: Annotated[float, Field(ge=0, le=1800)] = 300.0
    private_key: SecretStr | None = Field(default=None, exclude=True)

    @field_validator("scopes")
    @classmethod
    def _okta_scopes(cls, scopes: list[str]) -> list[str]:
        for scope in scopes:
            if not re.fullmatch(r"okta\.[A-Za-z]+(\.[A-Za-z]+)+", scope):
                raise ValueError(f"{scope!r} is not an Okta API scope (like okta.users.manage)")
        return scopes


class IdentitySourceSettings(_Strict):
    """Bulk creates and updates through an Okta identity source's import sessions (docs/migration.md,
    "Identity sources"): `id` is the Custom Identity Source's app id; `fallback` says what happens
    when Okta refuses the sessions (403/404): "error" fails the users with the reason, "standard"
    creates them one by one on /api/v1/users."""

    id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
    fallback: Literal["error", "standard"] = "error"
    poll_s: Annotated[float, Field(gt=0, le=300)] = 5.0  # how often a triggered session is read
    fill_wait_s: Annotated[float, Field(gt=0, le=600)] = 2.0  # no new user this long: start the import
    uploads_per_session: Annotated[int, Field(ge=1, le=50)] = 50  # of up to 200 users each
    session_gap_s: Annotated[float, Field(ge=0)] = 300.0  # Okta: one new session per 5 minutes
    list_lag_s: Annotated[float, Field(ge=0, le=600)] = 5.0  # how far Okta's user lists may lag
    read_while_running: bool = True  # read the last session's users while Okta still processes it


class IdpSettings(_Strict):
    type: Literal["okta", "scim", "emulator"]
    url: str | None = None
    token_env: str | None = None
    oauth: OAuthSettings | None = None  # type = "okta": a service app instead of token_env
    identity_source: IdentitySourceSettings | None = None  # Okta: bulk imports through a source
    governor: GovernorSettings = GovernorSettings()
    # type = "emulator": an Okta emulator started in-process (the embedded default).
    state_file: str | None = None
    time_scale: Annotated[float, Field(gt=0)] = 1.0
    token: SecretStr | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _needs_url(self) -> IdpSettings:
        if self.type != "emulator" and not self.url:
            raise ValueError(f"url is required for an IdP of type {self.type}")
        if self.oauth is not None and self.type != "okta":
            raise ValueError("oauth: only an IdP of type okta can use an OAuth 2.0 service app")
        if self.identity_source is not None and self.type == "scim":
            raise ValueError("identity_source: only Okta (type okta or emulator) has identity sources")
        if self.oauth is not None and self.token_env:
            raise ValueError("token_env and oauth exclude each other: use an API token or a service app")
        if self.type != "emulator" and not self.token_env and self.oauth is None:
            raise ValueError(
                "token_env is required: the name of the environment variable holding the token"
                + (" (or oauth = {...} for an OAuth 2.0 service app)" if self.type == "okta" else "")
            )
        return self


class ExternalIdpSettings(_Strict):
    name: str
    domains: list[Annotated[str, Field(min_length=1)]]
    login_url: str = ""


class TenantSettings(_Strict):
    idp: str = "okta"
    mode: SyncMode = SyncMode.SYNC
    delete_policy: DeletePolicy = DeletePolicy.IGNORE
    external_idps: list[ExternalIdpSettings] = []
    attribute_map: dict[str, str] | None = None
    send_activation_email: bool = True
    # A login already held by an IdP account (docs/migration.md, "Shared logins"): reject,
    # adopt_unlinked, or merge_sources (sources of this tenant share one account; the first source
    # of source_priority masters its profile). Never across tenants.
    existing_account: ExistingAccount = ExistingAccount.REJECT
    source_priority: list[Annotated[str, Field(min_length=1)]] = []
    # Groups assigned to every portal (OIDC app) registered for this tenant: Okta signs a user in
    # to an app only when the user is assigned to it.
    portal_groups: list[Annotated[str, Field(min_length=1)]] = ["Everyone"]
    # Safety threshold (domain/safety.py): a run (an import; single changes per tenant and window)
    # whose deactivations and deletions would exceed this share of the tenant's linked users is
    # held until released or forced; it may always remove `deprovision_floor` users.
    max_deprovision_share: Annotated[float, Field(ge=0, le=1)] = 0.2
    deprovision_floor: Annotated[int, Field(ge=0)] = 10
    safety_window_s: Annotated[float, Field(gt=0)] = 3600.0
    # Where users not routed to an external IdP log in: the main IdP's OpenID Connect issuer (the
    # Okta org URL, or .../oauth2/default). None: the IdP's url (docs/login-flows.md, idsync route).
    login_url: str | None = None

    @model_validator(mode="after")
    def _merge_needs_priority(self) -> TenantSettings:
        if self.existing_account is ExistingAccount.MERGE_SOURCES and not self.source_priority:
            raise ValueError(
                "source_priority is required with existing_account = merge_sources: the sources in "
                'the order in which they master a shared profile, e.g. ["efs-admin", "panelist"]'
            )
        if len(set(self.source_priority)) != len(self.source_priority):
            raise ValueError("source_priority: a source is listed twice")
        return self

    def policy(self, tenant: str) -> TenantPolicy:
        return TenantPolicy(
            tenant=tenant,
            idp=self.idp,
            mode=self.mode,
            delete_policy=self.delete_policy,
            routing=RoutingRules(
                tuple(
                    ExternalIdp(e.name, tuple(d.lower() for d in e.domains), e.login_url)
                    for e in self.external_idps
                )
            ),
            attribute_map=self.attribute_map,
            send_activation_email=self.send_activation_email,
            existing_account=self.existing_account,
            source_priority=tuple(self.source_priority),
        )


class ServiceSettings(_Strict):
    """`idsync serve`: where the HTTP API listens; the installation's admin token (the API tokens of
    `idsync tokens` are kept in the store); the dashboard's sign-in through the IdP (`sso`)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8400
    api_token_env: str | None = "IDSYNC_API_TOKEN"
    api_token: SecretStr | None = Field(default=None, exclude=True)
    # How long a single change submitted over HTTP waits for its result before answering 202.
    interactive_wait_s: Annotated[float, Field(ge=0, le=60)] = 5.0
    # Names this process among several on one store (claims, budget shares); default host-pid.
    instance_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    # Several instances on PostgreSQL: how often each syncs its share of every IdP budget, and
    # after how long without a heartbeat an instance counts as gone (its share and users freed).
    coordination_interval_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    instance_ttl_s: Annotated[float, Field(gt=0)] = 15.0
    # How often each instance reads the tenants' sync modes (switched at runtime: idsync tenants).
    mode_refresh_s: Annotated[float, Field(gt=0, le=10)] = 2.0
    sso: SsoSettings | None = None


class KafkaTopics(_Strict):
    changes: str = "idsync.changes"  # consumed: change messages (and import_end controls)
    results: str = "idsync.results"  # produced: one result per change
    progress: str = "idsync.import-progress"  # produced: import progress (may equal results)
    dead_letter: str = "idsync.changes.dlq"  # produced: messages that are not valid changes


class KafkaSettings(_Strict):
    """The Kafka transport of `idsync serve` (absent: no Kafka). See docs/deployment.md."""

    bootstrap_servers: Annotated[str, Field(min_length=1)]
    group_id: str = "idsync"
    client_id: str = "idsync"
    topics: KafkaTopics = KafkaTopics()
    max_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    progress_interval_s: Annotated[float, Field(gt=0)] = 5.0
    publish_interval_s: Annotated[float, Field(gt=0)] = 0.2
    session_timeout_ms: Annotated[int, Field(ge=100)] = 10_000
    heartbeat_interval_ms: Annotated[int, Field(ge=10)] = 3_000
    rebalance_timeout_ms: Annotated[int, Field(ge=100)] | None = None
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    sasl_password: SecretStr | None = Field(default=None, exclude=True)


class Settings(_Strict):
    store: StoreSettings = StoreSettings()
    service: ServiceSettings = ServiceSettings()
    kafka: KafkaSettings | None = None
    idps: dict[str, IdpSettings] = {}
    tenants: dict[str, TenantSettings] = {}
    inbound: dict[str, InboundSettings] = {}  # Okta -> application integrations (docs/inbound.md)

    @model_validator(mode="after")
    def _tenants_name_idps(self) -> Settings:
        for name, tenant in self.tenants.items():
            if tenant.idp not in self.idps:
                raise ValueError(f"tenants.{name}.idp: no IdP named {tenant.idp!r} under [idps]")
        return self

    def tenant_names(self) -> set[str] | None:
        """The configured tenants; None when a `*` tenant makes any name valid."""
        return None if DEFAULT_TENANT in self.tenants else set(self.tenants)

    def tenant(self, name: str) -> TenantSettings | None:
        return self.tenants.get(name) or self.tenants.get(DEFAULT_TENANT)

    def policy(self, name: str) -> TenantPolicy | None:
        tenant = self.tenant(name)
        return tenant.policy(name) if tenant else None

    def safety_rules(self, name: str) -> SafetyRules | None:
        """The tenant's safety threshold (None: an unknown tenant, whose changes reach no IdP)."""
        t = self.tenant(name)
        if t is None:
            return None
        return SafetyRules(
            share=t.max_deprovision_share,
            floor=t.deprovision_floor,
            window_s=t.safety_window_s,
            delete_acts=t.delete_policy is not DeletePolicy.IGNORE,
        )


def embedded_default(data_dir: Path) -> dict[str, object]:
    """The no-configuration set-up: SQLite and the built-in Okta emulator, any tenant in `sync` mode."""
    return {
        "store": {"url": f"sqlite:///{data_dir / 'idsync.db'}"},
        "idps": {"okta": {"type": "emulator", "state_file": str(data_dir / "emulator.db")}},
        "tenants": {DEFAULT_TENANT: {"idp": "okta", "mode": "sync"}},
    }


def load_settings(path: Path | None, environ: Mapping[str, str], *, data_dir: Path = Path("var")) -> Settings:
    """Read and validate the TOML file (or the embedded default) and resolve secrets."""
    raw: dict[str, object]
    if path is None:
        raw = embedded_default(data_dir)
    else:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: configuration file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return settings_from_dict(raw, environ, origin=str(path or "embedded default"))


def settings_from_dict(
    raw: Mapping[str, object], environ: Mapping[str, str], *, origin: str = "config"
) -> Settings:
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{loc}: {msg}" if loc else msg)
        raise ConfigError(f"{origin}: " + "; ".join(problems)) from None
    return _resolve_secrets(settings, environ)


def _resolve_secrets(settings: Settings, environ: Mapping[str, str]) -> Settings:
    service = settings.service
    if service.api_token_env and environ.get(service.api_token_env):
        service = service.model_copy(update={"api_token": SecretStr(environ[service.api_token_env])})
    service = service.model_copy(update={"sso": resolve_sso(service.sso, environ, settings.tenant_names())})
    settings = settings.model_copy(update={"service": service})
    kafka = settings.kafka
    if kafka is not None and kafka.sasl_password_env:
        password = environ.get(kafka.sasl_password_env, "")
        if not password:
            raise ConfigError(
                f"kafka.sasl_password_env: environment variable {kafka.sasl_password_env} is not set"
            )
        kafka = kafka.model_copy(update={"sasl_password": SecretStr(password)})
        settings = settings.model_copy(update={"kafka": kafka})
    idps = {}
    for name, idp in settings.idps.items():
        if idp.oauth is not None:
            idps[name] = idp.model_copy(update={"oauth": _resolve_oauth(name, idp.oauth, environ)})
            continue
        if idp.type == "emulator":
            token = environ.get(idp.token_env, EMULATOR_TOKEN) if idp.token_env else EMULATOR_TOKEN
        else:
            assert idp.token_env is not None
            token = environ.get(idp.token_env, "")
            if not token:
                raise ConfigError(f"idps.{name}.token_env: environment variable {idp.token_env} is not set")
        idps[name] = idp.model_copy(update={"token": SecretStr(token)})
    inbound = resolve_inbound(settings.inbound, idps, environ)
    return settings.model_copy(update={"idps": idps, "inbound": inbound})


def _resolve_oauth(name: str, oauth: OAuthSettings, environ: Mapping[str, str]) -> OAuthSettings:
    key = environ.get(oauth.private_key_env, "")
    if not key.strip():
        raise ConfigError(
            f"idps.{name}.oauth.private_key_env: environment variable {oauth.private_key_env} is not set"
        )
    return oauth.model_copy(update={"private_key": SecretStr(key)})
