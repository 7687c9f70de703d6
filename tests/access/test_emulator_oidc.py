"""The emulator's OpenID Connect sign-in, at the protocol level (in-process, clock moved by hand)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from idsync.emulator.okta.clock import ManualClock

from .oidc_support import AFTER_LOGOUT, ORG, PASSWORD, REDIRECT, Org, query

ANN = "ann.lee@example.com"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())  # real time, so ID tokens are valid for any verifier


@pytest.fixture
async def org(clock: ManualClock) -> AsyncIterator[Org]:
    o = Org(clock)
    yield o
    await o.aclose()


async def test_discovery_documents_of_both_authorization_servers(org: Org) -> None:
    meta = (await org.browser.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == ORG
    assert meta["authorization_endpoint"] == f"{ORG}/oauth2/v1/authorize"
    assert meta["jwks_uri"] == f"{ORG}/oauth2/v1/keys"
    assert meta["end_session_endpoint"] == f"{ORG}/oauth2/v1/logout"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    default = (await org.browser.get("/oauth2/default/.well-known/openid-configuration")).json()
    assert default["issuer"] == f"{ORG}/oauth2/default"
    assert default["token_endpoint"] == f"{ORG}/oauth2/default/v1/token"
    org_kid = (await org.browser.get("/oauth2/v1/keys")).json()["keys"][0]["kid"]
    default_keys = (await org.browser.get("/oauth2/default/v1/keys")).json()["keys"]
    assert default_keys[0]["kid"] != org_kid and "d" not in default_keys[0], "public keys only"


async def test_code_flow_with_pkce_signs_in_and_issues_a_signed_id_token(org: Org) -> None:
    user = await org.user(ANN)
    app = await org.oidc_app()
    url, state, verifier = org.authorize_url(app, login_hint=ANN)
    first = await org.browser.get(url)
    sign_in = await org.browser.get(first.headers["location"])
    assert 'value="ann.lee@example.com"' in sign_in.text, "login_hint fills in the username"
    back = await org.sign_in(url, ANN)
    assert back.status_code == 302 and back.headers["location"].startswith(REDIRECT)
    answer = query(back.headers["location"])
    assert answer["state"] == state
    tokens = await org.tokens(app, answer["code"], verifier)
    claims = tokens.claims
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ORG, app.client_id, user["id"])
    assert claims["nonce"] == "n-" + state and claims["email"] == ANN and claims["amr"] == ["pwd"]
    assert claims["exp"] - claims["iat"] == 3600 and "at_hash" in claims
    info = await org.browser.get(
        "/oauth2/v1/userinfo", headers={"Authorization": f"Bearer {tokens.access_token}"}
    )
    assert info.json()["sub"] == user["id"] and info.json()["preferred_username"] == ANN
    assert [s["login"] for s in await org.sessions()] == [ANN]


async def test_the_okta_session_gives_single_sign_on_until_it_is_idle_for_two_hours(
    org: Org, clock: ManualClock
) -> None:
    await org.user(ANN)
    app = await org.oidc_app()
    await org.sign_in(org.authorize_url(app)[0], ANN)
    for _ in range(3):  # used every 1.9 h: the idle lifetime starts again each time
        clock.advance(1.9 * 3600)
        again = await org.browser.get(org.authorize_url(app)[0])
        assert again.headers["location"].startswith(REDIRECT), "single sign-on, no sign-in page"
    clock.advance(2 * 3600 + 1)
    expired = await org.browser.get(org.authorize_url(app)[0])
    assert expired.headers["location"].startswith("/login/login.htm")
    assert await org.sessions() == []


async def test_a_maximum_session_lifetime_ends_even_a_busy_session(clock: ManualClock) -> None:
    org = Org(clock, session_lifetime_s=600, session_max_lifetime_s=1800)
    await org.user(ANN)
    app = await org.oidc_app()
    await org.sign_in(org.authorize_url(app)[0], ANN)
    for _ in range(3):
        clock.advance(500)
        assert (await org.browser.get(org.authorize_url(app)[0])).headers["location"].startswith(REDIRECT)
    clock.advance(301)  # 1801 s after the sign-in
    assert (await org.browser.get(org.authorize_url(app)[0])).headers["location"].startswith("/login/")
    await org.aclose()


async def test_logout_ends_the_okta_session_and_returns_to_the_registered_uri(org: Org) -> None:
    await org.user(ANN)
    app = await org.oidc_app()
    url, _, verifier = org.authorize_url(app)
    code = query((await org.sign_in(url, ANN)).headers["location"])["code"]
    tokens = await org.tokens(app, code, verifier)
    assert org.browser.cookies.get("sid")
    out = await org.browser.get(
        "/oauth2/v1/logout",
        params={"id_token_hint": tokens.id_token, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "s1"},
    )
    assert out.status_code == 302 and out.headers["location"] == f"{AFTER_LOGOUT}?state=s1"
    assert "sid=" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    assert await org.sessions(ANN) == []
    again = await org.browser.get(org.authorize_url(app)[0])
    assert again.headers["location"].startswith("/login/login.htm"), "no session: sign in again"


async def test_logout_refuses_what_okta_refuses(org: Org) -> None:
    await org.user(ANN)
    app = await org.oidc_app()
    url, _, verifier = org.authorize_url(app)
    tokens = await org.tokens(app, query((await org.sign_in(url, ANN)).headers["location"])["code"], verifier)
    missing = await org.browser.get("/oauth2/v1/logout")
    assert missing.status_code == 400 and "id_token_hint" in missing.text
    unregistered = await org.browser.get(
        "/oauth2/v1/logout",
        params={"id_token_hint": tokens.id_token, "post_logout_redirect_uri": "https://evil.example"},
    )
    assert unregistered.status_code == 400 and "Logout redirect URI" in unregistered.text
    forged = await org.browser.get(
        "/oauth2/v1/logout", params={"id_token_hint": tokens.id_token[:-4] + "AAAA"}
    )
    assert forged.status_code == 400
    assert len(await org.sessions(ANN)) == 1, "a refused logout ends nothing"
    plain = await org.browser.get("/oauth2/v1/logout", params={"id_token_hint": tokens.id_token})
    assert plain.headers["location"] == "/login/signout"
    assert await org.sessions(ANN) == []


async def test_wrong_password_inactive_user_and_unknown_user_are_unable_to_sign_in(org: Org) -> None:
    await org.user(ANN)
    await org.user("pat@example.com", password=None)  # activated but never set a password: PROVISIONED
    app = await org.oidc_app()
    url = org.authorize_url(app)[0]
    from_uri = query((await org.browser.get(url)).headers["location"])["fromURI"]
    for login, password in (
        (ANN, "Wrong-Pass-1"),
        ("pat@example.com", PASSWORD),
        ("nobody@example.com", PASSWORD),
    ):
        r = await org.browser.post(
            "/login/login.htm", data={"username": login, "password": password, "fromURI": from_uri}
        )
        assert r.status_code == 401 and "Unable to sign in" in r.text
    assert await org.sessions() == []


async def test_pkce_and_codes_are_checked(org: Org) -> None:
    await org.user(ANN)
    public = await org.oidc_app(auth="none")
    url, _, verifier = org.authorize_url(public)
    code = query((await org.sign_in(url, ANN)).headers["location"])["code"]
    form = {"grant_type": "authorization_code", "redirect_uri": REDIRECT, "client_id": public.client_id}
    bad = await org.browser.post(
        "/oauth2/v1/token", data={**form, "code": code, "code_verifier": verifier[::-1]}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    url, _, verifier = org.authorize_url(public)
    code = query((await org.browser.get(url)).headers["location"])["code"]
    await org.tokens(public, code, verifier)
    reused = await org.browser.post(
        "/oauth2/v1/token", data={**form, "code": code, "code_verifier": verifier}
    )
    assert reused.json()["error"] == "invalid_grant", "a code is good once"
    no_pkce = org.authorize_url(public)[0].split("&code_challenge=")[0]
    refused = await org.browser.get(no_pkce)
    assert (
        refused.headers["location"].startswith(REDIRECT)
        and query(refused.headers["location"])["error"] == "invalid_request"
    )


async def test_requests_okta_refuses_before_any_sign_in(org: Org) -> None:
    await org.user(ANN)
    app = await org.oidc_app()
    wrong_uri = org.authorize_url(app, redirect_uri="https://evil.example/cb")[0]
    page = await org.browser.get(wrong_uri)
    assert page.status_code == 400 and "redirect" in page.text.lower()
    unknown = await org.browser.get(org.authorize_url(app, client_id="0oanobody")[0])
    assert unknown.status_code in (400, 401) and "invalid_client" in unknown.text
    none = await org.browser.get(org.authorize_url(app, prompt="none")[0])
    assert query(none.headers["location"])["error"] == "login_required"
    no_openid = await org.browser.get(org.authorize_url(app, scope="profile")[0])
    assert query(no_openid.headers["location"])["error"] == "invalid_scope"


async def test_a_user_not_assigned_to_the_app_is_denied(org: Org) -> None:
    await org.user(ANN)
    app = await org.oidc_app(assign=False)
    back = await org.sign_in(org.authorize_url(app)[0], ANN)
    answer = query(back.headers["location"])
    assert back.headers["location"].startswith(REDIRECT)
    assert answer["error"] == "access_denied" and "not assigned" in answer["error_description"]


async def test_prompt_login_asks_again_despite_the_session(org: Org) -> None:
    await org.user(ANN)
    app = await org.oidc_app()
    await org.sign_in(org.authorize_url(app)[0], ANN)
    forced = await org.browser.get(org.authorize_url(app, prompt="login")[0])
    assert forced.headers["location"].startswith("/login/login.htm")
    assert "prompt" not in query(forced.headers["location"])["fromURI"]


async def test_the_default_authorization_server_has_its_own_issuer_and_tokens(org: Org) -> None:
    await org.user(ANN)
    app = await org.oidc_app()
    url, _, verifier = org.authorize_url(app, prefix="/oauth2/default/v1")
    code = query((await org.sign_in(url, ANN)).headers["location"])["code"]
    tokens = await org.tokens(app, code, verifier, prefix="/oauth2/default/v1")
    assert tokens.claims["iss"] == f"{ORG}/oauth2/default"
    bearer = {"Authorization": f"Bearer {tokens.access_token}"}
    assert (await org.browser.get("/oauth2/default/v1/userinfo", headers=bearer)).status_code == 200
    assert (await org.browser.get("/oauth2/v1/userinfo", headers=bearer)).status_code == 401


async def test_activation_link_sets_a_password_under_okta_s_policy_once(org: Org) -> None:
    profile = {"login": ANN, "email": ANN, "firstName": "Ann", "lastName": "Lee"}
    user = (
        await org.api.post("/api/v1/users", params={"activate": "false"}, json={"profile": profile})
    ).json()
    link = (
        await org.api.post(f"/api/v1/users/{user['id']}/lifecycle/activate", params={"sendEmail": "false"})
    ).json()
    path = link["activationUrl"].removeprefix(ORG)
    listed = (await org.browser.get("/__emulator/activation-links", params={"login": ANN})).json()
    assert [entry["activationUrl"] for entry in listed] == [link["activationUrl"]]
    page = await org.browser.get(path)
    assert page.status_code == 200 and "Welcome, Ann Lee" in page.text
    weak = await org.browser.post(path, data={"password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "Password requirements were not met" in weak.text
    mismatch = await org.browser.post(path, data={"password": PASSWORD, "confirm": PASSWORD + "x"})
    assert "do not match" in mismatch.text
    done = await org.browser.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 200 and "Your account is ready" in done.text
    status = (await org.api.get(f"/api/v1/users/{user['id']}")).json()["status"]
    assert status == "ACTIVE"
    assert (await org.browser.get(path)).status_code == 404, "an activation link works once"


async def test_signing_keys_and_passwords_survive_a_restart_with_a_state_file(
    clock: ManualClock, tmp_path: Path
) -> None:
    state = str(tmp_path / "okta.sqlite")
    first = Org(clock, state_file=state)
    await first.user(ANN)
    kid = (await first.browser.get("/oauth2/v1/keys")).json()["keys"][0]["kid"]
    await first.aclose()
    first.app.state.emulator.state.journal.close()
    second = Org(clock, state_file=state)
    assert (await second.browser.get("/oauth2/v1/keys")).json()["keys"][0]["kid"] == kid
    app = await second.oidc_app()
    back = await second.sign_in(second.authorize_url(app)[0], ANN)
    assert back.headers["location"].startswith(REDIRECT), "the password set before the restart works"
    await second.aclose()
