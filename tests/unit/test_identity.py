"""Whose is an account, and silence when asked: domain/identity.claim_existing and the planner's
part of the rules (no e-mail where the tenant said none; one source masters a shared profile)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idsync.domain.identity import Adopt, Reject, Share, claim_existing
from idsync.domain.links import Link
from idsync.domain.models import Op, Status
from idsync.domain.planner import ActivateUser, CreateUser, UpdateProfile, plan
from idsync.domain.policy import DeletePolicy, ExistingAccount, SyncMode, TenantPolicy
from idsync.domain.text import login_key

from .test_planner import change, changes, linked, links

ME = Link("efs", "panelist", "p-9", "okta")


def pol(existing: ExistingAccount = ExistingAccount.REJECT, **kw: object) -> TenantPolicy:
    return TenantPolicy(
        tenant="efs",
        existing_account=existing,
        source_priority=("efs-admin", "panelist"),
        **kw,  # type: ignore[arg-type]
    )


def holder(tenant: str = "efs", source: str = "efs-admin", key: str = "4711", **kw: object) -> Link:
    return Link(tenant, source, key, "okta", "00uHELD", "ann@example.com", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", list(ExistingAccount))
def test_another_tenants_account_is_refused_under_every_policy_without_naming_it(
    policy: ExistingAccount,
) -> None:
    claim = claim_existing(
        pol(policy), ME, "ann@example.com", holder(tenant="other"), our_create_pending=True
    )
    assert isinstance(claim, Reject)
    assert claim.reason.code == "login_taken"
    assert "not managed by this tenant" in claim.reason.message and "4711" not in claim.reason.message


def test_an_unlinked_account_is_adopted_only_under_adopt_unlinked_or_as_our_lost_create() -> None:
    assert isinstance(claim_existing(pol(), ME, "a@b.co", None, our_create_pending=False), Reject)
    merge = pol(ExistingAccount.MERGE_SOURCES)
    assert isinstance(claim_existing(merge, ME, "a@b.co", None, our_create_pending=False), Reject)
    assert claim_existing(
        pol(ExistingAccount.ADOPT_UNLINKED), ME, "a@b.co", None, our_create_pending=False
    ) == Adopt(ours=False)
    assert claim_existing(pol(), ME, "a@b.co", None, our_create_pending=True) == Adopt(ours=True)


def test_an_account_of_this_tenant_is_shared_only_between_sources_under_merge_sources() -> None:
    for policy in (ExistingAccount.REJECT, ExistingAccount.ADOPT_UNLINKED):
        claim = claim_existing(pol(policy), ME, "a@b.co", holder(), our_create_pending=False)
        assert isinstance(claim, Reject) and "efs-admin/4711" in claim.reason.message
    merge = pol(ExistingAccount.MERGE_SOURCES)
    assert claim_existing(merge, ME, "a@b.co", holder(), our_create_pending=False) == Share(holder())
    same_source = holder(source="panelist", key="p-10")
    assert isinstance(claim_existing(merge, ME, "a@b.co", same_source, our_create_pending=False), Reject)
    already = holder(sharers=("panelist",))  # another panelist shares it already
    assert isinstance(claim_existing(merge, ME, "a@b.co", already, our_create_pending=False), Reject)
    assert claim_existing(merge, ME, "a@b.co", replace(ME, idp_id="00uX"), our_create_pending=False) == Adopt(
        ours=False
    )


def test_logins_compare_as_okta_compares_them() -> None:
    assert login_key("Zoë.Ünal@Example.COM") == login_key("zoe.unal@example.com")
    assert login_key("ann@example.com") != login_key("anne@example.com")


def test_a_silent_tenant_creates_staged_then_activates_without_email() -> None:
    silent = TenantPolicy(tenant="t", mode=SyncMode.SYNC_AND_ACTIVATE, send_activation_email=False)
    p = plan(change(), None, silent)
    assert p.status is Status.CREATED
    (create,) = p.actions
    assert isinstance(create, CreateUser) and not create.activate and create.activate_silently


def test_a_lower_source_never_overwrites_a_shared_profile() -> None:
    merge = TenantPolicy(
        tenant="t", existing_account=ExistingAccount.MERGE_SOURCES, source_priority=("admin", "efs")
    )
    shared = replace(linked(), sharers=("admin",))
    p = plan(change(firstName="Other"), shared, merge)
    assert p.status is Status.SKIPPED and p.reason is not None and p.reason.code == "profile_mastered"
    assert not any(isinstance(a, UpdateProfile) for a in p.actions)
    ranked_first = TenantPolicy(
        tenant="t", existing_account=ExistingAccount.MERGE_SOURCES, source_priority=("efs", "admin")
    )
    assert plan(change(firstName="Other"), shared, ranked_first).status is Status.UPDATED


def test_removing_a_shared_person_from_one_source_leaves_the_account() -> None:
    merge = TenantPolicy(
        tenant="t",
        existing_account=ExistingAccount.MERGE_SOURCES,
        source_priority=("admin", "efs"),
        delete_policy=DeletePolicy.DELETE,
    )
    shared = replace(linked(), sharers=("admin",))
    p = plan(change(Op.DELETE), shared, merge)
    assert p.actions == () and p.handover and p.reason is not None and p.reason.code == "shared_account"
    assert plan(change(Op.DEACTIVATE), shared, merge).actions == ()
    assert plan(change(Op.DELETE), linked(), merge).actions != ()


silent_policies = st.builds(
    lambda mode, delete: TenantPolicy(
        tenant="t", mode=mode, delete_policy=delete, send_activation_email=False
    ),
    st.sampled_from(list(SyncMode)),
    st.sampled_from(list(DeletePolicy)),
)


@settings(max_examples=500)
@given(changes, links, silent_policies)
def test_no_plan_of_a_silent_tenant_sends_an_email(
    c: object, link: Link | None, policy: TenantPolicy
) -> None:
    p = plan(c, link, policy)  # type: ignore[arg-type]
    for action in p.actions:
        assert not (isinstance(action, CreateUser) and action.activate)
        assert not (isinstance(action, ActivateUser) and action.send_email)


def test_login_key_of_ascii_is_the_same_as_the_general_form() -> None:
    """The ASCII shortcut must agree with decompose-strip-casefold for every ASCII character."""
    import unicodedata

    for code in range(128):
        login = f"A{chr(code)}b@X.org"
        general = "".join(
            c for c in unicodedata.normalize("NFKD", login) if not unicodedata.combining(c)
        ).casefold()
        assert login_key(login) == general
