"""Okta's user lifecycle as a table: which operation is legal in which status, and where it leads.

Why a table of values: the rules are the part of Okta most worth testing exhaustively, and a
pure `plan()` can be tested for every (status, operation) pair without a server. Sources: SPEC
(UserLifecycle operations), L-USERS, the status diagram of okta-developer-docs (FACTS §2).
"""

from __future__ import annotations

from dataclasses import dataclass

from idsync.emulator.okta.errors import OktaError

__all__ = ["EVENT_MESSAGES", "STATUSES", "Transition", "plan"]

STATUSES = (
    "STAGED",
    "PROVISIONED",
    "ACTIVE",
    "RECOVERY",
    "LOCKED_OUT",
    "PASSWORD_EXPIRED",
    "SUSPENDED",
    "DEPROVISIONED",
)

# System Log display messages of the event types the emulator emits (UNVERIFIED wording).
EVENT_MESSAGES = {
    "user.lifecycle.create": "Create Okta user",
    "user.lifecycle.activate": "Activate Okta user",
    "user.lifecycle.deactivate": "Deactivate Okta user",
    "user.lifecycle.reactivate": "Reactivate Okta user",
    "user.lifecycle.suspend": "Suspend Okta user",
    "user.lifecycle.unsuspend": "Unsuspend Okta user",
    "user.lifecycle.delete.initiated": "Delete Okta user",
    "user.account.update_profile": "Update user profile for Okta",
    "group.user_membership.add": "Add user to group membership",
    "group.user_membership.remove": "Remove user from group membership",
    "application.user_membership.add": "Add user to application membership",
}


@dataclass(frozen=True)
class Transition:
    """The outcome of a legal operation: the new status and the System Log event it writes."""

    to: str
    event: str | None


def _not_active(op: str, wanted: str) -> OktaError:
    # L-USERS: 400 E0000001 for suspend/unsuspend in the wrong status; the cause wording is UNVERIFIED.
    text = f"Cannot {op} a user that is not {wanted}"
    return OktaError(400, "E0000001", f"Api validation failed: {text}", (text,))


def plan(op: str, status: str, has_password: bool) -> Transition:
    """The transition of lifecycle operation `op` on a user in `status`, or the `OktaError` Okta answers."""
    if op == "activate":
        if status in ("STAGED", "DEPROVISIONED"):
            return Transition("ACTIVE" if has_password else "PROVISIONED", "user.lifecycle.activate")
        raise OktaError.already_active() if status == "ACTIVE" else OktaError.wrong_status()
    if op == "reactivate":
        if status in ("PROVISIONED", "RECOVERY"):
            return Transition("PROVISIONED", "user.lifecycle.reactivate")
        raise OktaError.wrong_status()
    if op == "deactivate":
        if status != "DEPROVISIONED":
            return Transition("DEPROVISIONED", "user.lifecycle.deactivate")
        raise OktaError.wrong_status()
    if op == "suspend":
        if status == "ACTIVE":
            return Transition("SUSPENDED", "user.lifecycle.suspend")
        raise _not_active("suspend", "active")
    if op == "unsuspend":
        if status == "SUSPENDED":
            return Transition("ACTIVE", "user.lifecycle.unsuspend")
        raise _not_active("unsuspend", "suspended")
    if op == "unlock":
        if status == "LOCKED_OUT":
            return Transition("ACTIVE", None)
        raise OktaError.unlock_not_allowed()
    if op == "expire_password":
        if status in ("ACTIVE", "PASSWORD_EXPIRED", "RECOVERY"):
            return Transition("PASSWORD_EXPIRED", None)
        raise OktaError.wrong_status()
    if op == "reset_password":
        if status in ("ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY", "PROVISIONED"):
            return Transition("RECOVERY", None)
        raise OktaError.wrong_status()
    if op == "delete":
        if status == "DEPROVISIONED":
            return Transition("DELETED", "user.lifecycle.delete.initiated")
        return Transition("DEPROVISIONED", "user.lifecycle.deactivate")
    raise ValueError(f"unknown lifecycle operation {op!r}")
