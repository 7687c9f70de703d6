"""The emulator's groups claim: an OpenID Connect app's ID tokens carry the user's groups that
pass the app's filter, when the `groups` scope is asked for (org authorization server only), as
Okta's "groups claim" on the app's Sign On tab does."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from idsync.emulator.okta.clock import ManualClock

from .oidc_support import ORG, App, Org, query

ANN = "ann.lee@example.com"


@pytest.fixture
async def org() -> AsyncIterator[Org]:
    o = Org(ManualClock(time.time()))
    yield o
    await o.aclose()


async def _group(org: Org, name: str, user_id: str | None = None) -> str:
    group = (await org.api.post("/api/v1/groups", json={"profile": {"name": name}})).raise_for_status().json()
    if user_id is not None:
        (await org.api.put(f"/api/v1/groups/{group['id']}/users/{user_id}")).raise_for_status()
    return str(group["id"])


async def _claims(org: Org, app: App, scope: str, prefix: str = "/oauth2/v1") -> dict[str, Any]:
    url, _, verifier = org.authorize_url(app, prefix=prefix, scope=scope)
    back = await org.sign_in(url, ANN) if not org.browser.cookies.get("sid") else await org.browser.get(url)
    assert back.status_code == 302, back.text
    return (await org.tokens(app, query(back.headers["location"])["code"], verifier, prefix=prefix)).claims


def _claim_url(app: App) -> str:
    return f"/api/v1/internal/apps/{app.id}/settings/oauth/idToken"


async def test_the_id_token_carries_the_groups_that_pass_the_filter(org: Org) -> None:
    user = await org.user(ANN)
    await _group(org, "idsync-admins", user["id"])
    await _group(org, "efs-prod-support", user["id"])
    await _group(org, "idsync-viewers")  # the user is not a member
    app = await org.oidc_app()
    body = {"valueType": "GROUPS", "groupFilterType": "REGEX", "name": "groups", "value": "idsync-.*|efs-.*"}
    saved = (await org.api.post(_claim_url(app), json=body)).raise_for_status().json()
    assert saved["groupFilterType"] == "REGEX" and saved["audience"] == app.client_id
    assert (await org.api.get(_claim_url(app))).json()["value"] == "idsync-.*|efs-.*"
    assert "groupFilterType" not in str((await org.api.get(f"/api/v1/apps/{app.id}")).json())

    claims = await _claims(org, app, "openid profile groups")
    assert claims["groups"] == ["efs-prod-support", "idsync-admins"]
    assert "groups" not in await _claims(org, app, "openid profile"), "only with the groups scope"
    default = await _claims(org, app, "openid groups", prefix="/oauth2/default/v1")
    assert "groups" not in default, "the app's claim is the org authorization server's"

    everything = {**body, "groupFilterType": "REGEX", "value": ".*", "name": "roles"}
    (await org.api.post(_claim_url(app), json=everything)).raise_for_status()
    claims = await _claims(org, app, "openid groups")
    assert claims["roles"] == ["Everyone", "efs-prod-support", "idsync-admins"] and "groups" not in claims
    starts = {**body, "groupFilterType": "STARTS_WITH", "value": "efs-"}
    (await org.api.post(_claim_url(app), json=starts)).raise_for_status()
    assert (await _claims(org, app, "openid groups"))["groups"] == ["efs-prod-support"]


async def test_an_app_without_a_claim_sends_no_groups_and_bad_settings_are_refused(org: Org) -> None:
    await org.user(ANN)
    app = await org.oidc_app()
    assert "groups" not in await _claims(org, app, "openid groups")
    base = {"valueType": "GROUPS", "groupFilterType": "REGEX", "name": "groups", "value": ".*"}
    for change, field in (
        ({"valueType": "EXPRESSION", "value": "Groups.startsWith('OKTA','a',10)"}, "valueType"),
        ({"groupFilterType": "LIKE"}, "groupFilterType"),
        ({"value": "("}, "value"),
    ):
        answer = await org.api.post(_claim_url(app), json={**base, **change})
        assert answer.status_code == 400, answer.text
        assert answer.json()["errorCode"] == "E0000001" and field in answer.text
    missing = await org.api.post("/api/v1/internal/apps/0oanope/settings/oauth/idToken", json={})
    assert missing.status_code == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=org.app), base_url=ORG) as anonymous:
        refused = await anonymous.get(_claim_url(app))  # no Authorization: Okta's "Invalid session"
        assert refused.status_code == 403 and refused.json()["errorCode"] == "E0000005"
