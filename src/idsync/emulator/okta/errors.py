"""Okta's error answers as values: HTTP status, `errorCode`, `errorSummary`, `errorCauses`.

Why one exception type: handlers raise `OktaError` from deep inside state changes and the
pipeline turns it into Okta's body (`errorCode`, `errorSummary`, `errorLink`, `errorId`,
`errorCauses`). Codes, statuses and summaries come from Okta's error catalog (FACTS §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["OktaError"]


class OktaError(Exception):
    """An error answer of the Okta API."""

    headers: tuple[tuple[str, str], ...] = ()
    """Extra response headers, e.g. `WWW-Authenticate` on an OAuth token's errors (api_auth)."""

    def __init__(self, status: int, code: str, summary: str, causes: Sequence[str] = ()) -> None:
        super().__init__(f"{status} {code} {summary}")
        self.status = status
        self.code = code
        self.summary = summary
        self.causes = tuple(causes)

    def body(self, error_id: str) -> dict[str, Any]:
        return {
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": error_id,
            "errorCauses": [{"errorSummary": c} for c in self.causes],
        }

    # --- the catalogue used by the emulator -------------------------------------------------

    @classmethod
    def api_validation(cls, field: str, *causes: str) -> OktaError:
        """400 E0000001, e.g. a duplicate login: `Api validation failed: login`."""
        return cls(400, "E0000001", f"Api validation failed: {field}", causes)

    @classmethod
    def duplicate_login(cls) -> OktaError:
        """Okta's documented cause text for a login that exists (CORE "Errors" example)."""
        return cls.api_validation(
            "login", "login: An object with this field already exists in the current organization"
        )

    @classmethod
    def malformed_body(cls) -> OktaError:
        return cls(400, "E0000003", "The request body was not well-formed.")

    @classmethod
    def invalid_session(cls) -> OktaError:
        """403 E0000005: observed when no Authorization header is sent."""
        return cls(403, "E0000005", "Invalid session")

    @classmethod
    def forbidden(cls) -> OktaError:
        return cls(403, "E0000006", "You do not have permission to perform the requested action")

    @classmethod
    def not_found(cls, what: str, kind: str) -> OktaError:
        """404 E0000007 as observed: `Not found: Resource not found: 00u… (User)`."""
        return cls(404, "E0000007", f"Not found: Resource not found: {what} ({kind})")

    @classmethod
    def internal(cls) -> OktaError:
        return cls(500, "E0000009", "Internal Server Error")

    @classmethod
    def unavailable(cls, status: int = 503) -> OktaError:
        if status == 503:
            return cls(503, "E0000010", "Service is in read only mode")
        return cls(status, "E0000009", "Internal Server Error")

    @classmethod
    def invalid_token(cls) -> OktaError:
        return cls(401, "E0000011", "Invalid token provided")

    @classmethod
    def feature_not_enabled(cls) -> OktaError:
        """401 E0000015, observed for `GET /users/{id}/blocks` in an org without that feature."""
        return cls(401, "E0000015", "You do not have permission to access the feature you are requesting")

    @classmethod
    def still_activating(cls) -> OktaError:
        """409 E0000112 (ERRCAT): a write to a user whose activation has not finished."""
        return cls(
            409,
            "E0000112",
            "Cannot update this user because they are still being activated. "
            "Please try again in a few minutes.",
        )

    @classmethod
    def already_active(cls) -> OktaError:
        return cls(403, "E0000016", "Activation failed because the user is already active")

    @classmethod
    def method_not_allowed(cls) -> OktaError:
        return cls(405, "E0000022", "The endpoint does not support the provided HTTP method")

    @classmethod
    def invalid_paging(cls, cause: str = "Invalid cursor.") -> OktaError:
        return cls(400, "E0000029", "Invalid paging request.", (cause,))

    @classmethod
    def invalid_search(cls, cause: str) -> OktaError:
        return cls(400, "E0000031", "Invalid search criteria.", (cause,))

    @classmethod
    def unlock_not_allowed(cls) -> OktaError:
        return cls(403, "E0000032", "Unlock is not allowed for this user.", ("The user is not locked out.",))

    @classmethod
    def wrong_status(cls) -> OktaError:
        """403 E0000038, observed for reactivate on a STAGED user, with no causes."""
        return cls(403, "E0000038", "This operation is not allowed in the user's current status.")

    @classmethod
    def rate_limited(cls) -> OktaError:
        return cls(429, "E0000047", "API call exceeded rate limit due to too many requests.")

    @classmethod
    def delete_active_app(cls) -> OktaError:
        return cls(
            403,
            "E0000056",
            "Delete application forbidden.",
            ("The application must be deactivated before deletion.",),
        )

    @classmethod
    def too_many_groups(cls) -> OktaError:
        return cls(400, "E0000093", "Target count limit exceeded")

    @classmethod
    def expire_needs_password(cls) -> OktaError:
        return cls(
            400,
            "E0000124",
            "Could not create user. To create a user and expire their password immediately, "
            "a password must be specified",
        )

    @classmethod
    def expire_needs_activation(cls) -> OktaError:
        return cls(
            400,
            "E0000125",
            "Could not create user. To create a user and expire their password immediately, "
            '"activate" must be true',
        )
