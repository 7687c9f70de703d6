"""The access rules (domain/authz.py): roles are ordered, grants are per tenant with `*` for
every tenant, groups map to grants, and every refusal names the tenant and the role needed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idsync.config import settings_from_dict
from idsync.domain.authz import (
    ACTIONS,
    ALL_TENANTS,
    Action,
    Grant,
    Principal,
    Role,
    denial,
    grants_from_groups,
    token_grants,
    token_scope_problem,
)
from idsync.errors import ConfigError

TENANTS = ["efs-a", "efs-b", "efs-c"]
roles = st.sampled_from(list(Role))
grants = st.dictionaries(st.sampled_from([*TENANTS, ALL_TENANTS]), roles, max_size=4)


def test_each_action_needs_the_role_of_the_issue() -> None:
    need = {a: rule.role for a, rule in ACTIONS.items()}
    assert need[Action.READ] is Role.VIEWER
    assert {a for a, r in need.items() if r is Role.OPERATOR} == {
        Action.SUBMIT,
        Action.RETRY,
        Action.CONTROL,  # cancel, pause, resume an import
        Action.ACTIVATE,
        Action.DISCARD,
        Action.INBOUND_RUN,
    }
    assert {a for a, r in need.items() if r is Role.ADMIN} == {
        Action.FORCE,
        Action.MODE,
        Action.PORTAL,
        Action.INBOUND_SETUP,
        Action.TOKENS,
    }
    assert not ACTIONS[Action.READ].changes_state and all(
        rule.changes_state for a, rule in ACTIONS.items() if a is not Action.READ
    )


@given(grants, st.sampled_from(list(Action)), st.sampled_from(TENANTS))
def test_a_caller_may_act_for_a_tenant_exactly_when_its_role_there_suffices(
    held: dict[str, Role], action: Action, tenant: str
) -> None:
    p = Principal("token:x", held)
    role = max([r for t, r in held.items() if t in (tenant, ALL_TENANTS)], default=None)
    allowed = role is not None and role >= ACTIONS[action].role
    assert p.may(action, tenant) is allowed
    assert (denial(p, action, tenant) is None) is allowed
    if not allowed:
        assert repr(tenant) in (denial(p, action, tenant) or "")
    covered = p.tenants(action)
    if covered is not None:
        assert (tenant in covered) is allowed
    else:
        assert allowed
    assert p.may(action, None) is (held.get(ALL_TENANTS, 0) >= ACTIONS[action].role)


def test_refusals_say_what_is_missing() -> None:
    operator = Principal("token:app", {"efs-a": Role.OPERATOR})
    assert denial(operator, Action.SUBMIT, "efs-b") == (
        "not allowed for tenant 'efs-b': this credential covers operator on efs-a"
    )
    assert denial(operator, Action.FORCE, "efs-a") == (
        "force a held run (release it, or import with force) for tenant 'efs-a': needs the admin role "
        "(this credential has operator)"
    )
    assert "needs the admin role on every tenant" in (denial(operator, Action.TOKENS) or "")
    both = Principal("sso:ann", {"*": Role.VIEWER, "efs-a": Role.ADMIN})
    assert both.describe() == "viewer on every tenant, admin on efs-a"
    assert both.tenants(Action.FORCE) == frozenset({"efs-a"}) and both.tenants(Action.READ) is None


def test_groups_give_the_highest_role_per_tenant_and_unmapped_groups_nothing() -> None:
    mapping = {
        "idsync-admins": Grant(Role.ADMIN),
        "efs-a-ops": Grant(Role.OPERATOR, ("efs-a",)),
        "efs-support": Grant(Role.VIEWER, ("efs-a", "efs-b")),
    }
    assert grants_from_groups(["efs-support", "efs-a-ops", "Everyone"], mapping) == {
        "efs-a": Role.OPERATOR,
        "efs-b": Role.VIEWER,
    }
    assert grants_from_groups(["idsync-admins"], mapping) == {ALL_TENANTS: Role.ADMIN}
    assert grants_from_groups(["Everyone", "marketing"], mapping) == {}


def test_only_an_admin_token_covers_every_tenant() -> None:
    assert token_grants(Role.OPERATOR, ["efs-a", "efs-a"]) == {"efs-a": Role.OPERATOR}
    assert token_grants(Role.ADMIN, []) == {ALL_TENANTS: Role.ADMIN}
    assert token_scope_problem(Role.ADMIN, []) is None
    assert token_scope_problem(Role.VIEWER, ["efs-a"]) is None
    for role in (Role.VIEWER, Role.OPERATOR):
        assert "must name its tenants" in (token_scope_problem(role, []) or "")


def test_a_role_is_parsed_by_name_with_a_clear_error() -> None:
    assert Role.parse(" Operator ") is Role.OPERATOR
    with pytest.raises(ValueError, match="'owner' is not a role"):
        Role.parse("owner")


BASE: dict[str, object] = {"idps": {"okta": {"type": "emulator"}}, "tenants": {"efs-a": {"idp": "okta"}}}


def _sso(**sso: object) -> dict[str, object]:
    return {**BASE, "service": {"sso": {"issuer": "https://org.example.com/", "client_id": "0oa1", **sso}}}


@pytest.mark.parametrize(
    ("sso", "env", "message"),
    [
        ({"groups": {"g": "owner"}}, {}, "service.sso.groups.g.role: 'owner' is not a role"),
        ({"groups": {}}, {}, "service.sso: groups: map at least one IdP group"),
        (
            {"groups": {"g": {"role": "viewer", "tenants": ["efs-z"]}}},
            {},
            "groups.g.tenants: no tenant named 'efs-z'",
        ),
        ({"groups": {"g": "admin"}, "client_secret_env": "SSO_SECRET"}, {}, "variable SSO_SECRET is not set"),
        ({"groups": {"g": "admin"}, "scopes": ["groups"]}, {}, "scopes: must include openid"),
        ({"groups": {"g": "admin"}, "issuer": "org.example.com"}, {}, "is not an http(s) URL"),
    ],
)
def test_bad_sso_settings_name_the_setting(sso: dict[str, object], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from_dict(_sso(**sso), env)


def test_sso_settings_read_the_client_secret_and_the_short_form() -> None:
    groups = {"idsync-admins": "admin", "efs-a-support": {"role": "viewer", "tenants": ["efs-a"]}}
    sso = settings_from_dict(_sso(groups=groups, client_secret_env="S"), {"S": "s3cret"}).service.sso
    assert sso is not None and sso.client_secret is not None
    assert sso.client_secret.get_secret_value() == "s3cret" and "s3cret" not in repr(sso)
    assert sso.issuer == "https://org.example.com" and sso.metadata_url.endswith(
        "/.well-known/openid-configuration"
    )
    assert sso.grants() == {
        "idsync-admins": Grant(Role.ADMIN),
        "efs-a-support": Grant(Role.VIEWER, ("efs-a",)),
    }
