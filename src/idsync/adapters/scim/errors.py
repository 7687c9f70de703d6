"""SCIM errors (RFC 7644 §3.12) become idsync's typed errors.

A SCIM error carries an HTTP `status` and, for 400 and 409, a `scimType`. The status decides the
class; the scimType and detail go into the message for people. The same mapping serves whole
responses and the per-operation results of a /Bulk response, so a user gets the same error
whether its operation travelled alone or in a batch.

    401, 403                      -> Unauthorized
    404                           -> NotFound
    409 (uniqueness), 412         -> Conflict       (412: the resource changed under an If-Match)
    429                           -> RateLimited
    400, 413, 501, other 4xx      -> InvalidRequest
    5xx                           -> Unavailable

Failures of the scim2-client library itself are wrapped at this boundary too: a request it
refuses to build is an `InvalidRequest`; an answer it cannot read is `Unavailable` for a read and
`UnknownOutcome` for a write (the write may have happened).
"""

from __future__ import annotations

from typing import Any

from scim2_client import SCIMClientException, UnexpectedStatusCodeException
from scim2_models import Error, SCIMException

from idsync.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unauthorized,
    Unavailable,
    UnknownOutcome,
)

__all__ = ["copy_error", "from_library", "scim_error"]


def _class_for(status: int) -> type[ProviderError]:
    if status in (401, 403):
        return Unauthorized
    if status == 404:
        return NotFound
    if status in (409, 412):
        return Conflict
    if status == 429:
        return RateLimited
    if status >= 500 and status != 501:
        return Unavailable
    return InvalidRequest


def scim_error(
    provider: str, status: int, scim_type: str | None = None, detail: str | None = None, *, where: str = ""
) -> ProviderError:
    """The typed error for a SCIM error answer (whole response or one bulk operation)."""
    kind = f" ({scim_type})" if scim_type else ""
    place = f"{where}: " if where else ""
    message = f"{place}SCIM {status}{kind}: {detail or 'no detail'}"
    return _class_for(status)(message, provider=provider, status_code=status, error_code=scim_type or None)


def from_error(provider: str, error: Error, *, where: str = "") -> ProviderError:
    return scim_error(provider, int(error.status or 500), error.scim_type, error.detail, where=where)


def _status_of(source: Any) -> int | None:
    status = getattr(source, "status_code", None)
    return status if isinstance(status, int) else None


def from_library(provider: str, exc: Exception, *, write: bool, where: str = "") -> ProviderError:
    """Wrap an exception of scim2-client / scim2-models raised while building a request or
    reading its answer."""
    place = f"{where}: " if where else ""
    if isinstance(exc, SCIMException):
        # Raised by scim2-models: our payload broke the server's schema before it was sent, or (with
        # raise_scim_errors) the server's own error answer.
        return scim_error(
            provider, int(getattr(exc, "status", 400) or 400), exc.scim_type or None, str(exc), where=where
        )
    if isinstance(exc, UnexpectedStatusCodeException):
        answered = _status_of(exc.source)
        if answered is not None and answered >= 400:
            return scim_error(provider, answered, None, exc.message, where=where)
    if isinstance(exc, SCIMClientException):
        cls: type[ProviderError] = UnknownOutcome if write else Unavailable
        what = "the write may have happened" if write else "cannot read the answer"
        return cls(
            f"{place}SCIM answer not understood ({exc.message}); {what}",
            provider=provider,
            status_code=_status_of(exc.source),
        )
    return Unavailable(f"{place}{type(exc).__name__}: {exc}", provider=provider)


def copy_error(exc: ProviderError) -> ProviderError:
    """A fresh instance of `exc` for each waiting caller: the engine annotates the error it gets
    (`partial_link`), so callers of one batch must never share an instance."""
    clone = type(exc)(
        exc.message, provider=exc.provider, status_code=exc.status_code, error_code=exc.error_code
    )
    clone.__cause__ = exc
    return clone
