"""User operations with Okta's rules: validation, unique logins, statuses, e-mails and events.

Why separate from HTTP: every rule here is reachable from a test without a server, and the
handlers in `routes_users` only translate query strings and bodies.
"""

from __future__ import annotations

import re
from typing import Any

from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.events import user_target
from idsync.emulator.okta.lifecycle import plan
from idsync.emulator.okta.models import UserRecord, login_key
from idsync.emulator.okta.org import Org, RequestInfo

__all__ = [
    "apply_transition",
    "create_user",
    "delete_user",
    "find_user",
    "new_user_id",
    "run_lifecycle",
    "update_user",
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROVIDERS = {"OKTA", "ACTIVE_DIRECTORY", "FEDERATION", "IMPORT", "LDAP", "SOCIAL"}
_REQUIRED = ("login", "email", "firstName", "lastName")
_MAX_LEN = {"login": 100, "email": 100, "firstName": 50, "lastName": 50}


def _check_profile(profile: Any) -> dict[str, Any]:
    """Okta's base user schema: login, email, firstName, lastName required (cause texts UNVERIFIED)."""
    if not isinstance(profile, dict):
        raise OktaError.api_validation("profile", "profile: The field cannot be left blank")
    causes: list[tuple[str, str]] = []
    for name in _REQUIRED:
        value = profile.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            causes.append((name, f"{name}: The field cannot be left blank"))
        elif not isinstance(value, str):
            causes.append((name, f"{name}: Invalid value"))
        elif len(value) > _MAX_LEN[name]:
            causes.append((name, f"{name}: The field is too long"))
    login, email = profile.get("login"), profile.get("email")
    if isinstance(login, str) and login.strip() and not _EMAIL.match(login):
        causes.append(("login", "login: Username must be in the form of an email address"))
    if isinstance(email, str) and email.strip() and not _EMAIL.match(email):
        causes.append(("email", "email: Does not match required pattern"))
    if causes:
        raise OktaError.api_validation(causes[0][0], *(text for _, text in causes))
    return {"firstName": None, "lastName": None, "mobilePhone": None, "secondEmail": None, **profile}


def _check_unique_login(org: Org, login: str, user_id: str | None) -> None:
    owner = org.state.by_login.get(login_key(login))
    if owner is not None and owner != user_id:
        org.count("duplicate_login_rejections")
        raise OktaError.duplicate_login()


def find_user(org: Org, id_or_login: str) -> UserRecord:
    """By id, by login (case and diacritics ignored), or by an unambiguous login short name."""
    state = org.state
    user = state.users.get(id_or_login) or state.user_by_login(id_or_login)
    if user is None and "@" not in id_or_login:
        matches = state.by_short.get(login_key(id_or_login), set())
        user = state.users.get(next(iter(matches))) if len(matches) == 1 else None
    if user is None:
        raise OktaError.not_found(id_or_login, "User")
    return user


def _credentials(body: dict[str, Any]) -> tuple[bool, str | None, str, str]:
    creds = body.get("credentials") or {}
    if not isinstance(creds, dict):
        raise OktaError.api_validation("credentials", "credentials: Invalid value")
    password = creds.get("password")
    has_password = isinstance(password, dict) and any(k in password for k in ("value", "hash", "hook"))
    question = creds.get("recovery_question")
    recovery = question.get("question") if isinstance(question, dict) else None
    provider = creds.get("provider") or {}
    ptype = str(provider.get("type", "OKTA")) if isinstance(provider, dict) else "OKTA"
    if ptype not in _PROVIDERS:
        raise OktaError.api_validation("provider", f"provider: Invalid provider type {ptype}")
    pname = str(provider.get("name") or ptype) if isinstance(provider, dict) else ptype
    return has_password, recovery, ptype, pname


def create_user(
    org: Org, body: Any, info: RequestInfo, *, activate: bool, next_login: str | None = None
) -> UserRecord:
    if not isinstance(body, dict):
        raise OktaError.malformed_body()
    profile = _check_profile(body.get("profile"))
    has_password, recovery, ptype, pname = _credentials(body)
    if next_login == "changePassword":
        if not activate:
            raise OktaError.expire_needs_activation()
        if not has_password:
            raise OktaError.expire_needs_password()
    group_ids = body.get("groupIds") or []
    if not isinstance(group_ids, list):
        raise OktaError.api_validation("groupIds", "groupIds: Invalid value")
    if len(group_ids) > 20:
        raise OktaError.too_many_groups()
    for gid in group_ids:
        group = org.state.groups.get(str(gid))
        if group is None or group.type != "OKTA_GROUP":
            raise OktaError.api_validation("groupIds", f"groupIds: Invalid group id {gid}")
    type_id = (body.get("type") or {}).get("id") if isinstance(body.get("type"), dict) else None
    if type_id not in (None, org.state.meta["type_id"]):
        raise OktaError.api_validation("type", f"type: Invalid user type {type_id}")
    _check_unique_login(org, profile["login"], None)

    now = org.now()
    if not activate:
        status = "STAGED"
    elif ptype in ("FEDERATION", "SOCIAL") or has_password:
        status = "PASSWORD_EXPIRED" if next_login == "changePassword" else "ACTIVE"
    else:
        status = "PROVISIONED"
    user = UserRecord(
        id=new_user_id(org),
        seq=org.state.next_seq(),
        status=status,
        created=now,
        last_updated=now,
        profile=profile,
        type_id=org.state.meta["type_id"],
        activated=now if status in ("ACTIVE", "PASSWORD_EXPIRED") else None,
        status_changed=now,
        password_changed=now if has_password else None,
        has_password=has_password,
        recovery_question=recovery,
        provider_type=ptype,
        provider_name=pname,
    )
    if status == "PROVISIONED":  # activate=true without a password: Okta e-mails the activation link
        org.new_activation(user, info, send_email=True)
    org.state.add_user(user)
    for gid in group_ids:
        org.state.add_member(str(gid), user.id)
    org.emit("user.lifecycle.create", info, user_target(user))
    if status != "STAGED":
        org.emit("user.lifecycle.activate", info, user_target(user))
    return user


def new_user_id(org: Org) -> str:
    while True:
        candidate = org.ids.object_id("00u")
        if candidate not in org.state.seq_of:
            return candidate


def update_user(org: Org, user: UserRecord, body: Any, info: RequestInfo, *, replace: bool) -> UserRecord:
    """POST is a partial update; PUT replaces the profile ("any property not specified is deleted")."""
    if not isinstance(body, dict):
        raise OktaError.malformed_body()
    if user.pending_op == "activate":
        raise OktaError.still_activating()
    previous = dict(user.profile)
    given = body.get("profile")
    if replace:
        profile = _check_profile(given)
    elif given is None:
        profile = previous
    elif isinstance(given, dict):
        profile = _check_profile({**previous, **given})
    else:
        raise OktaError.api_validation("profile", "profile: Invalid value")
    has_password, recovery, _, _ = _credentials(body)
    _check_unique_login(org, profile["login"], user.id)
    now = org.now()
    if has_password:
        user.has_password = True
        user.password_changed = now
    if recovery:
        user.recovery_question = recovery
    user.profile = profile
    user.last_updated = now
    org.state.save_user(user, previous_profile=previous)
    if profile != previous:
        changed = {
            k: profile.get(k) for k in set(profile) | set(previous) if profile.get(k) != previous.get(k)
        }
        org.emit("user.account.update_profile", info, user_target(user), **changed)
    return user


def run_lifecycle(
    org: Org, user: UserRecord, op: str, info: RequestInfo, *, send_email: bool, defer: bool = False
) -> dict[str, Any]:
    """Apply a lifecycle operation; the body Okta answers with (`{}` or a link). With `defer` the
    operation is only checked and its e-mail or link issued: the caller lands it later."""
    if user.pending_op == "activate":
        raise OktaError.still_activating()
    transition = plan(op, user.status, user.has_password)
    answer: dict[str, Any] = {}
    if op in ("activate", "reactivate"):
        url, token = org.new_activation(user, info, send_email=send_email)
        if not send_email:
            answer = {"activationUrl": url, "activationToken": token}
    elif op == "reset_password":
        token = org.ids.token()
        if not send_email:
            answer = {"resetPasswordUrl": f"{info.org_url}/reset_password/{token}"}
    if defer:
        org.state.save_user(user)
    else:
        apply_transition(org, user, op, info, transition.to, transition.event)
    return answer


def apply_transition(
    org: Org, user: UserRecord, op: str, info: RequestInfo, to: str | None = None, event: str | None = None
) -> None:
    """The status change of a lifecycle operation and its System Log event (now, or when an
    asynchronous one lands: then `to` and `event` are planned again from the current status)."""
    if to is None:
        planned = plan(op, user.status, user.has_password)
        to, event = planned.to, planned.event
    now = org.now()
    if to != user.status:
        user.status = to
        user.status_changed = now
    if op == "activate" and to == "ACTIVE":
        user.activated = now
    user.last_updated = now
    org.state.save_user(user)
    if event:
        org.emit(event, info, user_target(user))


def delete_user(org: Org, user: UserRecord, info: RequestInfo) -> None:
    """Okta's delete: a user not yet DEPROVISIONED is deactivated; a DEPROVISIONED one is deleted."""
    if user.pending_op == "activate":
        raise OktaError.still_activating()
    user.pending_op = user.pending_until = None  # a deactivation under way lands now
    transition = plan("delete", user.status, user.has_password)
    if transition.to == "DELETED":
        org.state.remove_user(user)
    else:
        now = org.now()
        user.status, user.status_changed, user.last_updated = transition.to, now, now
        org.state.save_user(user)
    if transition.event:
        org.emit(transition.event, info, user_target(user))
