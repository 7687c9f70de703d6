"""The planner, by example and by property (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from idsync.domain.links import IdpStatus, Link, PendingOp
from idsync.domain.models import ChangeMessage, Op, Status, UserFields
from idsync.domain.planner import (
    ActivateUser,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Plan,
    UpdateProfile,
    plan,
)
from idsync.domain.policy import DeletePolicy, ExternalIdp, RoutingRules, SyncMode, TenantPolicy
from idsync.domain.profile import map_profile, profile_hash

ROUTING = RoutingRules((ExternalIdp("acme-adfs", ("acme.com", "*.acme.org"), "https://adfs.acme.com"),))


def policy(mode: SyncMode = SyncMode.SYNC, delete: DeletePolicy = DeletePolicy.IGNORE) -> TenantPolicy:
    return TenantPolicy(tenant="t", mode=mode, delete_policy=delete, routing=ROUTING)


def change(
    op: Op = Op.UPSERT, email: str = "ann@example.com", version: int | None = None, **user: str
) -> ChangeMessage:
    fields = {"login": email, "email": email, "firstName": "Ann", "lastName": "Lee", **user}
    return ChangeMessage(
        tenant="t",
        op=op,
        source="efs",
        key="42",
        version=version,
        user=UserFields.model_validate(fields) if op is Op.UPSERT else None,
    )


def linked(
    c: ChangeMessage | None = None,
    status: IdpStatus = IdpStatus.STAGED,
    version: int | None = None,
    **kw: object,
) -> Link:
    c = c or change()
    assert c.user is not None
    digest = profile_hash(map_profile(c.user))
    return Link(
        tenant="t",
        source="efs",
        key="42",
        idp="okta",
        idp_id="00u1",
        login=c.user.login,
        profile_hash=digest,
        idp_status=status,
        version=version,
        **kw,
    )  # type: ignore[arg-type]


def test_new_user_is_created_without_activation_in_sync_mode() -> None:
    p = plan(change(), None, policy())
    assert p.status is Status.CREATED
    assert p.actions == (CreateUser(p.profile or {}, activate=False),)


def test_sync_and_activate_creates_and_activates_in_one_call() -> None:
    p = plan(change(), None, policy(SyncMode.SYNC_AND_ACTIVATE))
    assert len(p.actions) == 1
    assert isinstance(p.actions[0], CreateUser) and p.actions[0].activate


def test_unchanged_user_costs_no_call() -> None:
    p = plan(change(), linked(), policy())
    assert p.status is Status.UNCHANGED
    assert p.actions == ()


def test_mode_off_skips_everything() -> None:
    for op in Op:
        p = plan(change(op), linked(), policy(SyncMode.OFF))
        assert (p.status, p.actions, p.reason and p.reason.code) == (Status.SKIPPED, (), "sync_off")


def test_external_idp_domain_is_skipped_without_a_call() -> None:
    for email in ("bob@acme.com", "bob@Sales.ACME.org"):
        p = plan(change(email=email), None, policy())
        assert p.status is Status.SKIPPED and p.actions == ()
        assert p.reason is not None and p.reason.code == "external_idp" and "acme-adfs" in p.reason.message
    assert plan(change(email="bob@notacme.com"), None, policy()).status is Status.CREATED


def test_email_change_renames_the_existing_account() -> None:
    p = plan(change(email="ann.lee@example.com"), linked(), policy())
    assert p.status is Status.UPDATED
    assert len(p.actions) == 1
    action = p.actions[0]
    assert isinstance(action, UpdateProfile)
    assert action.idp_id == "00u1" and action.rename_from == "ann@example.com"
    assert action.profile["login"] == "ann.lee@example.com"


def test_older_version_never_overwrites_a_newer_one() -> None:
    p = plan(change(version=3, firstName="Old"), linked(version=5), policy())
    assert p.status is Status.SKIPPED and p.reason is not None and p.reason.code == "outdated_version"
    assert plan(change(version=5, firstName="Same"), linked(version=5), policy()).status is Status.UPDATED


def test_switching_to_sync_and_activate_activates_staged_users() -> None:
    p = plan(change(), linked(status=IdpStatus.STAGED), policy(SyncMode.SYNC_AND_ACTIVATE))
    assert p.status is Status.ACTIVATED
    assert p.actions == (ActivateUser("00u1", send_email=True),)
    assert plan(change(), linked(status=IdpStatus.ACTIVE), policy(SyncMode.SYNC_AND_ACTIVATE)).actions == ()


def test_delete_policies() -> None:
    d = change(Op.DELETE)
    ignored = plan(d, linked(), policy())
    assert ignored.status is Status.SKIPPED and ignored.reason and ignored.reason.code == "delete_ignored"
    assert plan(d, linked(status=IdpStatus.ACTIVE), policy(delete=DeletePolicy.DEACTIVATE)).actions == (
        DeactivateUser("00u1"),
    )
    assert plan(d, linked(status=IdpStatus.ACTIVE), policy(delete=DeletePolicy.DELETE)).actions == (
        DeleteUser("00u1", deprovisioned=False),
    )
    assert plan(d, None, policy(delete=DeletePolicy.DELETE)).reason.code == "not_linked"  # type: ignore[union-attr]


def test_unknown_outcome_of_a_create_is_looked_up_first() -> None:
    pending = Link(tenant="t", source="efs", key="42", idp="okta", pending_op=PendingOp.CREATE)
    p = plan(change(), pending, policy())
    assert isinstance(p.actions[0], CreateUser) and p.actions[0].lookup_first


def test_a_replay_after_its_own_create_landed_reports_created() -> None:
    """A crash after the create (or the claim of our own create) but before the result: the link
    holds the account with the create's intent; the replay reports `created`, reads the status
    before any activation, and sends nothing else for an account already in step."""
    loud = plan(
        change(),
        linked(status=IdpStatus.PROVISIONED, pending_op=PendingOp.CREATE),
        policy(SyncMode.SYNC_AND_ACTIVATE),
    )
    assert (loud.status, loud.actions) == (Status.CREATED, ())
    silent = plan(change(), linked(pending_op=PendingOp.CREATE), policy(SyncMode.SYNC_AND_ACTIVATE))
    assert silent.status is Status.CREATED
    [activate] = silent.actions
    assert isinstance(activate, ActivateUser) and activate.check_status_first
    renamed = plan(change(firstName="Bea"), linked(pending_op=PendingOp.CREATE), policy())
    assert renamed.status is Status.CREATED and isinstance(renamed.actions[0], UpdateProfile)
    recorded = plan(change(), linked(status=IdpStatus.PROVISIONED), policy(SyncMode.SYNC_AND_ACTIVATE))
    assert (recorded.status, recorded.actions) == (Status.UNCHANGED, ())


def test_activate_and_deactivate_ops() -> None:
    assert plan(change(Op.ACTIVATE), linked(), policy()).actions == (ActivateUser("00u1", send_email=True),)
    assert plan(change(Op.ACTIVATE), linked(status=IdpStatus.ACTIVE), policy()).status is Status.UNCHANGED
    assert (
        plan(change(Op.DEACTIVATE), linked(status=IdpStatus.DEPROVISIONED), policy()).status
        is Status.UNCHANGED
    )


# ---- properties --------------------------------------------------------------------------------

emails = st.sampled_from(
    [
        "ann@example.com",
        "ann.lee@example.com",
        "bob@acme.com",
        "eve@x.acme.org",
        "o'brien@example.net",
        "ANN@example.com",
    ]
)
changes = st.builds(
    lambda op, email, first, version: (
        change(op, email=email, version=version, firstName=first)
        if op is Op.UPSERT
        else change(op, version=version)
    ),
    st.sampled_from(list(Op)),
    emails,
    st.sampled_from(["Ann", "Anna", "Zoë"]),
    st.one_of(st.none(), st.integers(0, 5)),
)
links = st.one_of(
    st.none(),
    st.builds(
        lambda c, status, version, pending: linked(c, status=status, version=version, pending_op=pending),
        changes.filter(lambda c: c.op is Op.UPSERT),
        st.sampled_from(list(IdpStatus)),
        st.one_of(st.none(), st.integers(0, 5)),
        st.sampled_from([None, PendingOp.ACTIVATE]),
    ),
)
policies = st.builds(policy, st.sampled_from(list(SyncMode)), st.sampled_from(list(DeletePolicy)))


def apply_model(p: Plan, link: Link | None, c: ChangeMessage) -> Link | None:
    """What the IdP and the link look like after a plan succeeds (a model of the engine)."""
    current = link or Link(tenant="t", source="efs", key="42", idp="okta")
    for a in p.actions:
        if isinstance(a, CreateUser):
            current = replace(
                current,
                idp_id="00uNEW",
                login=str(a.profile["login"]),
                profile_hash=p.profile_hash,
                idp_status=IdpStatus.PROVISIONED if a.activate else IdpStatus.STAGED,
                pending_op=None,
            )
        elif isinstance(a, UpdateProfile):
            current = replace(current, login=str(a.profile["login"]), profile_hash=p.profile_hash)
        elif isinstance(a, ActivateUser):
            current = replace(current, idp_status=IdpStatus.PROVISIONED, pending_op=None)
        elif isinstance(a, DeactivateUser):
            current = replace(current, idp_status=IdpStatus.DEPROVISIONED)
        elif isinstance(a, DeleteUser):
            current = replace(current, idp_id=None, idp_status=None, profile_hash=None)
    if p.actions or (link is not None and p.status is not Status.SKIPPED):
        return replace(current, version=p.version if p.version is not None else current.version)
    return link


@settings(max_examples=400)
@given(changes, links, policies)
def test_a_linked_user_is_never_created_again(c: ChangeMessage, link: Link | None, pol: TenantPolicy) -> None:
    p = plan(c, link, pol)
    if link is not None and link.exists:
        assert not any(isinstance(a, CreateUser) for a in p.actions)


@settings(max_examples=400)
@given(changes, links, policies)
def test_skips_never_call_the_idp(c: ChangeMessage, link: Link | None, pol: TenantPolicy) -> None:
    p = plan(c, link, pol)
    if p.status is Status.SKIPPED:
        assert p.actions == () and p.reason is not None
    if pol.mode is SyncMode.OFF:
        assert p.actions == ()
    if c.user is not None and pol.routing.external_idp_for(c.user.email) is not None:
        assert p.actions == ()


@settings(max_examples=400)
@given(changes, links, policies)
def test_older_versions_never_act(c: ChangeMessage, link: Link | None, pol: TenantPolicy) -> None:
    if link is not None and link.version is not None and c.version is not None and c.version < link.version:
        assert plan(c, link, pol).actions == ()


@settings(max_examples=400)
@given(changes, links, policies)
def test_applying_a_plan_converges(c: ChangeMessage, link: Link | None, pol: TenantPolicy) -> None:
    """Once a plan is carried out, the same change again needs no call (idempotent re-delivery)."""
    first = plan(c, link, pol)
    after = apply_model(first, link, c)
    second = plan(c, after, pol)
    assert second.actions == (), (first, second)


@settings(max_examples=200)
@given(changes, links, policies)
def test_planning_is_deterministic(c: ChangeMessage, link: Link | None, pol: TenantPolicy) -> None:
    assert plan(c, link, pol) == plan(c, link, pol)


@given(st.dictionaries(st.sampled_from(["title", "department", "mobilePhone"]), st.text(max_size=5)))
def test_profile_hash_ignores_key_order(extras: dict[str, str]) -> None:
    base = {"login": "a@b.co", "email": "a@b.co", "firstName": "A", "lastName": "B"}
    forward = {**base, **extras}
    backward = dict(reversed(list(forward.items())))
    assert profile_hash(forward) == profile_hash(backward)
    assert profile_hash({**forward, "firstName": "C"}) != profile_hash(forward)


@given(
    st.sampled_from(["ann@example.com", "o'brien@example.net", "Ann.Lee@Example.COM"]),
    st.sampled_from(["Ann", "Zoë", "李", "D'Arcy-Lee"]),
    st.dictionaries(
        st.sampled_from(["title", "department"]),
        st.one_of(st.text("abc é", max_size=4), st.integers(), st.none()),
    ),
    st.sampled_from([None, {"title": "title"}, {"department": "email"}]),
)
def test_the_plan_hashes_the_profile_it_sends(
    email: str, first: str, extras: dict[str, object], attribute_map: dict[str, str] | None
) -> None:
    """The re-import's fast hash of a core-only profile agrees with `profile_hash` (and with it,
    the hashes stored by earlier versions)."""
    c = change(email=email, firstName=first, **extras)  # type: ignore[arg-type]
    pol = replace(policy(), attribute_map=attribute_map)
    p = plan(c, None, pol)
    assert p.profile is not None and p.profile_hash == profile_hash(p.profile)
    assert p.profile == map_profile(c.user, attribute_map)  # type: ignore[arg-type]
