"""The HTTP API of `idsync serve` on the embedded set-up (SQLite) against the Okta emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.web.app import create_app

from .support import API_TOKEN, AUTH, OKTA_TOKEN, ServerThread, change, eventually, ndjson, settings


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.02)) as emu:
        yield emu


@pytest.fixture
def client(emulator: EmulatorThread, tmp_path: Path) -> Iterator[httpx.Client]:
    quiet = {"quiet": {"idp": "okta", "mode": "off"}}
    app = create_app(settings(f"sqlite:///{tmp_path / 'idsync.db'}", emulator.url, tenants=quiet))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_every_route_but_health_needs_the_token(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    for method, path in [
        ("POST", "/changes"),
        ("GET", "/changes/1"),
        ("POST", "/imports?tenant=t"),
        ("GET", "/imports"),
        ("GET", "/metrics"),
        ("GET", "/service"),
    ]:
        assert client.request(method, path).status_code == 401, path
        wrong = client.request(method, path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401, path
    for public in ("/docs", "/redoc"):
        assert client.get(public).status_code == 404  # no unauthenticated API pages
    assert client.get("/openapi.json", headers={"Authorization": "Bearer nope"}).status_code == 401
    schema = client.get("/openapi.json", headers=AUTH).json()
    assert {
        "/changes",
        "/changes/{change_id}",
        "/imports",
        "/imports/{import_id}/results",
        "/metrics",
    } <= set(schema["paths"])


def test_a_single_change_answers_with_its_result(client: httpx.Client, emulator: EmulatorThread) -> None:
    answer = client.post("/changes", json=change(1), headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["state"] == "done" and body["result"]["status"] == "created"
    (user,) = EmulatorAdmin(emulator.url).users(login="user1@example.com")
    assert body["result"]["idp_id"] == user["id"]
    again = client.get(f"/changes/{body['change_id']}", headers=AUTH).json()
    assert again == body
    same = client.post("/changes", json=change(1), headers=AUTH).json()  # nothing changed: no call
    assert same["result"]["status"] == "unchanged"
    assert client.get("/changes/999999", headers=AUTH).status_code == 404


def test_an_invalid_change_is_refused_naming_the_field(client: httpx.Client) -> None:
    bad = change(2)
    bad["user"]["email"] = "not-an-address"
    answer = client.post("/changes", json=bad, headers=AUTH)
    assert answer.status_code == 422
    assert "email" in answer.text


def test_an_import_streams_in_and_reports_progress_and_results(
    client: httpx.Client, emulator: EmulatorThread
) -> None:
    lines = [change(i) for i in range(40)]
    body = ndjson(lines[:20]) + b"{not json\n" + ndjson(lines[20:])

    def chunks() -> Iterator[bytes]:  # a streamed upload, cut at awkward places
        for i in range(0, len(body), 777):
            yield body[i : i + 777]

    started = client.post("/imports?tenant=t&import_id=imp-http", content=chunks(), headers=AUTH)
    assert started.status_code == 202, started.text
    assert started.json()["import_id"] == "imp-http" and started.json()["received"] == 41

    def completed() -> dict[str, object] | None:
        view = client.get("/imports/imp-http", headers=AUTH).json()
        return view if view["state"] == "completed" else None

    view = eventually(completed)
    assert (view["received"], view["created"], view["failed"], view["pending"]) == (41, 40, 1, 0)
    failed = client.get("/imports/imp-http/results?status=failed", headers=AUTH).json()
    (item,) = failed["items"]
    assert item["reason"]["code"] == "invalid" and "JSON" in item["reason"]["message"]
    page = client.get("/imports/imp-http/results?limit=30", headers=AUTH).json()
    rest = client.get(f"/imports/imp-http/results?after={page['next_after']}", headers=AUTH).json()
    assert len(page["items"]) + len(rest["items"]) == 41 and rest["next_after"] is None
    logins = {u["login"] for u in EmulatorAdmin(emulator.url).users()}
    assert logins == {f"user{i}@example.com" for i in range(40)}
    again = client.post("/imports?tenant=t&import_id=imp-http", content=body, headers=AUTH)
    assert again.status_code == 409  # its input is complete
    listed = client.get("/imports", headers=AUTH).json()
    assert [i["import_id"] for i in listed] == ["imp-http"]


def test_an_interrupted_upload_resumes_after_the_stored_lines(client: httpx.Client) -> None:
    # Tenant "quiet" is in mode off: every change is decided at once (skipped), no IdP call.
    lines = [{**change(i), "tenant": "quiet"} for i in range(1500)]
    body = ndjson(lines)
    url = "/imports?tenant=quiet&import_id=imp-resume"

    def broken() -> Iterator[bytes]:  # the client goes away once the server stored a batch
        yield body[: len(body) * 3 // 4]
        eventually(lambda: client.get("/imports/imp-resume", headers=AUTH).json()["received"] >= 1000)
        raise ConnectionError("client went away")

    with httpx.Client(base_url=str(client.base_url), timeout=30) as uploader, pytest.raises(ConnectionError):
        uploader.post(url, content=broken(), headers=AUTH)
    # The whole body again (once the broken upload let go): stored lines are skipped.
    again = eventually(lambda: (r := client.post(url, content=body, headers=AUTH)).status_code != 409 and r)
    assert again.status_code == 202, again.text
    skipped, received = again.json()["resumed_after"], again.json()["received"]
    assert skipped >= 1000 and skipped + received == 1500
    view = client.get("/imports/imp-resume", headers=AUTH).json()
    assert (view["state"], view["received"], view["skipped"]) == ("completed", 1500, 1500)


def test_metrics_show_calls_queue_and_budget_but_no_secret(client: httpx.Client) -> None:
    assert client.post("/changes", json=change(7), headers=AUTH).status_code == 200
    text = client.get("/metrics", headers=AUTH).text
    assert 'idsync_idp_calls_total{bucket="users",idp="okta",status="200"} 1.0' in text
    assert 'idsync_queue_depth{lane="interactive"} 0.0' in text
    assert 'idsync_idp_budget_calls{bucket="users",idp="okta"}' in text
    assert "idsync_idp_rate_limited_total" in text
    # The counter each endpoint was found charged to (from the answer's X-Rate-Limit headers).
    assert 'idsync_idp_endpoint_counter{bucket="users",endpoint="POST /users",idp="okta"} 1.0' in text
    assert API_TOKEN not in text and OKTA_TOKEN not in text
    service = client.get("/service", headers=AUTH).json()
    assert "POST /users" in service["rate_limit_counters"]["okta"]["users"]
    assert service["rate_limit_learned"]["okta"] == []  # create is where Okta's table says
