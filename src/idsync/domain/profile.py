"""Mapping an application user to the IdP profile, and the stable hash that lets unchanged users
cost no API call."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from idsync.domain.models import UserFields

CORE_ATTRIBUTES = ("login", "email", "firstName", "lastName")


def map_profile(user: UserFields, attribute_map: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The IdP profile for `user`: the four core attributes plus the mapped extras."""
    profile: dict[str, Any] = {
        "login": user.login,
        "email": user.email,
        "firstName": user.firstName,
        "lastName": user.lastName,
    }
    extras = user.model_extra or {}
    if attribute_map is None:
        profile.update(extras)
    else:
        for app_name, idp_name in attribute_map.items():
            if app_name in extras:
                profile[idp_name] = extras[app_name]
    return profile


def profile_hash(profile: Mapping[str, Any]) -> str:
    """A stable fingerprint: key order does not change it. Names and values are joined with
    separators that cannot occur in them (control characters are rejected at validation), and
    each value is tagged with its type so that "1", 1 and True differ."""
    parts = [f"{name}\x1e{type(value).__name__}\x1f{value}" for name, value in sorted(profile.items())]
    return hashlib.sha256("\x1d".join(parts).encode()).hexdigest()[:32]
