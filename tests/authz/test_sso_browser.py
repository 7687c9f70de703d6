"""The dashboard's sign-in through the IdP, end to end in Chromium against the Okta emulator:
authorization code with PKCE, roles and tenants from the ID token's groups claim
(`service.sso.groups`), the token form as the fallback, the audit trail on the dashboard.

The org: an OpenID Connect app for the dashboard with a groups claim (regex `.*`), and three
people: Ann in `efs-a-support` (viewer on efs-a), Carol in `idsync-admins` (admin everywhere),
Bob in `marketing` (mapped to nothing). Screenshots: test-artifacts/sso-*.png.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from idsync.config import settings_from_dict
from idsync.emulator.okta import EmulatorSettings, EmulatorThread
from idsync.web.app import create_app
from tests.browser_support import chromium, screenshot_path
from tests.common import ServerThread, eventually
from tests.reliability.scan import SCAN
from tests.servers import free_port

from .support import OTHER, OWN, ndjson, user_line

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

OKTA_TOKEN = "authz-sso-okta-token-71c9-4b2d"
API_TOKEN = "authz-sso-api-token-0e58-d3a7"
PASSWORD = "Dashboard-2026"
PEOPLE = {"ann": "efs-a-support", "carol": "idsync-admins", "bob": "marketing"}
SCAN.add_secret(OKTA_TOKEN, API_TOKEN)


@dataclass
class Setup:
    url: str
    okta: str
    client_secret: str


def _org(okta: str, redirect: str) -> tuple[str, str]:
    """The people, their groups, the dashboard's app with its groups claim: (client id, secret)."""
    with httpx.Client(base_url=okta, headers={"Authorization": f"SSWS {OKTA_TOKEN}"}, timeout=30) as api:
        for name, group in PEOPLE.items():
            login = f"{name}@example.com"
            profile = {"login": login, "email": login, "firstName": name.title(), "lastName": "Lee"}
            user = api.post("/api/v1/users", params={"activate": "true"}, json={"profile": profile}).json()
            admin = f"{okta}/__emulator/users/{user['id']}"
            httpx.post(f"{admin}/password", json={"password": PASSWORD}).raise_for_status()
            httpx.post(f"{admin}/complete-activation").raise_for_status()  # PROVISIONED -> ACTIVE
            gid = (
                api.post("/api/v1/groups", json={"profile": {"name": group}}).raise_for_status().json()["id"]
            )
            api.put(f"/api/v1/groups/{gid}/users/{user['id']}").raise_for_status()
        body = {
            "name": "oidc_client",
            "label": "idsync dashboard",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}},
            "settings": {
                "oauthClient": {
                    "redirect_uris": [redirect],
                    "response_types": ["code"],
                    "grant_types": ["authorization_code"],
                    "application_type": "web",
                }
            },
        }
        app = api.post("/api/v1/apps", json=body).raise_for_status().json()
        everyone = api.get("/api/v1/groups", params={"q": "Everyone"}).json()[0]["id"]
        api.put(f"/api/v1/apps/{app['id']}/groups/{everyone}").raise_for_status()
        claim = {"valueType": "GROUPS", "groupFilterType": "REGEX", "name": "groups", "value": ".*"}
        api.post(f"/api/v1/internal/apps/{app['id']}/settings/oauth/idToken", json=claim).raise_for_status()
        oauth = app["credentials"]["oauthClient"]
        return oauth["client_id"], oauth["client_secret"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("sso")
    port = free_port()
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN)) as emu:
        client_id, secret = _org(emu.url, f"http://127.0.0.1:{port}/dashboard/sso/callback")
        SCAN.add_secret(secret)
        raw: dict[str, Any] = {
            "store": {"url": f"sqlite:///{tmp / 'idsync.db'}"},
            "service": {
                "api_token_env": "SSO_API_TOKEN",
                "sso": {
                    "issuer": emu.url,
                    "client_id": client_id,
                    "client_secret_env": "SSO_CLIENT_SECRET",
                    "label": "Sign in with Okta",
                    "groups": {
                        "idsync-admins": "admin",
                        "efs-a-support": {"role": "viewer", "tenants": [OWN]},
                    },
                },
            },
            "idps": {"okta": {"type": "okta", "url": emu.url, "token_env": "SSO_OKTA_TOKEN"}},
            "tenants": {OWN: {"idp": "okta"}, OTHER: {"idp": "okta"}},
        }
        env = {"SSO_API_TOKEN": API_TOKEN, "SSO_CLIENT_SECRET": secret, "SSO_OKTA_TOKEN": OKTA_TOKEN}
        app = create_app(settings_from_dict(raw, env))
        with ServerThread(app, port=port) as server:
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as c:
                for tenant in (OWN, OTHER):
                    params = {"tenant": tenant, "import_id": f"imp-{tenant}"}
                    c.post(
                        "/imports", params=params, content=ndjson([user_line(tenant, "1")])
                    ).raise_for_status()
                    eventually(lambda t=tenant: c.get(f"/imports/imp-{t}").json()["state"] == "completed")
            yield Setup(server.url, emu.url, secret)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _sign_in(page: Page, setup: Setup, who: str) -> None:
    page.goto(f"{setup.url}/dashboard")
    page.get_by_role("link", name="Sign in with Okta").click()
    page.wait_for_url(f"{setup.okta}/login/**")
    page.get_by_label("Username").fill(f"{who}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_support_engineer_sees_only_the_tenants_of_their_groups(
    setup: Setup, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, setup, "ann")
    page.wait_for_url(f"{setup.url}/dashboard")
    expect(page.locator("#who")).to_have_text("sso:ann@example.com · viewer on efs-a")
    expect(page.locator(f'tr[data-import-id="imp-{OWN}"]')).to_be_visible()
    expect(page.locator(f'tr[data-import-id="imp-{OTHER}"]')).to_have_count(0)
    page.screenshot(path=screenshot_path("sso-viewer-overview"), full_page=True)
    assert page.request.get(f"{setup.url}/dashboard/api/imports/imp-{OTHER}").status == 404
    assert page.request.get(f"{setup.url}/dashboard/api/imports/imp-{OWN}").status == 200
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["idsync_dashboard"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/dashboard"
    assert "idsync_sso_pending" not in cookies, "the pending sign-in is cleared"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in with Okta")).to_be_visible()
    assert page.request.get(f"{setup.url}/dashboard/api/overview").status == 401
    context.close()
    assert setup.client_secret not in caplog.text and API_TOKEN not in caplog.text
    assert "Validate authorization request" in caplog.text, "Authlib's debug log was captured"
    assert "code_verifier" not in caplog.text, "the PKCE verifier is kept out of the log"


def test_groups_mapped_to_nothing_sign_in_to_nothing(setup: Setup, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, setup, "bob")
    expect(page.get_by_role("alert")).to_contain_text("bob@example.com signed in, but none of their groups")
    page.screenshot(path=screenshot_path("sso-refused"))
    assert "idsync_dashboard" not in {c["name"] for c in context.cookies()}
    assert page.request.get(f"{setup.url}/dashboard/api/overview").status == 401
    # The token form stays the way in.
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text("config-token · admin on every tenant")
    context.close()


def test_an_admin_sees_every_tenant_and_the_audit_trail(setup: Setup, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, setup, "carol")
    expect(page.locator("#who")).to_have_text("sso:carol@example.com · admin on every tenant")
    for tenant in (OWN, OTHER):
        expect(page.locator(f'tr[data-import-id="imp-{tenant}"]')).to_be_visible()
    page.get_by_role("link", name="Audit").click()
    rows = page.locator("#audit tbody tr")
    expect(rows.first).to_be_visible()
    expect(page.locator("#audit")).to_contain_text("sso:ann@example.com")
    expect(page.locator("#audit")).to_contain_text("sso:bob@example.com")
    denied = page.locator("#audit tbody tr", has_text="sso:bob@example.com")
    expect(denied.locator(".badge")).to_have_text("denied")
    page.screenshot(path=screenshot_path("sso-admin-audit"), full_page=True)
    context.close()


def test_a_forged_or_replayed_callback_signs_in_nobody(setup: Setup) -> None:
    with httpx.Client(base_url=setup.url, timeout=30) as c:
        forged = c.get("/dashboard/sso/callback", params={"code": "made-up", "state": "made-up"})
        assert forged.status_code == 403 and "idsync_dashboard" not in forged.headers.get("set-cookie", "")
        start = c.get("/dashboard/sso/login")
        assert start.status_code == 302
        location = httpx.URL(start.headers["location"])
        assert location.params["code_challenge_method"] == "S256" and location.params["code_challenge"]
        assert "groups" in location.params["scope"].split() and location.params["nonce"]
        pending = start.headers["set-cookie"]
        assert (
            "idsync_sso_pending=" in pending
            and "httponly" in pending.lower()
            and "samesite=lax" in pending.lower()
        )
        assert setup.client_secret not in pending and setup.client_secret not in str(location)
        wrong_state = c.get("/dashboard/sso/callback", params={"code": "x", "state": "not-the-state"})
        assert wrong_state.status_code == 403 and "try again" in wrong_state.text
