"""The dashboard's Pause / Resume / Cancel buttons in Debian's Chromium (headless, Playwright),
on a real import against the Okta emulator (slowed down so the import is caught half way): a
viewer sees no button, an operator pauses, resumes and cancels, and the page, the API and the
audit trail agree."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from idsync.adapters.store.features.tokens import create_token
from idsync.config import settings_from_dict
from idsync.domain.authz import Role
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.web.app import create_app
from tests.browser_support import chromium, screenshot_path
from tests.reliability.scan import SCAN

from .support import API_TOKEN, AUTH, OKTA_TOKEN, TENANT, ServerThread, eventually, feeder, sample

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

IMPORT_ID = "imp-steer-1"
USERS = 800


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, httpx.Client, dict[str, str]]]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.05)) as emu:
        EmulatorAdmin(emu.url).set_faults(latency_ms=40)
        raw = {
            "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
            "idps": {
                "okta": {
                    "type": "okta",
                    "url": emu.url,
                    "token_env": "OKTA_TOKEN",
                    "governor": {"max_concurrency": 2},
                }
            },
            "tenants": {TENANT: {"idp": "okta", "mode": "sync"}},
        }
        env = {"OKTA_TOKEN": OKTA_TOKEN, "IDSYNC_API_TOKEN": API_TOKEN}
        app = create_app(settings_from_dict(raw, env))
        app.state.background.append(("test-import", feeder(sample(USERS, invalid_every=10_000), IMPORT_ID)))
        with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as api:
            tokens = {}
            for name, role in (("ops", Role.OPERATOR), ("watcher", Role.VIEWER)):
                _, token = create_token(
                    app.state.runtime.store, name=name, role=role, tenants=(TENANT,), created_by="test"
                )
                SCAN.add_secret(token)
                tokens[name] = token
            yield server.url, api, tokens


def _api(api: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/imports/{IMPORT_ID}", headers=AUTH).json()
    return body


def _sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/dashboard")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.locator(f'tr[data-import-id="{IMPORT_ID}"] a.id').click()
    expect(page.locator("#d-title")).to_have_text(IMPORT_ID)


def test_an_operator_pauses_resumes_and_cancels_an_import_from_the_page(
    served: tuple[str, httpx.Client, dict[str, str]],
) -> None:
    url, api, tokens = served
    problems: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        eventually(lambda: api.get(f"/imports/{IMPORT_ID}", headers=AUTH).status_code == 200)

        # A viewer follows the import but has no button to stop it.
        _sign_in(page, url, tokens["watcher"])
        expect(page.locator("#d-state")).to_have_text("running")
        expect(page.locator('#d-counts [data-count="created"] .value')).not_to_have_text("0")
        expect(page.locator("#d-controls button")).to_have_count(0)
        page.get_by_role("button", name="Sign out").click()

        # An operator pauses it: the badge, the buttons and the API follow.
        _sign_in(page, url, tokens["ops"])
        controls = page.locator("#d-controls button")
        expect(controls).to_have_text(["Pause", "Cancel import"])
        page.get_by_role("button", name="Pause").click()
        expect(page.locator("#d-state")).to_have_text("paused")
        expect(controls).to_have_text(["Resume", "Cancel import"])
        assert _api(api)["state"] == "paused"
        page.screenshot(path=screenshot_path("dashboard-import-paused"), full_page=True)
        # Without the page's header, the sign-in cookie alone does not act (another site's form).
        forged = page.request.post(f"{url}/dashboard/api/imports/{IMPORT_ID}/resume")
        assert forged.status == 403 and _api(api)["state"] == "paused"

        page.get_by_role("button", name="Resume").click()
        expect(page.locator("#d-state")).to_have_text("running")
        eventually(lambda: _api(api)["done"] > 0)

        # Cancel asks first; dismissed, nothing happens; accepted, the rest ends `cancelled`.
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Cancel import").click()
        expect(page.locator("#d-state")).to_have_text("running")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancel import").click()
        expect(page.locator("#d-state")).to_have_text("cancelled")
        expect(controls).to_have_count(0)
        final = eventually(lambda: (v := _api(api))["pending"] == 0 and v, timeout_s=60)
        assert final["state"] == "cancelled" and final["cancelled"] > 0
        assert final["created"] + final["skipped"] + final["cancelled"] == USERS
        cell = page.locator('#d-counts [data-count="cancelled"] .value')
        expect(cell).to_have_text(f"{final['cancelled']:,}")
        page.screenshot(path=screenshot_path("dashboard-import-cancelled"), full_page=True)

        # The tenants panel: the mode in force, and who switched it (an admin, over the API).
        page.get_by_role("link", name="← all imports").click()
        tenant = page.locator(f'#tenants tr[data-tenant="{TENANT}"]')
        expect(tenant.locator('[data-field="mode"]')).to_have_text("sync")
        switched = api.put(f"/tenants/{TENANT}/mode", json={"mode": "off"}, headers=AUTH)
        assert switched.status_code == 200, switched.text
        expect(tenant.locator('[data-field="mode"]')).to_have_text("off")
        expect(tenant.locator('[data-field="switched"]')).to_contain_text("sync → off by config-token")
        page.screenshot(path=screenshot_path("dashboard-tenants"), full_page=True)

        # The audit trail names the operator's token for each action.
        page.get_by_role("link", name="Audit").click()
        rows = page.locator("#audit tbody tr")
        expect(rows.filter(has_text="mode.switch")).to_contain_text("config-token")
        expect(rows.filter(has_text="import.cancel")).to_have_count(1)
        for action in ("import.pause", "import.resume", "import.cancel"):
            expect(rows.filter(has_text=action).first).to_contain_text("token:ops")
        context.close()
    assert not [p for p in problems if not re.search(r"status of 40[13]", p)], problems
