"""Properties of the pure mapping: the integration's promises, checked over generated users."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from idsync.domain.inbound import (
    AppUser,
    MappingRules,
    OktaGroupRef,
    OktaUserState,
    Plan,
    desired_roles,
    plan,
    plan_roles,
)

RULES = MappingRules(
    fields={"first_name": "firstName", "last_name": "lastName", "email": "email", "title": "title"},
    active_field="active",
    required=("email", "firstName", "lastName"),
    match_on=("email",),
    active_statuses=frozenset({"ACTIVE", "PROVISIONED", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"}),
    group_roles={"Admins": "admin", "00gEditors": "editor", "Viewers": "viewer"},
)
UNMAPPED_FIELDS = ("nickname", "phone", "created_by")
STATUSES = ["ACTIVE", "PROVISIONED", "STAGED", "SUSPENDED", "DEPROVISIONED", "RECOVERY", None]

text = st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=8))
groups = st.lists(
    st.sampled_from(
        [
            OktaGroupRef("00gA", "Admins"),
            OktaGroupRef("00gEditors", "Renamed"),
            OktaGroupRef("00gV", "Viewers"),
            OktaGroupRef("00gX", "Other"),
            OktaGroupRef("00gY", "admin"),
        ]
    ),
    max_size=5,
)
roles = st.frozensets(
    st.sampled_from(["admin", "editor", "viewer", "auditor", "owner", "Admins"]), max_size=6
)


@st.composite
def okta_states(draw: st.DrawFn) -> OktaUserState:
    profile = {a: draw(text) for a in ("firstName", "lastName", "email", "title")}
    return OktaUserState("00u1", "u@example.com", draw(st.sampled_from(STATUSES)), profile, None)


@st.composite
def app_users(draw: st.DrawFn) -> AppUser:
    fields: dict[str, Any] = {f: draw(text) for f in (*RULES.fields, *UNMAPPED_FIELDS)}
    fields["active"] = draw(st.booleans())
    return AppUser("7", fields, draw(roles))


def apply(app: AppUser | None, p: Plan) -> AppUser:
    """What a target holds after writing the plan (the targets do exactly this)."""
    base = app or AppUser("new", {}, frozenset())
    return AppUser(base.key, {**base.fields, **p.fields}, (base.roles | p.roles_add) - p.roles_remove)


@settings(max_examples=400)
@given(okta_states(), st.one_of(st.none(), app_users()), st.one_of(st.none(), groups), st.booleans())
def test_unmanaged_roles_and_unmapped_fields_never_change(
    state: OktaUserState, app: AppUser | None, member_of: list[OktaGroupRef] | None, profile: bool
) -> None:
    p = plan(state, app, member_of, RULES, profile=profile)
    assert set(p.fields) <= RULES.written_fields
    assert p.roles_add <= RULES.managed_roles and p.roles_remove <= RULES.managed_roles
    assert not p.roles_add & p.roles_remove
    if app is not None and p.action != "skip":
        after = apply(app, p)
        assert after.roles - RULES.managed_roles == app.roles - RULES.managed_roles
        assert {f: after.fields[f] for f in UNMAPPED_FIELDS} == {f: app.fields[f] for f in UNMAPPED_FIELDS}


@settings(max_examples=400)
@given(okta_states(), st.one_of(st.none(), app_users()), groups)
def test_managed_roles_follow_okta_groups(
    state: OktaUserState, app: AppUser | None, member_of: list[OktaGroupRef]
) -> None:
    p = plan(state, app, member_of, RULES)
    if p.action == "skip" or state.status is None:
        return
    after = apply(app, p)
    assert after.roles & RULES.managed_roles == desired_roles(member_of, RULES)
    assert p.managed_roles == desired_roles(member_of, RULES)


@settings(max_examples=400)
@given(okta_states(), st.one_of(st.none(), app_users()), st.one_of(st.none(), groups))
def test_applying_a_plan_reaches_a_fixed_point(
    state: OktaUserState, app: AppUser | None, member_of: list[OktaGroupRef] | None
) -> None:
    p = plan(state, app, member_of, RULES)
    if p.action == "skip":
        return
    again = plan(state, apply(app, p), member_of, RULES)
    assert again.action == "unchanged", again


@settings(max_examples=300)
@given(okta_states(), st.one_of(st.none(), app_users()), st.one_of(st.none(), groups))
def test_users_are_never_deleted_and_gone_users_become_inactive(
    state: OktaUserState, app: AppUser | None, member_of: list[OktaGroupRef] | None
) -> None:
    p = plan(state, app, member_of, RULES)
    assert p.action in ("create", "update", "unchanged", "skip")
    gone = state.status in (None, "DEPROVISIONED")
    if gone and app is None:
        assert p.action == "skip" and p.code == "inactive_unknown"
    if gone and app is not None and p.action != "skip":
        assert apply(app, p).fields["active"] is False
    if p.action == "create":
        assert p.fields["active"] is (state.status in RULES.active_statuses)


@settings(max_examples=300)
@given(okta_states(), st.one_of(st.none(), app_users()))
def test_users_missing_required_fields_are_skipped_with_the_reason(
    state: OktaUserState, app: AppUser | None
) -> None:
    missing = [a for a in ("email", "firstName", "lastName") if not str(state.profile.get(a) or "").strip()]
    p = plan(state, app, None, RULES)
    if not missing or state.status is None:
        return
    if app is not None and state.status == "DEPROVISIONED":
        assert set(p.fields) <= {"active"}  # only deactivated: there is nothing else to map
        return
    if app is None and state.status == "DEPROVISIONED":
        assert p.code == "inactive_unknown"
        return
    assert p.action == "skip" and p.code == "missing_fields"
    assert p.reason == f"missing {', '.join(missing)} in Okta"


@given(okta_states(), app_users(), groups)
def test_a_membership_change_keeps_local_edits_of_mapped_fields(
    state: OktaUserState, app: AppUser, member_of: list[OktaGroupRef]
) -> None:
    assert plan(state, app, member_of, RULES, profile=False).fields == {}
    assert plan_roles(app, member_of, RULES).fields == {}


def test_an_okta_update_overwrites_local_edits_of_mapped_fields_only() -> None:
    state = OktaUserState(
        "00u1", "a@x.io", "ACTIVE", {"firstName": "Ann", "lastName": "Lee", "email": "a@x.io", "title": "CTO"}
    )
    local = AppUser(
        "7",
        {
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "a@x.io",
            "title": "Local edit",
            "active": True,
            "nickname": "Annie",
        },
        frozenset({"auditor", "admin"}),
    )
    p = plan(state, local, [OktaGroupRef("00gV", "Viewers")], RULES)
    assert p.action == "update" and p.fields == {"title": "CTO"}
    assert (p.roles_add, p.roles_remove) == ({"viewer"}, {"admin"})
    assert apply(local, p).fields["nickname"] == "Annie"


def test_a_group_maps_by_id_first_then_by_name() -> None:
    assert desired_roles([OktaGroupRef("00gEditors", "Admins")], RULES) == {"editor"}
    assert desired_roles([OktaGroupRef("00gZ", "Admins")], RULES) == {"admin"}
    assert desired_roles([OktaGroupRef("00gZ", "admins")], RULES) == frozenset()  # names are exact
