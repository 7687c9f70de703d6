"""End to end in Chromium: a migrated user activates, sets a password and logs in to a portal
through idsync's routing against the Okta emulator; a routed user goes to the company's IdP; a
public page never redirects; after logout Okta's session is gone.

Screenshots of every step go to test-artifacts/login-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser_support import ARGS, CHROMIUM, screenshot_path
from tests.service.support import ServerThread

from .world import ANN, BOB, TENANT, Served, World, load_portal_module, start_external_idp, start_okta

pytestmark = pytest.mark.browser

ALIAS = "efs-alias.test"  # a second name of the portal's installation, resolved by Chromium only
PASSWORD = "Migrated-2026"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/ensure-system-packages.sh (make test does)")
    with sync_playwright() as p:
        rules = f"--host-resolver-rules=MAP {ALIAS} 127.0.0.1"
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*ARGS, rules])
        yield b
        b.close()


class FakeClock:
    """The EFS-like installation's clock, so its own session can expire without waiting."""

    def __init__(self) -> None:
        import time

        self.offset = 0.0
        self._time = time.time

    def __call__(self) -> float:
        return self._time() + self.offset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    okta = start_okta()
    external = start_external_idp()
    w = World(tmp_path_factory.mktemp("login-e2e"), okta, external.url)
    w.write_config()
    imported = w.import_users()
    apps = w.register_portals()  # assigns the tenant's portal groups (Everyone): users may sign in
    w.idsync("activate", "--tenant", TENANT)
    portal_module = load_portal_module()
    efs_clock = FakeClock()
    with w.idsync_api() as api:
        portal = portal_module.create_app(
            portal_module.PortalConfig(
                idsync_url=api.url,
                tenant=TENANT,
                client_id=apps["portal"]["client_id"],
                client_secret=apps["portal"]["client_secret"],
                public_url=w.portal_url,
                name="Survey portal",
            )
        )
        efs = portal_module.create_app(
            portal_module.PortalConfig(
                idsync_url=api.url,
                tenant=TENANT,
                client_id=apps["efs"]["client_id"],
                client_secret=apps["efs"]["client_secret"],
                public_url=w.efs_url,
                name="EFS",
                session_lifetime_s=600,
                keep_session_on_logout=True,
            ),
            clock=efs_clock,
        )
        with Served(portal, w.portal_port), Served(efs, w.efs_port):
            yield {"world": w, "imported": imported, "api": api, "efs_clock": efs_clock}
    external.__exit__(None, None, None)
    okta.stop()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(screenshot_path(f"login-{name}")), full_page=True)


def cookie_names(context: BrowserContext, host: str) -> set[str]:
    return {c["name"] for c in context.cookies() if c["domain"].lstrip(".") == host}


def sign_in_at_portal(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/private")
    page.fill("#email", email)
    page.click("#continue")


def test_import_routes_and_activation_prepared_the_users(world: dict[str, Any]) -> None:
    w: World = world["world"]
    assert "external_idp" in world["imported"], "the routed user is skipped by the sync"
    users = w.okta_users()
    assert users[ANN] == "PROVISIONED" and BOB not in users, "only the Okta user was synced and activated"


def test_activate_set_password_log_in_sso_and_logout(world: dict[str, Any], browser: Browser) -> None:
    w: World = world["world"]
    context = browser.new_context()
    page = context.new_page()
    okta_pages: list[str] = []
    page.on(
        "request", lambda r: okta_pages.append(r.url) if r.url.startswith(w.okta.url + "/login/") else None
    )

    # The activation link (phase 2 with sendEmail=false): the user sets a password.
    page.goto(w.activation_link(ANN))
    assert page.locator("h1").inner_text() == "Activate your account"
    assert "Welcome, Ann Lee" in page.content()
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    shot(page, "01-activation-form")
    page.click("#activate-submit")
    assert page.locator("h1").inner_text() == "Your account is ready"
    shot(page, "02-account-ready")
    assert w.okta_users()[ANN] == "ACTIVE"

    # A public page, reached under another URL of the installation: no redirect.
    public = f"http://{ALIAS}:{w.portal_port}/"
    page.goto(public)
    assert page.url == public
    assert "never asks you to sign in" in page.inner_text("body") and "not signed in" in page.inner_text(
        "body"
    )
    shot(page, "03-public-page-no-redirect")

    # A private page under that URL: the login moves to the general URL, then asks for the e-mail.
    page.goto(f"http://{ALIAS}:{w.portal_port}/private")
    assert page.url == f"{w.portal_url}/login?next=%2Fprivate"
    shot(page, "04-portal-asks-e-mail")
    page.fill("#email", ANN)
    page.click("#continue")

    # idsync routes ann to Okta: the emulator's sign-in page with the e-mail filled in.
    assert page.url.startswith(f"{w.okta.url}/login/login.htm")
    assert page.input_value("#okta-signin-username") == ANN
    page.fill("#okta-signin-password", PASSWORD)
    shot(page, "05-okta-sign-in")
    page.click("#okta-signin-submit")

    # Back at the portal's registered redirect URI, then the private page, at the general URL.
    assert page.url == f"{w.portal_url}/private"
    assert page.inner_text("#greeting") == f"Hello Ann Lee ({ANN})"
    shot(page, "06-signed-in-at-portal")
    assert "sid" in cookie_names(context, "127.0.0.1"), "Okta's session cookie"
    assert "portal_session" in cookie_names(context, "localhost"), "the portal's own session"
    assert len(w.okta_sessions(ANN)) == 1

    # The portal's session is gone but Okta's lives: single sign-on, no Okta page at all.
    context.clear_cookies(name="portal_session")
    okta_pages.clear()
    sign_in_at_portal(page, w.portal_url, ANN)
    assert page.url == f"{w.portal_url}/private" and okta_pages == []
    shot(page, "07-single-sign-on")

    # Logout: Okta's session ends, and (a portal) the portal's too.
    page.click("#logout")
    assert page.url == f"{w.okta.url}/login/signout"
    assert "You have been signed out of Okta" in page.inner_text("body")
    shot(page, "08-signed-out")
    assert w.okta_sessions(ANN) == [] and "sid" not in cookie_names(context, "127.0.0.1")
    sign_in_at_portal(page, w.portal_url, ANN)
    assert page.url.startswith(f"{w.okta.url}/login/login.htm"), "Okta asks for the password again"
    shot(page, "09-after-logout-okta-asks-again")
    context.close()


def test_a_routed_user_is_sent_to_the_company_idp_and_never_to_okta(
    world: dict[str, Any], browser: Browser
) -> None:
    w: World = world["world"]
    context = browser.new_context()
    page = context.new_page()
    to_okta: list[str] = []
    page.on("request", lambda r: to_okta.append(r.url) if r.url.startswith(w.okta.url) else None)
    sign_in_at_portal(page, w.portal_url, BOB)
    assert page.url == f"{w.external_url}/sso?login_hint=bob%40acme.example"
    assert page.locator("h1").inner_text() == "Acme Corporation sign-in"
    assert page.inner_text("#account") == BOB
    shot(page, "10-routed-to-company-idp")
    assert to_okta == [] and BOB not in w.okta_users()
    context.close()


def test_efs_logout_ends_okta_session_but_efs_session_lives_until_it_expires(
    world: dict[str, Any], browser: Browser
) -> None:
    w: World = world["world"]
    w.ensure_active(ANN, PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    sign_in_at_portal(page, w.efs_url, ANN)
    page.fill("#okta-signin-password", PASSWORD)
    page.click("#okta-signin-submit")
    assert page.url == f"{w.efs_url}/private"

    page.click("#logout")
    assert "You have been signed out of Okta" in page.inner_text("body")
    assert w.okta_sessions(ANN) == []
    page.goto(f"{w.efs_url}/private")
    assert page.url == f"{w.efs_url}/private", "still signed in to EFS"
    assert page.inner_text("#greeting").startswith("Hello Ann Lee")
    shot(page, "11-efs-still-signed-in-after-okta-logout")

    world["efs_clock"].offset += 601  # EFS's own session (10 min here) expires
    sign_in_at_portal(page, w.efs_url, ANN)
    assert page.url.startswith(f"{w.okta.url}/login/login.htm"), "no Okta session left: a new sign-in"
    shot(page, "12-efs-session-expired-okta-asks")
    context.close()


def test_the_public_routing_endpoint_tells_only_the_login_url(world: dict[str, Any]) -> None:
    import httpx

    api: ServerThread = world["api"]
    w: World = world["world"]
    answer = httpx.get(f"{api.url}/access/login-url", params={"tenant": TENANT, "email": BOB}).json()
    assert answer == {"login_url": f"{w.external_url}/sso"}
    assert httpx.get(f"{api.url}/access/login-url", params={"tenant": TENANT}).json() == {
        "login_url": w.okta.url
    }
