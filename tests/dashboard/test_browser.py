"""The dashboard in Debian's Chromium (headless, through Playwright) during a real import.

`idsync serve`'s app runs in a thread against the Okta emulator (time-scaled, with short 429
storms); an import of a few thousand users (some invalid, some routed to an external IdP) is fed
in as the upload route does. The browser logs in, watches the progress move, checks the counts
against the API, filters the failures and downloads the CSV. Screenshots: test-artifacts/.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.web.app import create_app
from tests.browser_support import ARTIFACTS, chromium, screenshot_path

from .support import API_TOKEN, AUTH, ServerThread, eventually, feeder, sample, settings

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

IMPORT_ID = "imp-browser-1"
USERS = 2400
STATUSES = ["created", "updated", "activated", "deactivated", "deleted", "unchanged", "skipped", "failed"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, httpx.Client]]:
    with EmulatorThread(EmulatorSettings(token="dashboard-test-okta-token-81f0", time_scale=0.05)) as emu:
        # A short 429 storm every few seconds, so the chart has rate-limited calls to show.
        EmulatorAdmin(emu.url).set_faults(storm_every_s=6.0, storm_duration_s=0.4)
        app = create_app(settings(f"sqlite:///{tmp_path / 'idsync.db'}", emu.url))
        app.state.dashboard.interval_s = 0.5
        app.state.background.append(("test-import", feeder(sample(USERS), IMPORT_ID)))
        with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as api:
            yield server.url, api


def _int(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _done_shown(page: Page) -> int:
    bar = page.locator(f'tr[data-import-id="{IMPORT_ID}"] [role=progressbar]')
    return int(bar.get_attribute("data-done") or "-1")


def _api_import(api: httpx.Client) -> dict[str, Any]:
    answer = api.get(f"/imports/{IMPORT_ID}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_dashboard_follows_a_running_import(served: tuple[str, httpx.Client]) -> None:
    url, api = served
    problems: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on(
            "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )

        # Nothing readable before logging in: the shell is a login form, the data routes refuse.
        page.goto(f"{url}/dashboard")
        expect(page.get_by_label("API token")).to_be_visible()
        assert IMPORT_ID not in page.content()
        refused = page.request.get(f"{url}/dashboard/api/overview")
        assert refused.status == 401
        assert IMPORT_ID not in refused.text()
        page.get_by_label("API token").fill("not-the-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("not a valid API token")
        page.screenshot(path=screenshot_path("dashboard-login"))
        problems.clear()  # the 401 of the wrong token is logged by Chromium as a failed load
        page.get_by_label("API token").fill(API_TOKEN)
        page.get_by_role("button", name="Sign in").click()

        # The overview: the import appears and its progress moves while it runs.
        row = page.locator(f'tr[data-import-id="{IMPORT_ID}"]')
        expect(row).to_be_visible()
        expect(page.locator("#live-text")).to_contain_text("live")
        first = eventually(lambda: _done_shown(page) > 0 and _done_shown(page), timeout_s=60)
        assert _api_import(api)["state"] == "running", "the import finished before the page saw it run"
        eventually(lambda: _done_shown(page) > first, timeout_s=60)
        expect(row.locator('[data-field="state"]')).to_have_text("running")
        # What the page shows is a value the API had: between an earlier and a later answer.
        before = _api_import(api)["done"]
        eventually(lambda: _done_shown(page) >= before, timeout_s=60)
        shown = _done_shown(page)
        assert before <= shown <= _api_import(api)["done"]
        expect(row.locator('[data-field="eta"]')).not_to_have_text("\u2013")  # an en dash: no ETA
        expect(row.locator('[data-field="rate"]')).to_contain_text("/min")
        bucket = page.locator('[data-bucket="okta/users"]')
        expect(bucket).to_be_visible()
        expect(bucket.locator("svg polyline.calls")).to_have_count(1)
        page.screenshot(path=screenshot_path("dashboard-overview-running"), full_page=True)

        # One import, while it runs.
        row.locator("a.id").click()
        expect(page.locator("#d-title")).to_have_text(IMPORT_ID)
        expect(page.locator('#d-counts [data-count="created"] .value')).not_to_have_text("0")
        page.screenshot(path=screenshot_path("dashboard-import-running"), full_page=True)

        # Once it is complete, every count shown equals the API's.
        expect(page.locator("#d-state")).to_have_text("completed", timeout=120_000)
        final = _api_import(api)
        assert final["state"] == "completed"
        for status in ["received", *STATUSES]:
            shown_n = _int(page.locator(f'#d-counts [data-count="{status}"] .value').inner_text())
            assert shown_n == final[status], status
        assert final["failed"] == USERS // 400 and final["skipped"] > 0

        # The failures and skips: by reason, filterable.
        reasons = page.locator("#d-reasons tbody tr")
        expect(reasons).to_have_count(2)
        expect(page.locator('#d-reasons tr[data-reason="invalid"]')).to_contain_text(str(final["failed"]))
        page.locator("#f-status").select_option("failed")
        rows = page.locator("#d-rows tbody tr")
        expect(rows).to_have_count(final["failed"])
        for text in rows.locator("td:first-child").all_inner_texts():
            assert text.strip() == "failed"
        expect(rows.first.locator("td.reason")).to_contain_text("email")
        page.locator("#f-status").select_option("")
        page.locator("#f-q").fill("user800@")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("app / 800")
        page.screenshot(path=screenshot_path("dashboard-import-failures"), full_page=True)
        page.locator("#f-q").fill("")
        expect(rows).to_have_count(min(final["failed"] + final["skipped"], 100))

        # The CSV: every failed and skipped user with the reason, the same as the API's results.
        with page.expect_download() as info:
            page.get_by_role("link", name="Download CSV").click()
        download = info.value
        saved = ARTIFACTS / "dashboard-failures.csv"
        download.save_as(saved)
        table = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
        results = api.get(
            f"/imports/{IMPORT_ID}/results",
            params={"status": ["failed", "skipped"], "limit": 5000},
            headers=AUTH,
        ).json()["items"]
        assert len(table) == final["failed"] + final["skipped"] == len(results)
        by_id = {int(r["change_id"]): r for r in table}
        for item in results:
            line = by_id[item["change_id"]]
            assert (line["status"], line["key"]) == (item["status"], item["key"])
            assert (
                line["reason_code"] == item["reason"]["code"] and line["reason"] == item["reason"]["message"]
            )
            assert line["reason"]

        # Back on the overview, the finished import and the rate budget with its 429s.
        page.get_by_role("link", name="← all imports").click()
        expect(row.locator('[data-field="state"]')).to_have_text("completed")
        expect(row.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100.0")
        limits = api.get("/dashboard/api/limits", headers=AUTH).json()
        (users_bucket,) = [b for b in limits["idps"][0]["buckets"] if b["bucket"] == "users"]
        expect(bucket.locator('[data-field="r429"]')).to_have_text(f"{users_bucket['rate_limited']:,}")
        page.screenshot(path=screenshot_path("dashboard-overview-completed"), full_page=True)

        # Logging out closes the data routes again.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("API token")).to_be_visible()
        assert page.request.get(f"{url}/dashboard/api/imports/{IMPORT_ID}/failures.csv").status == 401
        context.close()
    assert not problems, problems
