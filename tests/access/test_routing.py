"""Routing: where a user logs in, answered by the same rules that make the sync skip a user."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idsync.access.routing import InvalidEmail, LoginRoute, route
from idsync.domain.models import ChangeMessage, Op
from idsync.domain.planner import plan
from idsync.domain.policy import ExternalIdp, RoutingRules, SyncMode, TenantPolicy

OKTA = "https://acme.okta.com"
RULES = RoutingRules(
    (
        ExternalIdp("acme-entra", ("acme.example", "*.acme.example"), "https://login.acme.example/sso"),
        ExternalIdp("partner-adfs", ("partner.example",)),  # no login URL of its own
    )
)


def answer(email: str, rules: RoutingRules = RULES) -> LoginRoute:
    return route("efs-prod", rules, email, main_idp="okta", main_login_url=OKTA)


def test_a_user_of_an_unrouted_domain_logs_in_at_okta_and_is_synced() -> None:
    r = answer("ann@example.com")
    assert (r.idp, r.external, r.login_url, r.needs_sync) == ("okta", False, OKTA, True)
    assert (r.tenant, r.domain) == ("efs-prod", "example.com")


@pytest.mark.parametrize("email", ["bob@acme.example", "Bob@EU.Acme.Example", "  bob@x.y.acme.example "])
def test_a_routed_domain_logs_in_at_its_external_idp_and_is_not_synced(email: str) -> None:
    r = answer(email)
    assert (r.idp, r.external, r.login_url, r.needs_sync) == (
        "acme-entra",
        True,
        "https://login.acme.example/sso",
        False,
    )
    assert r.email == email.strip()


def test_an_external_idp_without_a_login_url_starts_at_okta() -> None:
    r = answer("carl@partner.example")
    assert (r.idp, r.external, r.login_url) == ("partner-adfs", True, OKTA)


def test_a_lookalike_domain_is_not_routed() -> None:
    assert not answer("eve@notacme.example").external
    assert not answer("eve@acme.example.evil").external


@pytest.mark.parametrize("value", ["", "bob", "bob@", "@acme.example", "bob@acme", "a b@acme.example"])
def test_what_is_not_an_e_mail_address_is_refused(value: str) -> None:
    with pytest.raises(InvalidEmail):
        answer(value)


domains = st.sampled_from(["example.com", "acme.example", "eu.acme.example", "partner.example", "b.de"])
locals_ = st.from_regex(r"[a-z][a-z0-9.]{0,8}[a-z0-9]", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(local=locals_, domain=domains, upper=st.booleans())
def test_login_route_and_sync_planner_agree_on_every_user(local: str, domain: str, upper: bool) -> None:
    """One source of truth: a user is routed elsewhere exactly when the planner skips them."""
    email = f"{local}@{domain.upper() if upper else domain}"
    policy = TenantPolicy(tenant="efs-prod", mode=SyncMode.SYNC, routing=RULES)
    change = ChangeMessage(
        tenant="efs-prod",
        op=Op.UPSERT,
        source="efs",
        key="1",
        user={"login": email, "email": email, "firstName": "Ann", "lastName": "Lee"},
    )
    planned = plan(change, None, policy)
    skipped = planned.reason is not None and planned.reason.code == "external_idp"
    assert answer(email).external == skipped
    assert answer(email).needs_sync == (not skipped)
