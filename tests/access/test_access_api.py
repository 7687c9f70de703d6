"""The routing endpoints of the HTTP API: the public one answers only the login URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from idsync.config import settings_from_dict
from idsync.web.app import create_app

API_TOKEN = "access-test-api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ACME = "https://login.acme.example/sso"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    raw = {
        "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
        "idps": {"okta": {"type": "okta", "url": "https://acme.okta.com/", "token_env": "OKTA_TOKEN"}},
        "tenants": {
            "efs-prod": {
                "idp": "okta",
                "external_idps": [{"name": "acme-entra", "domains": ["acme.example"], "login_url": ACME}],
            },
            "portal-dev": {"idp": "okta", "login_url": "https://acme.okta.com/oauth2/default"},
        },
    }
    settings = settings_from_dict(raw, {"OKTA_TOKEN": "x", "IDSYNC_API_TOKEN": API_TOKEN})
    app = create_app(settings, start_worker=False)  # no lifespan: routing needs no runtime
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://idsync") as c:
        yield c


async def test_public_login_url_needs_no_token_and_tells_only_the_url(client: httpx.AsyncClient) -> None:
    okta = await client.get("/access/login-url", params={"tenant": "efs-prod", "email": "ann@example.com"})
    assert okta.status_code == 200 and okta.json() == {"login_url": "https://acme.okta.com"}
    assert okta.headers["cache-control"] == "no-store"
    routed = await client.get("/access/login-url", params={"tenant": "efs-prod", "email": "bob@acme.example"})
    assert routed.json() == {"login_url": ACME}
    assert "acme-entra" not in routed.text and "bob" not in routed.text


async def test_without_an_e_mail_the_public_answer_is_the_tenant_s_issuer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/access/login-url", params={"tenant": "efs-prod"})).json() == {
        "login_url": "https://acme.okta.com"
    }
    custom = (await client.get("/access/login-url", params={"tenant": "portal-dev"})).json()
    assert custom == {"login_url": "https://acme.okta.com/oauth2/default"}


async def test_full_route_needs_the_bearer_token(client: httpx.AsyncClient) -> None:
    params = {"tenant": "efs-prod", "email": "bob@acme.example"}
    assert (await client.get("/access/route", params=params)).status_code == 401
    answer = await client.get("/access/route", params=params, headers=AUTH)
    assert answer.status_code == 200
    assert answer.json() == {
        "tenant": "efs-prod",
        "email": "bob@acme.example",
        "domain": "acme.example",
        "idp": "acme-entra",
        "external": True,
        "login_url": ACME,
        "needs_sync": False,
    }
    ann = (
        await client.get("/access/route", params={**params, "email": "ann@example.com"}, headers=AUTH)
    ).json()
    assert (ann["idp"], ann["external"], ann["needs_sync"]) == ("okta", False, True)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"tenant": "nope", "email": "ann@example.com"}, 404),
        ({"tenant": "nope"}, 404),
        ({"tenant": "efs-prod", "email": "not-an-address"}, 422),
        ({"tenant": "bad tenant!", "email": "ann@example.com"}, 422),
        ({"email": "ann@example.com"}, 422),
    ],
)
async def test_bad_questions_get_clear_statuses(
    client: httpx.AsyncClient, params: dict[str, str], status: int
) -> None:
    assert (await client.get("/access/login-url", params=params)).status_code == status
    if "email" in params:
        assert (await client.get("/access/route", params=params, headers=AUTH)).status_code == status


async def test_both_endpoints_are_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json", headers=AUTH)).json()["paths"]
    assert {"/access/login-url", "/access/route"} <= set(paths)
