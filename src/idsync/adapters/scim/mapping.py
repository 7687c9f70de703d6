"""idsync profiles <-> SCIM 2.0 User resources (RFC 7643 §4.1 and §4.3).

Profiles use Okta's attribute names (`login`, `email`, `firstName`, ...), because the planner and
the profile hash are IdP-neutral and Okta came first. This module is the whole translation, in both
directions, so that a profile read back from a SCIM server compares equal to the one written (the
engine's "unchanged" check relies on it).

Ownership of multi-valued attributes: idsync owns `emails` (one primary work address) and
`phoneNumbers` (the mobile and work numbers): an update that names `email` or a phone writes the
whole attribute, keeping the managed values the update does not name. A profile attribute
without a SCIM home is refused with `InvalidRequest` (as Okta refuses a property its profile does
not define), never dropped silently.

Status: SCIM has only `active`. Written: created inactive = STAGED, activated = ACTIVE,
deactivated = DEPROVISIONED (the engine records that). Read: `active: false` is reported as
STAGED, because SCIM cannot tell "never activated" from "deactivated", and STAGED keeps the user
in the activation job's reach; both are `activatable` and not `is_active`, which is all the
engine decides on. A resource without `active` counts as active (the attribute is optional).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from idsync.domain.links import IdpStatus
from idsync.errors import InvalidRequest
from idsync.ports import IdpUser

__all__ = [
    "CORE_USER",
    "ENTERPRISE_USER",
    "PATCH_OP",
    "PHONE_KEYS",
    "apply_profile",
    "filter_literal",
    "id_from_location",
    "patch_operations",
    "profile_of",
    "status_of",
    "to_idp_user",
    "user_resource",
]

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# profile name -> SCIM path, for single-valued attributes.
_SIMPLE = {
    "login": "userName",
    "displayName": "displayName",
    "nickName": "nickName",
    "title": "title",
    "userType": "userType",
    "preferredLanguage": "preferredLanguage",
    "locale": "locale",
    "timezone": "timezone",
    "profileUrl": "profileUrl",
}
_NAME = {
    "firstName": "givenName",
    "lastName": "familyName",
    "middleName": "middleName",
    "honorificPrefix": "honorificPrefix",
    "honorificSuffix": "honorificSuffix",
}
_ENTERPRISE = ("employeeNumber", "costCenter", "organization", "division", "department")
_PHONES = {"mobilePhone": "mobile", "primaryPhone": "work"}
PHONE_KEYS = frozenset(_PHONES)
_EMAIL = "email"

KNOWN_ATTRIBUTES = frozenset({*_SIMPLE, *_NAME, *_ENTERPRISE, *_PHONES, _EMAIL})


def filter_literal(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 §3.4.2.2: a JSON string), so quotes and backslashes
    in a userName stay data and cannot change the filter."""
    return json.dumps(value, ensure_ascii=False)


def _check_known(profile: Mapping[str, Any]) -> None:
    unknown = sorted(set(profile) - KNOWN_ATTRIBUTES)
    if unknown:
        raise InvalidRequest(
            f"profile attribute(s) {', '.join(unknown)} have no SCIM User attribute "
            f"(known: {', '.join(sorted(KNOWN_ATTRIBUTES))})"
        )


def _phones(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"value": profile[k], "type": t} for k, t in _PHONES.items() if profile.get(k)]


def user_resource(profile: Mapping[str, Any], *, active: bool) -> dict[str, Any]:
    """The SCIM User to POST for `profile`."""
    _check_known(profile)
    if not profile.get("login"):
        raise InvalidRequest("profile has no login: a SCIM User needs a userName")
    body: dict[str, Any] = {"schemas": [CORE_USER], "active": active}
    for key, attr in _SIMPLE.items():
        if profile.get(key) is not None:
            body[attr] = profile[key]
    name = {attr: profile[key] for key, attr in _NAME.items() if profile.get(key) is not None}
    if name:
        body["name"] = name
    if profile.get(_EMAIL):
        body["emails"] = [{"value": profile[_EMAIL], "type": "work", "primary": True}]
    if phones := _phones(profile):
        body["phoneNumbers"] = phones
    enterprise = {k: profile[k] for k in _ENTERPRISE if profile.get(k) is not None}
    if enterprise:
        body["schemas"].append(ENTERPRISE_USER)
        body[ENTERPRISE_USER] = enterprise
    return body


def _op(path: str, value: Any) -> dict[str, Any]:
    if value is None or value == []:
        return {"op": "remove", "path": path}
    return {"op": "replace", "path": path, "value": value}


def patch_operations(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PATCH operations (RFC 7644 §3.5.2) setting the attributes `profile` names; a None value
    removes the attribute. Every operation is a `replace` or `remove`, so repeating it is safe."""
    _check_known(profile)
    ops: list[dict[str, Any]] = []
    for key, attr in _SIMPLE.items():
        if key in profile:
            ops.append(_op(attr, profile[key]))
    for key, attr in _NAME.items():
        if key in profile:
            ops.append(_op(f"name.{attr}", profile[key]))
    if _EMAIL in profile:
        email = profile[_EMAIL]
        ops.append(_op("emails", [{"value": email, "type": "work", "primary": True}] if email else None))
    if any(k in profile for k in _PHONES):
        ops.append(_op("phoneNumbers", _phones(profile)))
    for key in _ENTERPRISE:
        if key in profile:
            ops.append(_op(f"{ENTERPRISE_USER}:{key}", profile[key]))
    return ops


def _put(body: dict[str, Any], attr: str, value: Any) -> None:
    if value is None or value == [] or value == {}:
        body.pop(attr, None)
    else:
        body[attr] = value


def apply_profile(resource: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, Any]:
    """`resource` with the attributes `profile` names set: the body of a PUT, for servers
    without PATCH. Attributes and sub-attributes idsync does not manage are kept as they are."""
    _check_known(profile)
    merged = {k: v for k, v in {**profile_of(resource), **profile}.items() if v is not None}
    fresh = user_resource(merged, active=resource.get("active") is not False)
    body = {k: v for k, v in resource.items() if k != "meta"}
    for key, attr in _SIMPLE.items():
        if key in profile:
            _put(body, attr, fresh.get(attr))
    if any(k in profile for k in _NAME):
        kept = {k: v for k, v in (resource.get("name") or {}).items() if k not in _NAME.values()}
        _put(body, "name", {**kept, **fresh.get("name", {})})
    if _EMAIL in profile:
        _put(body, "emails", fresh.get("emails"))
    if any(k in profile for k in _PHONES):
        _put(body, "phoneNumbers", fresh.get("phoneNumbers"))
    if any(k in profile for k in _ENTERPRISE):
        kept = {k: v for k, v in (resource.get(ENTERPRISE_USER) or {}).items() if k not in _ENTERPRISE}
        _put(body, ENTERPRISE_USER, {**kept, **fresh.get(ENTERPRISE_USER, {})})
    schemas = [s for s in body.get("schemas") or [CORE_USER] if s != ENTERPRISE_USER]
    body["schemas"] = [*schemas, ENTERPRISE_USER] if ENTERPRISE_USER in body else schemas
    return body


def _primary(values: Any) -> Any:
    """The primary value of a multi-valued attribute; else the work one; else the first."""
    items = [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
    primary = next((v for v in items if v.get("primary") is True), None)
    work = next((v for v in items if v.get("type") == "work"), None)
    chosen = primary or work or (items[0] if items else None)
    return chosen.get("value") if chosen else None


def profile_of(resource: Mapping[str, Any]) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for key, attr in _SIMPLE.items():
        if resource.get(attr) is not None:
            profile[key] = resource[attr]
    name = resource.get("name") or {}
    for key, attr in _NAME.items():
        if name.get(attr) is not None:
            profile[key] = name[attr]
    email = _primary(resource.get("emails"))
    if email is not None:
        profile[_EMAIL] = email
    phones = resource.get("phoneNumbers")
    for key, type_ in _PHONES.items():
        number = next(
            (p.get("value") for p in phones or [] if isinstance(p, dict) and p.get("type") == type_), None
        )
        if number is not None:
            profile[key] = number
    enterprise = resource.get(ENTERPRISE_USER) or {}
    for key in _ENTERPRISE:
        if enterprise.get(key) is not None:
            profile[key] = enterprise[key]
    return profile


def status_of(active: object) -> IdpStatus:
    return IdpStatus.STAGED if active is False else IdpStatus.ACTIVE


def to_idp_user(resource: Mapping[str, Any]) -> IdpUser:
    """An `IdpUser` from a SCIM User in its JSON form (camelCase, as on the wire)."""
    meta = resource.get("meta") or {}
    last = meta.get("lastModified")
    return IdpUser(
        id=str(resource["id"]),
        login=str(resource.get("userName", "")),
        status=status_of(resource.get("active")),
        profile=profile_of(resource),
        last_updated=str(last) if last is not None else None,
    )


def id_from_location(location: str | None) -> str | None:
    """The resource id: the last segment of a `Location` (RFC 7644 §3.1: ".../Users/{id}")."""
    if not location:
        return None
    segment = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return unquote(segment) or None
