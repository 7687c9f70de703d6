"""What real Okta does that a client must survive, all at once, through the service: `idsync
serve` (a subprocess) against an emulator whose user lists lag behind writes (`search_lag_s`),
whose lifecycle is asynchronous (`lifecycle_delay_s`: deactivation lands later, activation answers
only once done and updates meanwhile get 409 E0000112), whose answers get lost (timeouts, half of
them written anyway) and whose 429s are counted against the counter.

Every other login holds a `/`, which Okta serves only by search (GET /users/{login} cannot fetch
it, SPEC), so the lost-create lookup of those users meets the lagging index. Phase 1 imports the
users (mode `sync`: STAGED), phase 2 activates a quarter, deactivates a quarter and renames a
quarter. The verdict: no duplicate account, every user with its final status and profile, at
most one activation e-mail per user, and every failure reported with its reason.

With a lag shorter than the client's timeout plus a retry, nothing may fail; with a longer one
neither: a create refused as a duplicate whose account the lagging lists do not show yet is
retried later (`NotYetVisible`), and then adopted as the lost create's own account.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess, EmulatorSettings
from tests.reliability.support import (
    AUTH,
    OKTA_TOKEN,
    ServeProcess,
    eventually,
    ndjson,
    write_config,
    write_figures,
)

USERS = 240
LIFECYCLE_DELAY_S = 0.3
# Answers slower than the client waits (1.5 s against 1.0 s), half of them written anyway: many
# while the users are created (so that some `/` users' creates are lost and applied), fewer after.
FAULTS = {"timeout_rate": 0.15, "timeout_delay_s": 1.5, "timeout_applies_write": 0.5}
FAULTS_PHASE_2 = {"timeout_rate": 0.06}
LONG_LAG_S = 2.5  # above this a lost create's retry meets lists that lag behind it
NOT_YET_VISIBLE = "is not found yet"  # NotYetVisible's message in the serve log (whitespace folded)
EXPECTED_STATUS = {0: "PROVISIONED", 1: "DEPROVISIONED", 2: "STAGED", 3: "STAGED"}


def _login(i: int) -> str:
    return f"user{i}/r@example.com" if i % 2 == 0 else f"user{i}@example.com"


def _upsert(i: int, version: int, first: str) -> dict[str, Any]:
    login = _login(i)
    user = {"login": login, "email": login, "firstName": first, "lastName": f"Lee{i}"}
    return {"tenant": "t", "op": "upsert", "source": "app", "key": str(i), "version": version, "user": user}


def _phase_two(i: int) -> dict[str, Any] | None:
    kind = i % 4
    if kind == 0:
        return {"tenant": "t", "op": "activate", "source": "app", "key": str(i), "version": 2}
    if kind == 1:
        return {"tenant": "t", "op": "deactivate", "source": "app", "key": str(i), "version": 2}
    if kind == 2:
        return _upsert(i, 2, "Renamed")
    return None


def _config(tmp_path: Path, url: str) -> dict[str, Any]:
    return {
        "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
        "service": {"interactive_wait_s": 5.0},
        "idps": {
            "okta": {
                "type": "okta",
                "url": url,
                "token_env": "OKTA_TOKEN",
                "governor": {
                    "budget_share": 1.0,
                    "timeout_s": 1.0,  # the emulator's slow answers take 1.5 s: the client gives up
                    "backoff_base_s": 0.1,
                    "backoff_max_s": 1.0,
                    "max_retries": 4,
                    "circuit_failures": 500,
                    "circuit_cooldown_s": 1.0,
                },
            }
        },
        # a quarter of the users is deactivated on purpose: above the default safety threshold (20%)
        "tenants": {"t": {"idp": "okta", "mode": "sync", "max_deprovision_share": 0.5}},
    }


def _import(serve: ServeProcess, import_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    answer = httpx.post(
        f"{serve.url}/imports",
        params={"tenant": "t", "import_id": import_id},
        content=ndjson(messages),
        headers={**AUTH, "Content-Type": "application/x-ndjson"},
        timeout=120,
    )
    assert answer.status_code == 202, answer.text
    view: dict[str, Any] = eventually(
        lambda: (v := serve.get(f"/imports/{import_id}")) and v["state"] == "completed" and v,
        timeout_s=600,
        every_s=0.5,
    )
    return view


def _failed(serve: ServeProcess, import_id: str) -> list[dict[str, Any]]:
    page = serve.get(f"/imports/{import_id}/results", status="failed", limit=1000)
    items: list[dict[str, Any]] = page["items"]
    return items


@pytest.mark.slow
@pytest.mark.parametrize(
    "lag_s",
    [
        pytest.param(0.5, id="lag-shorter-than-a-retry"),
        # the duplicate refusal meets lists that do not show the account yet (asserted below)
        pytest.param(30.0, id="lag-longer-than-a-retry"),
    ],
)
def test_lagging_lists_async_lifecycle_and_lost_answers_duplicate_nothing(
    tmp_path: Path, lag_s: float
) -> None:
    settings = EmulatorSettings(
        token=OKTA_TOKEN,
        time_scale=0.05,
        search_lag_s=lag_s,
        lifecycle_delay_s=LIFECYCLE_DELAY_S,
        count_rejected_429=True,
        faults=FAULTS,
        seed=20261202,
        state_file=str(tmp_path / "okta-state.db"),
    )
    with EmulatorProcess(settings, log_path=tmp_path / "emulator.log") as emulator:
        _run_and_check(emulator, tmp_path, lag_s)


def _run_and_check(emulator: EmulatorProcess, tmp_path: Path, lag_s: float) -> None:
    config = write_config(tmp_path / "idsync.toml", _config(tmp_path, emulator.url))
    serve = ServeProcess(config, tmp_path, verbose=True).start().ready()
    try:
        first = _import(serve, "realism-1", [_upsert(i, 1, "Ann") for i in range(USERS)])
        EmulatorAdmin(emulator.url).set_faults(**FAULTS_PHASE_2)
        second_messages = [m for i in range(USERS) if (m := _phase_two(i)) is not None]
        second = _import(serve, "realism-2", second_messages)
        failed = _failed(serve, "realism-1") + _failed(serve, "realism-2")
    finally:
        assert serve.terminate() == 0, serve.output()
    if lag_s > LONG_LAG_S:  # the long lag did reach the retry-later path (NotYetVisible)
        assert NOT_YET_VISIBLE in " ".join(serve.log.read_text(errors="replace").split())
    assert first["received"] == USERS and second["received"] == len(second_messages)
    admin = EmulatorAdmin(emulator.url)
    users = eventually(  # every asynchronous transition has landed
        lambda: (u := admin.users()) and not any("transitioningToStatus" in x for x in u) and u,
        timeout_s=30,
        every_s=0.2,
    )
    by_login = Counter(u["login"] for u in users)
    assert [login for login, n in by_login.items() if n > 1] == []  # never a second account
    assert {_login(i) for i in range(USERS)} == set(by_login)  # every user has one
    failed_keys = {r["key"] for r in failed}
    found = {u["login"]: u for u in users}
    fine = [i for i in range(USERS) if str(i) not in failed_keys]
    wrong = {
        _login(i): (found[_login(i)]["status"], EXPECTED_STATUS[i % 4])
        for i in fine
        if found[_login(i)]["status"] != EXPECTED_STATUS[i % 4]
    }
    assert wrong == {}
    assert {found[_login(i)]["profile"]["firstName"] for i in fine if i % 4 == 2} <= {"Renamed"}
    emails = Counter(e["userId"] for e in admin.outbox() if e.get("kind") == "activation")
    assert set(emails.values()) <= {1}  # never a second activation e-mail
    assert {u["id"] for u in users if u["status"] == "PROVISIONED"} == set(emails)
    stats = admin.stats(windows=False)
    injected = stats["faults"]["injected"]
    assert injected["timeout"] > 0
    write_figures(
        f"okta_realism_lag_{lag_s:g}s",
        {
            "users": USERS,
            "search_lag_s": lag_s,
            "lifecycle_delay_s": LIFECYCLE_DELAY_S,
            "faults": [FAULTS, FAULTS_PHASE_2],
            "injected": injected,
            "requests_by_endpoint": stats["requests"],
            "accounts": len(users),
            "failed": [(r["key"], r["reason"]["code"]) for r in failed],
        },
    )
    assert failed == [], json.dumps(failed[:5], indent=1)
