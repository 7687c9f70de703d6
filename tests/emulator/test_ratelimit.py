"""Rate limits as Okta applies them: buckets, per-token ceilings, windows, headers, 429s, concurrency."""

from __future__ import annotations

import threading
import time
from email.utils import parsedate_to_datetime

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.clock import ManualClock
from idsync.emulator.okta.ratelimit import Layout, RateLimiter, classify, format_reset
from idsync.emulator.okta.server import EmulatorThread
from idsync.emulator.okta.settings import EmulatorSettings

from .conftest import EmulatorFactory, new_user

# Which calls share a counter, as recorded (FACTS §4): the 2025 developer org (CASS test_reset_factors,
# test_comprehensive_user_lifecycle, test_list_app_links, test_application_with_http_info_methods)
# and the 2020 test org (CASS test_create_get_user, test_update_user_profile,
# test_activate_deactivate_delete_app).
_COMMON = [
    ("POST", "/api/v1/users", "users"),
    ("GET", "/api/v1/users", "users"),
    ("POST", "/api/v1/users/00u1/lifecycle/activate", "users"),
    ("POST", "/api/v1/users/00u1/lifecycle/suspend", "users"),
    ("POST", "/api/v1/users/00u1/lifecycle/reset_factors", "users"),
    ("GET", "/api/v1/users/00u1/groups", "users"),
    ("DELETE", "/api/v1/users/00u1/sessions", "users"),
    ("POST", "/api/v1/users/00u1/credentials/change_password", "users"),
    ("DELETE", "/api/v1/users/00u1", "users.id"),
    ("POST", "/api/v1/users/00u1", "users.id"),
    ("PUT", "/api/v1/users/00u1", "users.id"),
    ("GET", "/api/v1/users/a@b.co", "users.get"),
    ("POST", "/api/v1/apps", "apps"),
    ("POST", "/api/v1/apps/0oa1/users", "apps"),
    ("POST", "/api/v1/apps/0oa1/lifecycle/deactivate", "apps"),
    ("PUT", "/api/v1/apps/0oa1", "apps.id"),
    ("DELETE", "/api/v1/apps/0oa1", "apps.id"),
    ("POST", "/api/v1/groups", "groups"),
    ("PUT", "/api/v1/groups/00g1/users/00u1", "groups"),
    ("DELETE", "/api/v1/groups/00g1", "groups.id"),
    ("GET", "/api/v1/eventHooks", "api"),
    ("GET", "/api/v1/logs", "logs"),
]
_2025 = [
    ("POST", "/api/v1/users/00u1/lifecycle/deactivate", "users"),
    ("GET", "/api/v1/apps/0oa1", "apps.get"),
]
_2020 = [
    ("POST", "/api/v1/users/00u1/lifecycle/deactivate", "users.id"),
    ("GET", "/api/v1/apps/0oa1", "apps.id"),
]


@pytest.mark.parametrize(
    ("layout", "method", "path", "bucket"),
    [("2025", *c) for c in _COMMON + _2025] + [("2020", *c) for c in _COMMON + _2020],
)
def test_bucket_of_each_endpoint(layout: Layout, method: str, path: str, bucket: str) -> None:
    assert classify(method, path, layout) == bucket


def test_2025_is_the_default_layout() -> None:
    assert EmulatorSettings().rate_limit_layout == "2025"
    assert classify("POST", "/api/v1/users/00u1/lifecycle/deactivate") == "users"
    with pytest.raises(ValueError, match="rate_limit_layout"):
        EmulatorSettings(rate_limit_layout="2019")  # type: ignore[arg-type]
    assert EmulatorSettings.from_dict({"rate_limit_layout": 2020}).rate_limit_layout == "2020"


def _counters(emu: EmulatorThread) -> list[tuple[str, str, str]]:
    """(call, X-Rate-Limit-Limit, X-Rate-Limit-Remaining) of a user's life, over HTTP."""
    seen: list[tuple[str, str, str]] = []
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as c:

        def call(name: str, method: str, path: str, **kw: object) -> httpx.Response:
            r = c.request(method, path, **kw)  # type: ignore[arg-type]
            assert r.status_code < 300, r.text
            seen.append((name, r.headers["x-rate-limit-limit"], r.headers["x-rate-limit-remaining"]))
            return r

        created = call("create", "POST", "/api/v1/users?activate=false", json=new_user("x@example.com"))
        uid = created.json()["id"]
        call("get", "GET", f"/api/v1/users/{uid}")
        call("activate", "POST", f"/api/v1/users/{uid}/lifecycle/activate?sendEmail=false")
        call("update", "POST", f"/api/v1/users/{uid}", json={"profile": {"firstName": "Y"}})
        call("groups", "GET", f"/api/v1/users/{uid}/groups")
        call("deactivate", "POST", f"/api/v1/users/{uid}/lifecycle/deactivate")
        call("delete", "DELETE", f"/api/v1/users/{uid}")
    return seen


def test_2025_layout_counts_lifecycle_with_create_over_http(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(limits={"users": 50, "users.id": 40, "users.get": 30}, token_share=1.0)
    assert _counters(emu) == [
        ("create", "50", "49"),
        ("get", "30", "29"),
        ("activate", "50", "48"),
        ("update", "40", "39"),
        ("groups", "50", "47"),
        ("deactivate", "50", "46"),  # with create (2025), not with DELETE
        ("delete", "40", "38"),
    ]


def test_2020_layout_counts_deactivate_with_delete_over_http(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(
        limits={"users": 50, "users.id": 40, "users.get": 30}, token_share=1.0, rate_limit_layout="2020"
    )
    assert _counters(emu) == [
        ("create", "50", "49"),
        ("get", "30", "29"),
        ("activate", "50", "48"),
        ("update", "40", "39"),
        ("groups", "50", "47"),
        ("deactivate", "40", "38"),
        ("delete", "40", "37"),
    ]


def test_enterprise_defaults_and_token_share() -> None:
    limiter = RateLimiter()
    assert limiter.limits["users"] == 600
    assert limiter.limits["users.get"] == 1000
    assert limiter.limits["apps"] == 100
    assert limiter.token_limit("users") == 300  # 50% per API token by default (rl2-token-oauth)


def test_token_ceiling_and_shared_org_bucket() -> None:
    limiter = RateLimiter({"users": 8}, token_share=0.75)  # each token may use 6 of the org's 8
    decisions = [limiter.check("users", "A", 0.0) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 6 + [False]
    assert [d.remaining for d in decisions] == [5, 4, 3, 2, 1, 0, 0]
    assert all(d.limit == 6 for d in decisions)
    b = [limiter.check("users", "B", 1.0) for _ in range(3)]
    # B's own ceiling is 6, but only 2 calls are left in the org bucket
    assert [(d.allowed, d.remaining) for d in b] == [(True, 1), (True, 0), (False, 0)]


def test_window_opens_at_first_request_and_resets() -> None:
    limiter = RateLimiter({"users": 2}, token_share=1.0, time_scale=0.5)  # a 30-second "minute"
    assert limiter.check("users", "A", 100.0).reset_at == 130.0
    assert limiter.check("users", "A", 110.0).allowed
    refused = limiter.check("users", "A", 129.9)
    assert not refused.allowed
    assert refused.reset_at == 130.0
    again = limiter.check("users", "A", 130.0)
    assert again.allowed
    assert again.reset_at == 160.0
    windows = limiter.windows(131.0)
    assert [(w["calls"], w["rejected_429"], w["limit"]) for w in windows] == [(2, 1, 2), (1, 0, 2)]


def test_background_load_uses_part_of_the_org_bucket() -> None:
    limiter = RateLimiter({"users": 100}, token_share=1.0, background_load=0.5)
    assert limiter.check("users", "A", 0.0).remaining == 99
    assert limiter.check("users", "A", 30.0).remaining == 100 - 2 - 25  # half the window: 25 calls by others
    assert limiter.check("users", "A", 59.9).remaining == 100 - 3 - 49


def test_reset_format() -> None:
    assert format_reset(1767225600.01, 1.0) == "1767225601"
    assert format_reset(1767225600.341, 0.01) == "1767225600.35"


def _limited(factory: EmulatorFactory, **settings: object) -> EmulatorThread:
    return factory(limits={"users": 4}, **settings)


def test_429_has_okta_body_and_consistent_headers(emulator_factory: EmulatorFactory) -> None:
    emu = _limited(emulator_factory)
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as c:
        answers = [c.get("/api/v1/users") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]  # 50% of 4
    assert [r.headers["x-rate-limit-remaining"] for r in answers] == ["1", "0", "0"]
    refused = answers[-1]
    assert refused.headers["x-rate-limit-limit"] == "2"
    assert refused.json()["errorCode"] == "E0000047"
    assert refused.json()["errorCauses"] == []
    assert refused.json()["errorSummary"] == "API call exceeded rate limit due to too many requests."
    date = parsedate_to_datetime(refused.headers["date"]).timestamp()
    reset = int(refused.headers["x-rate-limit-reset"])
    assert date <= reset <= date + 61  # the SDK waits reset - date + 1 seconds
    stats = EmulatorAdmin(emu.url).stats(windows=False)
    assert stats["requests"]["GET /api/v1/users"] == {"200": 2, "429": 1}
    assert stats["served_429"]["rate_limit"] == 1


def test_second_token_shares_the_org_bucket(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(limits={"users": 4}, extra_tokens=("other-app-token",))
    statuses = []
    for token in (emu.token, emu.token, "other-app-token", "other-app-token", emu.token, "other-app-token"):
        statuses.append(
            httpx.get(f"{emu.url}/api/v1/users", headers={"Authorization": f"SSWS {token}"}).status_code
        )
    assert statuses == [200, 200, 200, 200, 429, 429]
    windows = EmulatorAdmin(emu.url).stats()["rate_limit_windows"]
    [users] = [w for w in windows if w["bucket"] == "users"]
    assert users["calls_by_token"] == {"token#0": 2, "token#1": 2}
    assert users["rejected_429"] == 2


def test_manual_clock_moves_windows(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock(1_767_225_600.0)
    emu = emulator_factory(clock=clock, limits={"users": 2}, token_share=1.0)
    headers = {"Authorization": f"SSWS {emu.token}"}
    statuses = [httpx.get(f"{emu.url}/api/v1/users", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    clock.advance(59.0)
    assert httpx.get(f"{emu.url}/api/v1/users", headers=headers).status_code == 429
    clock.advance(1.0)
    r = httpx.get(f"{emu.url}/api/v1/users", headers=headers)
    assert r.status_code == 200
    assert r.headers["x-rate-limit-reset"] == "1767225720"


def test_time_scale_shortens_the_minute(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(limits={"users": 3}, token_share=1.0, time_scale=0.01)
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as c:
        for _ in range(5):  # on a loaded machine a 0.6 s window may roll over in between: a fresh one
            answers = [c.get("/api/v1/users") for _ in range(4)]
            if answers[-1].status_code == 429:
                break
        refused = answers[-1]
        assert refused.status_code == 429
        reset = float(refused.headers["x-rate-limit-reset"])
        assert "." in refused.headers["x-rate-limit-reset"]  # fractional epoch with a time scale
        assert reset - time.time() <= 0.61
        time.sleep(max(0.0, reset - time.time()) + 0.02)  # wait for the announced reset, then it must work
        assert c.get("/api/v1/users").status_code == 200


def test_concurrency_limit_answers_429_with_zero_headers(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(concurrency_limit=2, faults={"latency_ms": 1000.0})
    barrier = threading.Barrier(6)
    results: list[httpx.Response] = []

    def call() -> None:
        barrier.wait()
        results.append(
            httpx.get(f"{emu.url}/api/v1/users", headers={"Authorization": f"SSWS {emu.token}"}, timeout=10)
        )

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in results if r.status_code == 429]
    assert 1 <= len(refused) <= 4
    assert len(results) - len(refused) >= 2
    for r in refused:
        assert (r.headers["x-rate-limit-limit"], r.headers["x-rate-limit-remaining"]) == ("0", "0")
        assert r.json()["errorCode"] == "E0000047"
    assert EmulatorAdmin(emu.url).stats(windows=False)["served_429"]["concurrency"] == len(refused)


def test_admin_endpoints_are_not_rate_limited(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(limits={"users": 2}, token_share=1.0)
    admin = EmulatorAdmin(emu.url)
    for _ in range(5):
        admin.stats(windows=False)
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}) as c:
        c.post("/api/v1/users", json=new_user("a@example.com", password=True))
        c.post("/api/v1/users", json=new_user("b@example.com", password=True))
        assert c.post("/api/v1/users", json=new_user("c@example.com", password=True)).status_code == 429
    assert len(admin.users()) == 2


def test_background_load_shows_in_remaining_over_http(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock(1_767_225_600.0)
    emu = emulator_factory(clock=clock, limits={"users": 100}, token_share=1.0, background_load=0.5)
    headers = {"Authorization": f"SSWS {emu.token}"}
    assert httpx.get(f"{emu.url}/api/v1/users", headers=headers).headers["x-rate-limit-remaining"] == "99"
    clock.advance(30.0)  # other applications have used 25 of the org's 100 calls by now
    assert httpx.get(f"{emu.url}/api/v1/users", headers=headers).headers["x-rate-limit-remaining"] == "73"


@pytest.mark.parametrize(("counted", "other_app"), [(False, [200, 200, 429]), (True, [429, 429, 429])])
def test_429s_count_against_the_org_bucket_when_asked(
    emulator_factory: EmulatorFactory, counted: bool, other_app: list[int]
) -> None:
    """Token A spends its half of the org's 4 calls, then insists: with `count_rejected_429` its
    refused calls use up the org's other half too, and the other application gets nothing."""
    emu = emulator_factory(limits={"users": 4}, extra_tokens=("other-app",), count_rejected_429=counted)

    def get(token: str) -> httpx.Response:
        return httpx.get(f"{emu.url}/api/v1/users", headers={"Authorization": f"SSWS {token}"})

    mine = [get(emu.token) for _ in range(4)]
    assert [r.status_code for r in mine] == [200, 200, 429, 429]
    assert [r.headers["x-rate-limit-remaining"] for r in mine] == ["1", "0", "0", "0"]
    assert [get("other-app").status_code for _ in range(3)] == other_app
    [users] = [w for w in EmulatorAdmin(emu.url).stats()["rate_limit_windows"] if w["bucket"] == "users"]
    assert users["calls"] == (7 if counted else 4)


def test_storm_429s_are_counted_when_asked(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock(1_767_225_600.0)
    emu = emulator_factory(
        clock=clock,
        limits={"users": 10},
        token_share=1.0,
        count_rejected_429=True,
        faults={"storm_every_s": 100.0, "storm_duration_s": 5.0},
    )
    headers = {"Authorization": f"SSWS {emu.token}"}
    assert [httpx.get(f"{emu.url}/api/v1/users", headers=headers).status_code for _ in range(3)] == [429] * 3
    clock.advance(6.0)  # the storm is over, its three 429s were counted in the window
    r = httpx.get(f"{emu.url}/api/v1/users", headers=headers)
    assert (r.status_code, r.headers["x-rate-limit-remaining"]) == (200, "6")
