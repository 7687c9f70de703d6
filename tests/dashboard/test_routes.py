"""The dashboard's HTTP routes over real HTTP (uvicorn in a thread) against the Okta emulator:
login and protection, the JSON against the API's, filters, paging and the CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from idsync.adapters.store.features.tokens import create_token, session_key
from idsync.domain.authz import Role
from idsync.emulator.okta import EmulatorSettings, EmulatorThread
from idsync.lifecycle.failures import COLUMNS
from idsync.web.app import create_app
from idsync.web.dashboard import session
from idsync.web.routes import dashboard as dashboard_routes
from idsync.web.routes import signin as signin_routes

from .support import API_TOKEN, AUTH, OKTA_TOKEN, TENANT, ServerThread, eventually, feeder, sample, settings

IMPORT_ID = "imp-routes-1"
USERS = 120  # every 10th external (skipped), every 40th invalid (failed)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.01)) as emu:
        yield emu


@pytest.fixture(scope="module")
def served(emulator: EmulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """One app with one finished import (module scope: the routes only read)."""
    db = tmp_path_factory.mktemp("dash") / "idsync.db"
    app = create_app(settings(f"sqlite:///{db}", emulator.url))
    app.state.dashboard.interval_s = 0.2
    app.state.background.append(
        ("test-import", feeder(sample(USERS, external_every=10, invalid_every=40), IMPORT_ID, batch=50))
    )
    with ServerThread(app) as server:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as c:
            eventually(
                lambda: c.get(f"/dashboard/api/imports/{IMPORT_ID}").json()["item"]["state"] == "completed"
            )
        yield app, server.url


@pytest.fixture
def client(served: tuple[Any, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], headers=AUTH, timeout=30) as c:
        yield c


@pytest.fixture
def anonymous(served: tuple[Any, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], timeout=30) as c:
        yield c


def _data_paths(app: Any) -> list[str]:
    """Every data route: the `api` router's; the sign-in module holds the HTML shells and the
    sign-in, and the schema lists no other /dashboard route."""
    shells = {r.path for r in signin_routes.router.routes if isinstance(r, APIRoute)}
    assert shells == {
        "/dashboard",
        "/dashboard/login",
        "/dashboard/logout",
        "/dashboard/sso/login",
        "/dashboard/sso/callback",
    }
    routes = [r for r in dashboard_routes.api.routes if isinstance(r, APIRoute)]
    assert {p for p in app.openapi()["paths"] if p.startswith("/dashboard")} == {r.path for r in routes}
    actions = [r.path for r in routes if r.methods != {"GET"}]
    assert sorted(actions) == [  # the buttons: see below
        f"/dashboard/api/imports/{{import_id}}/{c}" for c in ("cancel", "pause", "resume")
    ]
    return [r.path.replace("{import_id}", IMPORT_ID) for r in routes if r.methods == {"GET"}]


def _key(app: Any) -> bytes:
    return session_key(app.state.runtime.store)


# ---- protection -------------------------------------------------------------------------------


def test_every_data_route_needs_the_sign_in_or_a_token(
    served: tuple[Any, str], anonymous: httpx.Client
) -> None:
    app, _ = served
    paths = _data_paths(app)
    assert len(paths) == 9, paths  # overview, limits, import, failures(.csv), me, audit, tenants, fleet
    key = _key(app)
    admin = session.SignIn("config", ref=session.config_fingerprint(key, API_TOKEN))
    expired = session.issue(key, admin, now=0)
    foreign = session.issue(bytes(32), admin)  # signed with another key
    rotated = session.issue(key, session.SignIn("config", ref=session.config_fingerprint(key, "old-token")))
    unknown_token = session.issue(key, session.SignIn("token", ref="0123456789ab"))
    not_sso = session.issue(key, session.SignIn("sso", actor="token:x", grants={"*": "admin"}))
    for path in paths:
        assert anonymous.get(path).status_code == 401, path
        assert anonymous.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401, path
        for cookie in (expired, foreign, rotated, unknown_token, not_sso, "1" * 10 + ".abc", API_TOKEN):
            assert anonymous.get(path, cookies={session.COOKIE: cookie}).status_code == 401, (path, cookie)
        assert anonymous.get(path, headers=AUTH).status_code == 200, path
        assert anonymous.get(path, cookies={session.COOKIE: session.issue(key, admin)}).status_code == 200


def test_the_buttons_need_the_sign_in_and_the_pages_header(
    served: tuple[Any, str], anonymous: httpx.Client
) -> None:
    """POST /dashboard/api/imports/{id}/pause|resume|cancel: a cookie-borne call without the
    page's X-Idsync-Dashboard header is refused (another site's form cannot set it)."""
    app, _ = served
    key = _key(app)
    cookie = {
        session.COOKIE: session.issue(
            key, session.SignIn("config", ref=session.config_fingerprint(key, API_TOKEN))
        )
    }
    path = f"/dashboard/api/imports/{IMPORT_ID}/pause"
    page = {"X-Idsync-Dashboard": "1"}
    assert anonymous.post(path, headers=page).status_code == 401
    assert anonymous.post(path, cookies={session.COOKIE: "1" * 10 + ".abc"}, headers=page).status_code == 401
    refused = anonymous.post(path, cookies=cookie)
    assert refused.status_code == 403 and "X-Idsync-Dashboard" in refused.json()["detail"]
    with_header = anonymous.post(path, cookies=cookie, headers=page)  # heard: the import is done
    assert with_header.status_code == 409 and "the import is completed" in with_header.json()["detail"]
    reboot = anonymous.post(f"/dashboard/api/imports/{IMPORT_ID}/reboot", cookies=cookie, headers=page)
    assert reboot.status_code == 404
    assert (
        anonymous.post("/dashboard/api/imports/nope/pause", cookies=cookie, headers=page).status_code == 404
    )


def test_the_shell_is_public_and_holds_no_data(anonymous: httpx.Client) -> None:
    page = anonymous.get("/dashboard")
    assert page.status_code == 200
    assert 'name="token"' in page.text and IMPORT_ID not in page.text
    assert "/dashboard/sso/login" not in page.text, "no IdP sign-in unless configured"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    script = anonymous.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200 and "innerHTML" not in script.text
    assert anonymous.get("/dashboard/static/dashboard.css").status_code == 200
    assert anonymous.get("/dashboard/sso/login").status_code == 404


def test_sign_in_sets_a_strict_http_only_cookie_that_opens_the_data(anonymous: httpx.Client) -> None:
    wrong = anonymous.post("/dashboard/login", data={"token": "guess"})
    assert wrong.status_code == 401 and "not a valid API token" in wrong.text
    assert "set-cookie" not in wrong.headers
    right = anonymous.post("/dashboard/login", data={"token": API_TOKEN})
    assert right.status_code == 303 and right.headers["location"] == "/dashboard"
    cookie = right.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/dashboard"):
        assert attribute.lower() in cookie.lower(), attribute
    assert API_TOKEN not in cookie
    value = right.cookies[session.COOKIE]
    assert anonymous.get("/dashboard/api/overview", cookies={session.COOKIE: value}).status_code == 200
    me = anonymous.get("/dashboard/api/me", cookies={session.COOKIE: value}).json()
    assert me == {
        "actor": "config-token",
        "access": "admin on every tenant",
        "grants": {"*": "admin"},
        "everywhere": True,
    }
    page = anonymous.get("/dashboard", cookies={session.COOKIE: value})
    assert 'id="view-overview"' in page.text and "config-token" in page.text
    out = anonymous.post("/dashboard/logout", cookies={session.COOKIE: value})
    assert out.status_code == 303 and f'{session.COOKIE}=""' in out.headers["set-cookie"]


def test_without_the_installations_token_api_tokens_still_sign_in(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    app = create_app(settings(f"sqlite:///{tmp_path / 'x.db'}", emulator.url, api_token=None))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/dashboard/login", data={"token": ""}).status_code == 401
        assert c.post("/dashboard/login", data={"token": API_TOKEN}).status_code == 401
        assert c.get("/dashboard/api/overview", headers=AUTH).status_code == 401
        _, token = create_token(
            app.state.runtime.store, name="watcher", role=Role.VIEWER, tenants=(TENANT,), created_by="test"
        )
        signed = c.post("/dashboard/login", data={"token": token})
        assert signed.status_code == 303 and token not in signed.headers["set-cookie"]
        me = c.get("/dashboard/api/me", cookies={session.COOKIE: signed.cookies[session.COOKIE]})
        assert me.json()["actor"] == "token:watcher" and me.json()["access"] == f"viewer on {TENANT}"
        assert c.get("/dashboard/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# ---- the JSON ---------------------------------------------------------------------------------


def test_overview_counts_are_the_apis(client: httpx.Client) -> None:
    overview = client.get("/dashboard/api/overview").json()
    (item,) = [i for i in overview["imports"] if i["import_id"] == IMPORT_ID]
    api = client.get(f"/imports/{IMPORT_ID}").json()
    assert item["counts"] == {k: api[k] for k in item["counts"]}
    assert (item["done"], item["pending"], item["total"], item["state"]) == (
        api["done"],
        api["pending"],
        api["total"],
        api["state"],
    )
    assert item["counts"]["failed"] == USERS // 40 and item["counts"]["skipped"] == USERS // 10 - USERS // 40
    assert item["percent"] == 100.0 and item["eta_s"] is None
    assert item["rate_source"] == "average" and item["rate"] > 0
    assert overview["queue"]["bulk"] == 0 and overview["queue"]["sampled_at"] is not None


def test_import_detail_lists_the_reasons(client: httpx.Client) -> None:
    detail = client.get(f"/dashboard/api/imports/{IMPORT_ID}").json()
    reasons = {(r["status"], r["code"]): r for r in detail["reasons"]}
    assert set(reasons) == {("failed", "invalid"), ("skipped", "external_idp")}
    assert reasons[("failed", "invalid")]["count"] == USERS // 40
    assert "e-mail" in reasons[("failed", "invalid")]["example"]
    assert client.get("/dashboard/api/imports/no-such-import").status_code == 404
    assert client.get("/dashboard/api/imports/..%2Fetc").status_code == 404


def test_limits_show_the_learned_budget_and_a_history(client: httpx.Client) -> None:
    view = client.get("/dashboard/api/limits").json()
    (okta,) = view["idps"]
    users = next(b for b in okta["buckets"] if b["bucket"] == "users")
    assert users["limit"] == 300  # the emulator's 600/min at the token's default 50 % share
    assert users["budget"] == int(300 * users["budget_share"])
    created = client.get(f"/imports/{IMPORT_ID}").json()["created"]
    assert users["calls"] >= created and users["calls_by_status"]["200"] >= created, okta["buckets"]
    assert users["series"], "no chart points"
    newest = users["series"][-1][0]
    later = client.get("/dashboard/api/limits", params={"since": newest}).json()
    later_users = next(b for b in later["idps"][0]["buckets"] if b["bucket"] == "users")
    assert all(p[0] > newest for p in later_users["series"])


# ---- failures: filters, paging, CSV -----------------------------------------------------------


def _failures(client: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = client.get(f"/dashboard/api/imports/{IMPORT_ID}/failures", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_failures_filter_by_status_code_and_text(client: httpx.Client) -> None:
    every = _failures(client)["items"]
    assert len(every) == USERS // 10
    assert [i["change_id"] for i in every] == sorted(i["change_id"] for i in every)
    failed = _failures(client, status="failed")["items"]
    assert {i["status"] for i in failed} == {"failed"} and len(failed) == USERS // 40
    assert all(i["reason_code"] == "invalid" and i["login"] for i in failed)
    assert len(_failures(client, code="external_idp")["items"]) == USERS // 10 - USERS // 40
    (one,) = _failures(client, q="USER80@")["items"]  # any case, part of the login
    assert one["key"] == "80" and one["status"] == "failed"
    assert len(_failures(client, q="bigcorp-adfs")["items"]) == USERS // 10 - USERS // 40  # the reason
    assert _failures(client, q="%")["items"] == []  # wildcards are literal
    assert _failures(client, q="ser_0@")["items"] == []  # as a wildcard, "_" would match user10@...
    assert (
        client.get(f"/dashboard/api/imports/{IMPORT_ID}/failures", params={"status": "created"}).status_code
        == 422
    )


def test_failures_page_with_after(client: httpx.Client) -> None:
    seen, after = [], 0
    while True:
        page = _failures(client, limit=5, after=after)
        seen += [i["change_id"] for i in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == [i["change_id"] for i in _failures(client)["items"]]


def test_the_csv_holds_exactly_the_filtered_rows(client: httpx.Client) -> None:
    answer = client.get(f"/dashboard/api/imports/{IMPORT_ID}/failures.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'filename="idsync-failures-{IMPORT_ID}.csv"' in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(rows[0]) == COLUMNS
    table = [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]]
    api = client.get(f"/imports/{IMPORT_ID}/results", params={"status": ["failed", "skipped"]}).json()[
        "items"
    ]
    assert [int(r["change_id"]) for r in table] == [i["change_id"] for i in api]
    for line, item in zip(table, api, strict=True):
        assert (line["status"], line["reason_code"], line["reason"]) == (
            item["status"],
            item["reason"]["code"],
            item["reason"]["message"],
        )
    only = client.get(f"/dashboard/api/imports/{IMPORT_ID}/failures.csv", params={"q": "user80@"}).text
    assert len(list(csv.reader(io.StringIO(only)))) == 2  # header + the one row
    empty = client.get(f"/dashboard/api/imports/{IMPORT_ID}/failures.csv", params={"q": "nobody"}).text
    assert list(csv.reader(io.StringIO(empty))) == [list(COLUMNS)]


def test_the_csv_streams_past_one_store_page(
    emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idsync.lifecycle import failures

    monkeypatch.setattr(failures, "PAGE", 7)  # several pages from few rows: no row lost or repeated
    app = create_app(settings(f"sqlite:///{tmp_path / 'x.db'}", emulator.url), start_worker=False)
    app.state.background.append(("test-import", feeder(sample(40, external_every=2), "imp-pages")))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as c:
        eventually(
            lambda: c.get("/dashboard/api/imports/imp-pages").json()["item"]["counts"]["skipped"] == 20
        )
        rows = list(csv.DictReader(io.StringIO(c.get("/dashboard/api/imports/imp-pages/failures.csv").text)))
    assert [r["key"] for r in rows] == [str(k) for k in range(2, 41, 2)]
