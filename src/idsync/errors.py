"""Errors of idsync. Callers catch by meaning, not by library; adapters wrap foreign errors.

IdSyncError
├── ConfigError            the configuration file or environment is wrong (exit code 2)
├── InputError             an input file cannot be read at all (bad rows are results, not errors)
├── StoreError             the state store failed
│   └── LinkConflict       a second identity would hold one IdP account (inbound: one app user)
├── TargetError            writing to an application (inbound target) failed
│   └── Ambiguous          several application users match one Okta user
└── ProviderError          an IdP call failed; `code` becomes the result's reason code
    ├── Unauthorized       the token was refused (401/403 on auth)
    ├── NotFound           no such user/app at the IdP
    ├── Conflict           unique value taken (a login that already exists)
    ├── LoginTaken         the login is held by an account this identity may not take (policy)
    ├── InvalidRequest     the IdP rejected the data (400, names the field)
    ├── IllegalTransition  the user's status does not allow this lifecycle operation
    ├── RateLimited        429 and the wait budget is spent
    ├── Unavailable        5xx / connection failures, after bounded retries
    ├── UnknownOutcome     a write was sent but no answer came (timeout, dropped connection)
    ├── NotYetVisible      the IdP says a login exists but its lists do not show it yet
    ├── SourceUnavailable  the IdP refused bulk import sessions (feature off, wrong source)
    └── CircuitOpen        the IdP kept failing; calls are paused
"""

from __future__ import annotations

from typing import Any


class IdSyncError(Exception):
    """Root of every error idsync raises on purpose."""


class ConfigError(IdSyncError):
    """The configuration is invalid; the message names the setting."""


class InputError(IdSyncError):
    """An input cannot be read at all."""


class StoreError(IdSyncError):
    """The state store failed."""


class LinkConflict(StoreError):
    """A link would make a second identity hold an IdP account (the store's unique constraint on
    (idp, idp_id) refused it): another identity claimed the account first. Inbound sync raises it
    when an application user is linked to another Okta user already."""


class ProviderError(IdSyncError):
    code = "idp_error"
    retryable = False
    partial_link: Any = None  # set by the engine: the link as far as a plan got before this error

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.error_code = error_code  # e.g. Okta's E0000001


class Unauthorized(ProviderError):
    code = "idp_unauthorized"


class NotFound(ProviderError):
    code = "not_found"


class Conflict(ProviderError):
    code = "conflict"


class LoginTaken(ProviderError):
    """The login belongs to an account that the tenant's `existing_account` policy does not let
    this identity link: another identity's, another tenant's, or one made outside idsync."""

    code = "login_taken"


class InvalidRequest(ProviderError):
    code = "idp_rejected"


class IllegalTransition(ProviderError):
    code = "illegal_transition"


class RateLimited(ProviderError):
    code = "rate_limited"
    retryable = True


class Unavailable(ProviderError):
    code = "idp_unavailable"
    retryable = True


class UnknownOutcome(ProviderError):
    code = "unknown_outcome"
    retryable = True


class NotYetVisible(ProviderError):
    """A create was refused because the login exists, but the account cannot be found yet: Okta's
    search lags behind writes (okta/FACTS.md §1). Retried later, when the lists have caught up."""

    code = "idp_lagging"
    retryable = True


class SourceUnavailable(ProviderError):
    """Okta refused the identity source's import sessions (403/404): the org lacks Identity
    Source Apps, the token lacks okta.identitySources.manage, or the source id is wrong."""

    code = "identity_source_unavailable"


class CircuitOpen(ProviderError):
    code = "circuit_open"
    retryable = True


class TargetError(IdSyncError):
    """Writing to the application failed; `retryable` says whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Ambiguous(TargetError):
    """More than one application user matches the Okta user's e-mail/login: none is guessed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)
