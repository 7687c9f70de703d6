"""What an Okta user's state means for the application user: a pure decision, no I/O.

Why pure: the promises of the integration live here (roles that no mapping names are never
touched; unmapped fields are never written; users are never deleted; users without e-mail,
first or last name are skipped with the reason), and a pure `plan()` can be checked against
them exhaustively with property-based tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AppUser",
    "MappingRules",
    "OktaGroupRef",
    "OktaUserState",
    "Plan",
    "desired_roles",
    "merge_roles",
    "missing_required",
    "plan",
    "plan_roles",
    "role_for",
]

Action = Literal["create", "update", "unchanged", "skip"]


@dataclass(frozen=True)
class MappingRules:
    fields: Mapping[str, str]  # application field -> Okta profile attribute
    active_field: str | None = "active"
    required: tuple[str, ...] = ("email", "firstName", "lastName")
    match_on: tuple[str, ...] = ("email",)
    active_statuses: frozenset[str] = frozenset({"ACTIVE"})
    group_roles: Mapping[str, str] = field(default_factory=dict)  # Okta group name or id -> role

    @property
    def managed_roles(self) -> frozenset[str]:
        """The only roles the integration ever adds or removes."""
        return frozenset(self.group_roles.values())

    @property
    def written_fields(self) -> frozenset[str]:
        """The only application fields the integration ever writes."""
        return frozenset(self.fields) | ({self.active_field} if self.active_field else frozenset())


@dataclass(frozen=True)
class OktaGroupRef:
    id: str
    name: str


@dataclass(frozen=True)
class OktaUserState:
    """An Okta user as fetched; `status` None means the user no longer exists (deleted)."""

    id: str
    login: str
    status: str | None
    profile: Mapping[str, Any] = field(default_factory=dict)
    last_updated: str | None = None


@dataclass(frozen=True)
class AppUser:
    """The application user as the target shows it (or, for write-only targets, as last written)."""

    key: str
    fields: Mapping[str, Any]
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    action: Action
    key: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # to write: all on create, changed on update
    roles_add: frozenset[str] = frozenset()
    roles_remove: frozenset[str] = frozenset()
    managed_roles: frozenset[str] | None = None  # managed roles held afterwards; None: not considered
    applied: Mapping[str, Any] = field(default_factory=dict)  # mapped values the app holds afterwards
    code: str | None = None  # why skipped
    reason: str | None = None


def role_for(group: OktaGroupRef, rules: MappingRules) -> str | None:
    """A group maps by id first, then by its name (names are what admins read; ids survive renames)."""
    return rules.group_roles.get(group.id) or rules.group_roles.get(group.name)


def desired_roles(groups: Iterable[OktaGroupRef], rules: MappingRules) -> frozenset[str]:
    return frozenset(r for g in groups if (r := role_for(g, rules)) is not None)


def merge_roles(current: frozenset[str], desired: frozenset[str], managed: frozenset[str]) -> frozenset[str]:
    """Roles after the sync: every unmanaged role kept as is, managed roles exactly as Okta says."""
    return (current - managed) | (desired & managed)


def missing_required(profile: Mapping[str, Any], required: Iterable[str]) -> list[str]:
    return [a for a in required if not str(profile.get(a) or "").strip()]


def wanted_fields(state: OktaUserState, rules: MappingRules) -> dict[str, Any]:
    """Every mapped application field with Okta's value (Okta is the master of these)."""
    wanted: dict[str, Any] = {app: state.profile.get(attr) for app, attr in rules.fields.items()}
    if rules.active_field:
        wanted[rules.active_field] = is_active(state, rules)
    return wanted


def is_active(state: OktaUserState, rules: MappingRules) -> bool:
    return state.status is not None and state.status in rules.active_statuses


def match_values(state: OktaUserState, rules: MappingRules) -> list[tuple[str, str]]:
    """(application field, value) pairs that identify an existing application user, in order."""
    pairs = []
    for app_field in rules.match_on:
        value = state.profile.get(rules.fields[app_field])
        if isinstance(value, str) and value.strip():
            pairs.append((app_field, value.strip()))
    return pairs


def plan(
    state: OktaUserState,
    app: AppUser | None,
    groups: Iterable[OktaGroupRef] | None,
    rules: MappingRules,
    *,
    profile: bool = True,
) -> Plan:
    """The change that brings `app` in line with `state`.

    `groups` None: memberships were not fetched, so roles are left alone. `profile` False: a
    membership-only change, so fields are left alone (a local edit survives until Okta updates
    the user). Never deletes: a deactivated or deleted Okta user makes the app user inactive.
    """
    managed = rules.managed_roles
    current_roles = app.roles if app is not None else frozenset()
    new_roles = (
        merge_roles(current_roles, desired_roles(groups, rules), managed) if groups is not None else None
    )
    gone = state.status is None or state.status == "DEPROVISIONED"
    missing = missing_required(state.profile, rules.required) if state.status is not None else []
    if app is None and gone:
        what = "deleted" if state.status is None else "deactivated"
        return _skip("inactive_unknown", f"{what} in Okta and not in the application: not created")
    if app is not None and (state.status is None or (missing and gone)):
        # Nothing to map but the status: only the active flag changes.
        wanted: dict[str, Any] = {rules.active_field: False} if rules.active_field and profile else {}
        return _diff(app, wanted, current_roles, new_roles, new_roles, rules)
    if missing:
        return _skip("missing_fields", f"missing {', '.join(missing)} in Okta")
    wanted = wanted_fields(state, rules) if profile or app is None else {}
    if app is None:
        roles = new_roles or frozenset()
        return Plan(
            "create",
            fields=wanted,
            roles_add=roles,
            managed_roles=roles & managed if new_roles is not None else None,
            applied=wanted,
        )
    return _diff(app, wanted, current_roles, new_roles, new_roles, rules)


def plan_roles(app: AppUser, groups: Iterable[OktaGroupRef], rules: MappingRules) -> Plan:
    """A membership change of a linked user: managed roles follow Okta's groups, fields untouched."""
    new_roles = merge_roles(app.roles, desired_roles(groups, rules), rules.managed_roles)
    return _diff(app, {}, app.roles, new_roles, new_roles, rules)


def _diff(
    app: AppUser,
    wanted: Mapping[str, Any],
    current_roles: frozenset[str],
    new_roles: frozenset[str] | None,
    considered: frozenset[str] | None,
    rules: MappingRules,
) -> Plan:
    changed = {f: v for f, v in wanted.items() if app.fields.get(f) != v}
    after_roles = new_roles if new_roles is not None else current_roles
    add, remove = after_roles - current_roles, current_roles - after_roles
    applied = {f: app.fields.get(f) for f in rules.written_fields if f in app.fields} | dict(wanted)
    managed = considered & rules.managed_roles if considered is not None else None
    action: Action = "update" if changed or add or remove else "unchanged"
    return Plan(action, app.key, changed, add, remove, managed, applied)


def _skip(code: str, reason: str) -> Plan:
    return Plan("skip", code=code, reason=reason)


@dataclass(frozen=True)
class TargetChange:
    integration: str
    okta_id: str
    login: str
    key: str | None  # None: create a user
    fields: Mapping[str, Any] = field(default_factory=dict)  # what changes (all mapped fields on create)
    applied: Mapping[str, Any] = field(default_factory=dict)  # every mapped field after the change
    roles_add: frozenset[str] = frozenset()
    roles_remove: frozenset[str] = frozenset()
    managed_roles: frozenset[str] | None = None  # managed roles held after; None: not considered
    link: bool = False  # an existing application user is being linked to this Okta user
    cause: str = ""  # "initial_sync", "event user.account.update_profile", ...
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # same across retries of one change


def change_message(change: TargetChange, op: str = "upsert") -> dict[str, Any]:
    """The JSON body (HTTP) or value (Kafka) sent to write-only targets."""
    message: dict[str, Any] = {
        "id": change.id,
        "integration": change.integration,
        "op": op,
        "okta_id": change.okta_id,
        "login": change.login,
        "key": change.key,
    }
    if op == "upsert":
        message["user"] = dict(change.applied)
        message["changed"] = sorted(change.fields)
        message["roles"] = {
            "add": sorted(change.roles_add),
            "remove": sorted(change.roles_remove),
            "managed": sorted(change.managed_roles) if change.managed_roles is not None else None,
        }
        message["cause"] = change.cause
    return message
