"""Faults on demand: errors, dropped connections, slow answers with or without the write,
latency and 429 storms; reproducible from a seed, settable at start and at runtime."""

from __future__ import annotations

import time

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, FaultSettings
from idsync.emulator.okta.faults import FaultInjector
from idsync.emulator.okta.settings import EmulatorSettings

from .conftest import EmulatorFactory, new_user


def _auth(emu: object) -> dict[str, str]:
    return {"Authorization": f"SSWS {emu.token}"}  # type: ignore[attr-defined]


def test_same_seed_same_faults() -> None:
    settings = FaultSettings(
        error_rate=0.3, drop_rate=0.2, timeout_rate=0.1, latency_ms=5, latency_jitter_ms=2
    )
    a, b = FaultInjector(settings, 42, 0.0), FaultInjector(settings, 42, 0.0)
    assert [a.decide() for _ in range(200)] == [b.decide() for _ in range(200)]
    kinds = {a.decide().kind for _ in range(500)}
    assert kinds == {"none", "error", "drop", "timeout"}


def test_storm_windows() -> None:
    injector = FaultInjector(FaultSettings(storm_every_s=10, storm_duration_s=3), None, 100.0)
    assert injector.storm_until(100.0) == 103.0
    assert injector.storm_until(102.5) == 103.0
    assert injector.storm_until(103.0) is None
    assert injector.storm_until(111.0) == 113.0


def test_injected_errors_write_nothing(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(faults={"error_rate": 1.0})
    answers = [
        httpx.post(
            f"{emu.url}/api/v1/users", json=new_user(f"u{i}@example.com", password=True), headers=_auth(emu)
        )
        for i in range(12)
    ]
    assert {r.status_code for r in answers} == {500, 503}
    codes = {r.status_code: r.json()["errorCode"] for r in answers}
    assert codes == {500: "E0000009", 503: "E0000010"}
    for r in answers:  # the SDK retries 503 and needs these headers
        assert r.headers["date"]
        assert r.headers["x-rate-limit-reset"]
        assert r.headers["x-okta-request-id"]
    admin = EmulatorAdmin(emu.url)  # admin endpoints never get faults
    assert admin.users() == []
    assert admin.stats(windows=False)["faults"]["injected"]["error"] == 12


def test_same_seed_same_answers_over_http(emulator_factory: EmulatorFactory) -> None:
    runs = []
    for _ in range(2):
        emu = emulator_factory(seed=7, faults={"error_rate": 0.5})
        runs.append([httpx.get(f"{emu.url}/api/v1/users", headers=_auth(emu)).status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert {200}.issubset(runs[0])
    assert len(set(runs[0])) > 1


@pytest.mark.parametrize("applies", [0.0, 1.0])
def test_dropped_connection_with_or_without_the_write(
    emulator_factory: EmulatorFactory, applies: float
) -> None:
    emu = emulator_factory(faults={"drop_rate": 1.0, "drop_applies_write": applies})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(
            f"{emu.url}/api/v1/users", json=new_user("drop@example.com", password=True), headers=_auth(emu)
        )
    admin = EmulatorAdmin(emu.url)
    assert len(admin.users()) == int(applies)
    admin.set_faults(drop_rate=0.0)
    again = httpx.post(
        f"{emu.url}/api/v1/users", json=new_user("drop@example.com", password=True), headers=_auth(emu)
    )
    assert again.status_code == (400 if applies else 200)  # unknown outcome: a blind retry may be a duplicate


@pytest.mark.parametrize("applies", [0.0, 1.0])
def test_slow_answer_beyond_the_client_timeout(emulator_factory: EmulatorFactory, applies: float) -> None:
    emu = emulator_factory(
        faults={"timeout_rate": 1.0, "timeout_delay_s": 1.5, "timeout_applies_write": applies}
    )
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{emu.url}/api/v1/users",
            json=new_user("slow@example.com", password=True),
            headers=_auth(emu),
            timeout=0.3,
        )
    assert len(EmulatorAdmin(emu.url).users()) == int(applies)


def test_slow_answer_that_is_waited_for(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(faults={"timeout_rate": 1.0, "timeout_delay_s": 0.3, "timeout_applies_write": 0.0})
    r = httpx.post(f"{emu.url}/api/v1/users", json=new_user("w@example.com"), headers=_auth(emu), timeout=10)
    assert (r.status_code, r.json()["errorCode"]) == (500, "E0000009")  # Okta: a 500 usually means a timeout


def test_latency_is_added(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(faults={"latency_ms": 300.0})
    started = time.monotonic()
    assert httpx.get(f"{emu.url}/api/v1/users", headers=_auth(emu)).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    EmulatorAdmin(emu.url).health()  # not on admin endpoints
    assert time.monotonic() - started < 0.3


def test_429_storm_set_at_runtime(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory()
    admin = EmulatorAdmin(emu.url)
    before = time.time()
    admin.set_faults(storm_every_s=600, storm_duration_s=60)
    r = httpx.get(f"{emu.url}/api/v1/users", headers=_auth(emu))
    assert (r.status_code, r.json()["errorCode"]) == (429, "E0000047")
    assert r.headers["x-rate-limit-remaining"] == "0"
    assert r.headers["x-rate-limit-limit"] == "300"
    assert before + 60 <= int(r.headers["x-rate-limit-reset"]) <= time.time() + 61
    assert admin.health()["status"] == "ok"
    admin.set_faults(storm_every_s=0, storm_duration_s=0)
    assert httpx.get(f"{emu.url}/api/v1/users", headers=_auth(emu)).status_code == 200
    assert admin.stats(windows=False)["served_429"]["storm"] == 1


def test_fault_settings_are_checked(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory()
    for bad in ({"drop_rat": 0.1}, {"error_rate": 2}, {"error_statuses": [404]}):
        assert httpx.post(f"{emu.url}/__emulator/faults", json=bad).status_code == 400
    assert EmulatorAdmin(emu.url).set_faults(error_rate=0.25, seed=3)["error_rate"] == 0.25


def test_settings_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown fault setting\(s\): error_rat, seedx"):
        FaultSettings().with_changes({"error_rat": 0.5, "seedx": 1})
    with pytest.raises(ValueError, match=r"unknown setting\(s\): tokn"):
        EmulatorSettings.from_dict({"tokn": "x"})
    settings = EmulatorSettings.from_dict({"faults": {"error_rate": 0.25}, "limits": {"users": "7"}})
    assert (settings.faults.error_rate, settings.limits["users"]) == (0.25, 7)
    with pytest.raises(ValueError, match=r"unknown fault setting\(s\): rate"):
        EmulatorSettings.from_dict({"faults": {"rate": 0.25}})
