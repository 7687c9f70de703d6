"""The flow table: every one of the 128 combinations checked against the seed's rules, and the
committed docs/login-flows.md is exactly what the code generates."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from idsync.access import flows
from idsync.access.flowdoc import COMMAND, render
from idsync.access.flows import Conditions, Outcome, all_conditions, flow

DOC = Path(__file__).resolve().parents[2] / "docs" / "login-flows.md"
ALL = list(all_conditions())
OKTA_PAGES = {flows.OKTA_ASKS_EMAIL, flows.OKTA_PREFILLED}


def _id(c: Conditions) -> str:
    return "".join("1" if v else "0" for v in flows.as_row(c))


def test_there_are_128_distinct_combinations_in_the_seed_s_column_order() -> None:
    assert len(ALL) == len(set(ALL)) == 2**7
    assert [name for _, name, _ in flows.COLUMNS] == [
        "ext. IdP",
        "IdP ID",
        "e-mail",
        "session app",
        "session Okta",
        "session ext. IdP",
        "domain routed",
    ]


@pytest.mark.parametrize("c", ALL, ids=_id)
def test_every_row_follows_the_seed_s_rules(c: Conditions) -> None:
    f = flow(c)
    assert f.conditions == c
    needs_external = c.idp_id or c.routed or c.session_external
    if not c.external_idp and needs_external:
        assert f.outcome is Outcome.IMPOSSIBLE and f.rule == 1
        assert f.steps == () and f.notes, "an impossible row says why"
        for wanted, text in ((c.idp_id, "IdP id"), (c.routed, "routed"), (c.session_external, "session")):
            assert wanted == any(text in note for note in f.notes)
        return
    assert f.outcome is not Outcome.IMPOSSIBLE and f.steps
    if c.session_app:  # the application's own session: nobody else is asked, whatever Okta's state
        assert f.steps == (flows.APP_PAGE,) and f.outcome is Outcome.SIGNED_IN
        return
    assert f.steps[0] == flows.TO_OKTA, "without an application session a private page goes to Okta"
    if c.session_okta:  # the master session: single sign-on, no page of any IdP
        assert f.steps == (flows.TO_OKTA, flows.OKTA_SSO, flows.BACK)
        return
    went_external = flows.BY_IDP_ID in f.steps or flows.BY_RULE in f.steps
    assert went_external == (c.idp_id or c.routed)
    assert (flows.BY_IDP_ID in f.steps) == c.idp_id, "the IdP id wins over Okta's routing rule"
    if c.idp_id:
        assert not OKTA_PAGES & set(f.steps), "the IdP id skips Okta's sign-in page"
    # Okta's page: the e-mail filled in when it came with the request, asked for otherwise.
    if not c.idp_id:
        assert (flows.OKTA_PREFILLED in f.steps) == (c.email and not c.routed)
        assert (flows.OKTA_ASKS_EMAIL in f.steps) == (not c.email)
    # A routed user has no Okta password (never synced); everybody else signs in with one.
    assert (flows.OKTA_PASSWORD in f.steps) == (not went_external)
    if went_external and c.routed:
        assert (flows.EXT_SSO in f.steps) == c.session_external
        assert (flows.EXT_SIGN_IN in f.steps) == (not c.session_external)
        assert f.steps[-2:] == (flows.EXT_BACK, flows.BACK)
    if c.idp_id and not c.routed:
        assert f.outcome is Outcome.FAILS and f.steps[-1] == flows.EXT_UNKNOWN
        assert any("routing endpoint" in note for note in f.notes)
    else:
        assert f.outcome is Outcome.SIGNED_IN and f.steps[-1] == flows.BACK


def test_counts_of_possible_and_impossible_rows() -> None:
    outcomes = [flow(c).outcome for c in ALL]
    assert outcomes.count(Outcome.IMPOSSIBLE) == 56  # 64 rows without an external IdP, 8 possible
    assert outcomes.count(Outcome.FAILS) == 4  # IdP id, unrouted user, no app/Okta session
    assert outcomes.count(Outcome.SIGNED_IN) == 68


BASE = Conditions(
    external_idp=True,
    idp_id=False,
    email=True,
    session_app=False,
    session_okta=False,
    session_external=False,
    routed=False,
)


def test_seed_okta_logout_leaves_the_application_session_until_it_expires() -> None:
    after_logout = replace(BASE, session_app=True, session_okta=False)
    f = flow(after_logout)
    assert f.steps == (flows.APP_PAGE,)
    assert "until it expires" in f.notes[0]
    expired = replace(after_logout, session_app=False)
    assert flows.OKTA_PASSWORD in flow(expired).steps


def test_seed_master_session_gives_single_sign_on_when_the_application_asks_again() -> None:
    assert flow(replace(BASE, session_okta=True)).name == "Okta single sign-on"


def test_a_routed_user_with_a_session_at_the_external_idp_sees_no_sign_in_page() -> None:
    f = flow(replace(BASE, routed=True, session_external=True))
    assert f.name == "External IdP by routing rule, SSO there"
    assert not {flows.EXT_SIGN_IN, flows.OKTA_PASSWORD, *OKTA_PAGES} & set(f.steps)


def test_every_flow_has_its_rule_and_every_rule_is_used() -> None:
    rules = {flow(c).rule for c in ALL}
    assert rules == set(range(1, len(flows.RULES)))  # the last rule (external IdP) is part of 4-6


def test_the_committed_document_is_generated_from_the_code() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/login-flows.md is stale: run `{COMMAND}`"


def test_the_document_lists_every_combination_once() -> None:
    text = render()
    rows = [
        line for line in text.splitlines() if line.startswith("| ") and line.split(" | ")[0][2:].isdigit()
    ]
    numbers = sorted(int(line.split(" | ")[0][2:]) for line in rows)
    assert numbers == list(range(1, 129))
    assert "### Possible (72)" in text and "### Impossible (56)" in text
    for title, _ in flows.OUTSIDE_THE_TABLE:
        assert f"**{title}.**" in text
