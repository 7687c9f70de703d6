"""Who may do what: roles, the actions they allow, and a caller's grants per tenant.

One table (`ACTIONS`) says which role each action needs; the HTTP routes, the dashboard and the
docs (docs/deployment.md, "Access") all read it, so a rule lives in one place. A caller (an API
token, the installation's configured token, or a dashboard sign-in through the IdP) is a
`Principal`: a name for the audit trail and a role per tenant, where the tenant `*` stands for
every tenant. Roles are ordered: an operator may do what a viewer may, an admin what both may.

Pure: no I/O. Tokens and sign-ins are turned into principals at the edges (`idsync.web.auth`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum

__all__ = [
    "ACTIONS",
    "ALL_TENANTS",
    "Action",
    "Grant",
    "Principal",
    "Role",
    "denial",
    "grants_from_groups",
    "token_grants",
    "token_scope_problem",
]

ALL_TENANTS = "*"


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        """`viewer`, `operator` or `admin` (ValueError naming the choices otherwise)."""
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"{value!r} is not a role (viewer, operator or admin)") from None


class Action(Enum):
    """What a caller asks to do; `ACTIONS` says which role it needs and whether it changes state."""

    READ = "read"
    SUBMIT = "submit"
    RETRY = "retry"
    CONTROL = "import.control"
    ACTIVATE = "activate"
    DISCARD = "discard"
    INBOUND_RUN = "inbound.run"
    FORCE = "force"
    MODE = "mode"
    PORTAL = "portal"
    INBOUND_SETUP = "inbound.setup"
    TOKENS = "tokens"


@dataclass(frozen=True)
class Rule:
    role: Role
    changes_state: bool
    what: str


ACTIONS: Mapping[Action, Rule] = {
    Action.READ: Rule(
        Role.VIEWER, False, "read imports, results, failures, status, the dashboard and the audit trail"
    ),
    Action.SUBMIT: Rule(Role.OPERATOR, True, "post changes and imports"),
    Action.RETRY: Rule(Role.OPERATOR, True, "retry an import's failed users"),
    Action.CONTROL: Rule(Role.OPERATOR, True, "cancel, pause and resume imports"),
    Action.ACTIVATE: Rule(Role.OPERATOR, True, "start or resume an activation job"),
    Action.DISCARD: Rule(Role.OPERATOR, True, "discard the deactivations a held run holds"),
    Action.INBOUND_RUN: Rule(Role.OPERATOR, True, "run, pause and resume inbound syncs"),
    Action.FORCE: Rule(Role.ADMIN, True, "force a held run (release it, or import with force)"),
    Action.MODE: Rule(Role.ADMIN, True, "switch a tenant's sync mode"),
    Action.PORTAL: Rule(Role.ADMIN, True, "register portals as OpenID Connect apps"),
    Action.INBOUND_SETUP: Rule(Role.ADMIN, True, "register event hooks, remove inbound integrations"),
    Action.TOKENS: Rule(Role.ADMIN, True, "create, list and revoke API tokens"),
}


@dataclass(frozen=True)
class Grant:
    """A role on some tenants (None: every tenant)."""

    role: Role
    tenants: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Principal:
    """A caller: `actor` names it in the audit trail; `grants` maps a tenant (or `*`) to a role."""

    actor: str
    grants: Mapping[str, Role] = field(default_factory=dict)

    def role_for(self, tenant: str) -> Role | None:
        roles = [r for t, r in self.grants.items() if t in (tenant, ALL_TENANTS)]
        return max(roles) if roles else None

    @property
    def everywhere(self) -> Role | None:
        """The role held on every tenant (None: the caller is limited to some tenants)."""
        return self.grants.get(ALL_TENANTS)

    def may(self, action: Action, tenant: str | None = None) -> bool:
        """May do `action` for `tenant`; `None`: installation-wide (needs a grant on every tenant)."""
        need = ACTIONS[action].role
        role = self.everywhere if tenant is None else self.role_for(tenant)
        return role is not None and role >= need

    def may_somewhere(self, action: Action) -> bool:
        need = ACTIONS[action].role
        return any(role >= need for role in self.grants.values())

    def tenants(self, action: Action) -> frozenset[str] | None:
        """The tenants the caller may do `action` for; None: every tenant."""
        need = ACTIONS[action].role
        if (self.everywhere or 0) >= need:
            return None
        return frozenset(t for t, r in self.grants.items() if r >= need and t != ALL_TENANTS)

    def describe(self) -> str:
        """`operator on efs-prod, viewer on efs-test`: for error messages and the dashboard."""
        parts = [
            f"{role.label} on {'every tenant' if t == ALL_TENANTS else t}"
            for t, role in sorted(self.grants.items(), key=lambda kv: (kv[0] != ALL_TENANTS, kv[0]))
        ]
        return ", ".join(parts) or "no access"


def denial(principal: Principal, action: Action, tenant: str | None = None) -> str | None:
    """Why `principal` may not do `action` for `tenant` (None: it may). The reason names the
    tenant and the role needed, never anything of the credential."""
    if principal.may(action, tenant):
        return None
    rule = ACTIONS[action]
    if tenant is None:
        return f"{rule.what}: needs the {rule.role.label} role on every tenant ({principal.describe()})"
    role = principal.role_for(tenant)
    if role is None:
        return f"not allowed for tenant {tenant!r}: this credential covers {principal.describe()}"
    need = rule.role.label
    return f"{rule.what} for tenant {tenant!r}: needs the {need} role (this credential has {role.label})"


def token_grants(role: Role, tenants: Iterable[str]) -> dict[str, Role]:
    """A token's grants: its role on each of its tenants, or on every tenant when it names none."""
    names = tuple(dict.fromkeys(tenants))
    return dict.fromkeys(names, role) if names else {ALL_TENANTS: role}


def token_scope_problem(role: Role, tenants: Iterable[str]) -> str | None:
    """Why a token of `role` on `tenants` may not be made (None: it may). Only an admin token
    may cover every tenant: an application's or a support engineer's token names its tenants."""
    if not tuple(tenants) and role is not Role.ADMIN:
        article = "an" if role.label[0] in "aeiou" else "a"
        return (
            f"{article} {role.label} token must name its tenants (--tenant); "
            "only an admin token covers every tenant"
        )
    return None


def grants_from_groups(groups: Iterable[str], mapping: Mapping[str, Grant]) -> dict[str, Role]:
    """The grants a dashboard sign-in gets from the groups in its ID token: each mapped group
    adds its role on its tenants; the highest role per tenant wins. Unmapped groups add nothing."""
    grants: dict[str, Role] = {}
    for group in dict.fromkeys(groups):
        grant = mapping.get(group)
        if grant is None:
            continue
        for tenant in grant.tenants if grant.tenants is not None else (ALL_TENANTS,):
            grants[tenant] = max(grants.get(tenant, grant.role), grant.role)
    return grants
