"""The spec check itself: it covers every route, and it rejects what it must (wrong bodies, unknown
paths, undocumented statuses, loose errors); the exchange log feeding the session check."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from idsync.emulator.okta import EmulatorSettings, EmulatorThread
from idsync.emulator.okta.emulator import Emulator
from idsync.emulator.okta.exchange_log import ENV_VAR, ExchangeLog
from idsync.emulator.okta.stats import Exchange

from .conformance import SPEC_GAPS, UNDOCUMENTED_ROUTES, find_operation, from_log_lines, problems, spec
from .conftest import new_user

USER_T = "/api/v1/users/{id}"


def _exchange(method: str, path: str, status: int, body: object, template: str = USER_T) -> Exchange:
    raw = json.dumps(body).encode() if body is not None else b""
    return Exchange(method, path, template, "", {}, b"", status, [], raw)


def _error(code: str, summary: str = "x", causes: list[object] | None = None) -> dict[str, object]:
    return {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "oae1",
        "errorCauses": causes or [],
    }


def test_every_route_is_in_the_spec_subset() -> None:
    paths = spec()["paths"]
    shapes = {p.replace("{userId}", "{id}").split("{")[0] for p in paths}
    routes = Emulator(EmulatorSettings()).router.routes
    assert set(UNDOCUMENTED_ROUTES) <= {r.template for r in routes}  # no stale exemption
    for route in routes:
        if route.template in UNDOCUMENTED_ROUTES:
            continue
        prefix = route.template.split("{")[0]
        assert prefix in shapes, route.template


def test_operation_follows_the_route_template() -> None:
    assert find_operation("GET", "/api/v1/groups/rules", "/api/v1/groups/{id}") == "/api/v1/groups/{groupId}"
    deactivate = find_operation(
        "POST", "/api/v1/users/00u1/lifecycle/deactivate", "/api/v1/users/{id}/lifecycle/{op}"
    )
    assert deactivate == "/api/v1/users/{id}/lifecycle/deactivate"
    assert (
        find_operation("POST", "/api/v1/users/00u1/lifecycle/fly", "/api/v1/users/{id}/lifecycle/{op}")
        is None
    )


def test_checker_rejects_wrong_bodies() -> None:
    bad_user = {"id": "00u1", "status": "SOMETIMES", "profile": {"login": "x@example.com"}}
    found = problems([_exchange("GET", "/api/v1/users/00u1", 200, bad_user)])
    assert len(found) == 1
    assert "SOMETIMES" in found[0]
    assert problems([_exchange("GET", "/api/v1/users/00u1", 200, {"id": "00u1", "created": "yesterday"})])
    lifecycle = "/api/v1/users/{id}/lifecycle/{op}"
    assert problems([_exchange("POST", "/api/v1/users/00u1/lifecycle/suspend", 200, {"x": 1}, lifecycle)])
    assert problems([_exchange("POST", "/api/v1/users/00u1/lifecycle/activate", 200, None, lifecycle)])


def test_checker_rejects_unknown_paths_and_undocumented_statuses() -> None:
    [unknown] = problems(
        [_exchange("POST", "/api/v1/users/00u1/lifecycle/fly", 200, {}, "/api/v1/users/{id}/lifecycle/{op}")]
    )
    assert "unknown path" in unknown
    teapot = problems([_exchange("GET", "/api/v1/users/00u1", 418, _error("E0000001"))])
    assert any("status 418 is not documented" in p for p in teapot)
    conflict = problems([_exchange("GET", "/api/v1/users/00u1", 409, _error("E0000112"))])
    assert any("status 409 is not documented" in p for p in conflict)  # 409 is only for updates
    assert problems([_exchange("POST", "/api/v1/users/00u1", 409, _error("E0000112"))]) == []
    unrouted = problems([_exchange("GET", "/api/v1/nowhere", 200, [], "<unknown>")])
    assert unrouted == [
        "GET /api/v1/nowhere -> 200: a path the emulator does not serve, answered other than 404/405"
    ]
    assert problems([_exchange("GET", "/api/v1/nowhere", 404, _error("E0000007"), "<unknown>")]) == []


def test_checker_rejects_loose_errors() -> None:
    def check(status: int, body: object) -> list[str]:
        return problems([_exchange("GET", "/api/v1/users/00u1", status, body)])

    assert check(404, _error("E0000007")) == []
    assert check(404, {"errorCode": "E0000007", "errorSummary": "Not found"})  # fields missing
    assert check(404, _error("E0000011"))  # a 401 code served as 404
    assert check(404, {**_error("E0000007"), "errorLink": "elsewhere"})
    assert check(404, _error("E0000007", causes=[{"reason": "x"}]))
    assert check(429, _error("E0000047", "API call exceeded rate limit due to too many requests.")) == []
    assert check(429, _error("E0000047", "slow down"))
    assert check(500, _error("E0000009")) == []
    assert check(404, None)


def test_checker_accepts_documented_gaps_only() -> None:
    group = {"id": "00g1", "type": "OKTA_GROUP", "profile": {"name": "G", "description": None}}
    group_t = "/api/v1/groups/{id}"
    assert problems([_exchange("GET", "/api/v1/groups/00g1", 200, group, group_t)]) == []
    assert "profile.description" in SPEC_GAPS
    group["profile"]["name"] = None  # type: ignore[index]
    assert problems([_exchange("GET", "/api/v1/groups/00g1", 200, group, group_t)])
    lifecycle = "/api/v1/users/{id}/lifecycle/{op}"
    assert problems([_exchange("POST", "/api/v1/users/00u1/lifecycle/deactivate", 200, {}, lifecycle)]) == []
    assert problems([_exchange("DELETE", "/api/v1/users/00u1", 204, {})])  # no recording shows `{}` there


def test_exchange_log_keeps_one_line_per_shape_and_redacts(tmp_path: Path) -> None:
    settings = EmulatorSettings(exchange_log=str(tmp_path))
    with (
        EmulatorThread(settings) as emu,
        httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as c,
    ):
        for n in range(5):
            assert (
                c.post("/api/v1/users?activate=false", json=new_user(f"u{n}@example.com")).status_code == 200
            )
        uid = c.get("/api/v1/users").json()[0]["id"]
        link = c.post(f"/api/v1/users/{uid}/lifecycle/activate", params={"sendEmail": "false"}).json()
        assert c.get("/api/v1/nowhere").status_code == 404
    lines = [line for f in sorted(tmp_path.glob("*.jsonl")) for line in f.read_text().splitlines()]
    records = from_log_lines(lines)
    creates = [r for r in records if r.method == "POST" and r.template == "/api/v1/users"]
    assert len(creates) == 1  # five creates, one shape
    [activation] = [r for r in records if r.template.endswith("/lifecycle/{op}")]
    assert activation.body == {"activationUrl": "redacted", "activationToken": "redacted"}
    assert link["activationToken"] not in "\n".join(lines)
    assert problems(records) == []
    assert ExchangeLog.from_settings(None, {ENV_VAR: str(tmp_path)}) is not None
    assert ExchangeLog.from_settings(None, {}) is None
