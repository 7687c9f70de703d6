"""Fault tests through the service: `idsync serve` (a subprocess, debug logging) imports users
while the emulator injects every fault at once — 5% server errors, 2% answers slower than the
client waits (half of them written anyway: unknown outcomes), dropped connections (half written),
and 429 storms. The import must complete with no duplicate account, no second activation
e-mail, exact counters, and every failure reported with its reason. Figures go to
test-artifacts/reliability/faults.json."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
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
    user_message,
    write_config,
    write_figures,
)
from tests.reliability.verdict import check_store

USERS = 600  # every fault still lands many times (asserted below); the run outlasts a few storms
FAULTS = {
    "error_rate": 0.05,
    "timeout_rate": 0.02,
    "timeout_delay_s": 2.0,
    "timeout_applies_write": 0.5,
    "drop_rate": 0.02,
    "drop_applies_write": 0.5,
    "storm_every_s": 4.0,
    "storm_duration_s": 0.6,
}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    settings = EmulatorSettings(
        token=OKTA_TOKEN,
        time_scale=0.02,
        faults=FAULTS,
        seed=20261123,
        state_file=str(tmp_path / "okta-state.db"),
    )
    with EmulatorProcess(settings, log_path=tmp_path / "emulator.log") as emu:
        yield emu


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
                    "timeout_s": 1.0,  # the emulator's slow answers take 2 s: the client gives up
                    "backoff_base_s": 0.1,
                    "backoff_max_s": 1.0,
                    "max_retries": 4,
                    "circuit_failures": 500,
                    "circuit_cooldown_s": 1.0,
                },
            }
        },
        "tenants": {"t": {"idp": "okta", "mode": "sync_and_activate"}},
    }


@pytest.mark.slow
def test_an_import_under_every_fault_at_once_duplicates_nothing(
    emulator: EmulatorProcess, tmp_path: Path, secret_scan: Any
) -> None:
    messages: list[dict[str, Any]] = [user_message(i) for i in range(USERS)]
    for n in range(10):  # invalid ones in between: refused with the field, never sent
        bad = user_message(USERS + n)
        bad["user"]["email"] = "nope"
        messages.insert(n * (USERS // 10), bad)
    config = write_config(tmp_path / "idsync.toml", _config(tmp_path, emulator.url))
    serve = ServeProcess(config, tmp_path, verbose=True).start().ready()
    try:
        answer = httpx.post(
            f"{serve.url}/imports",
            params={"tenant": "t", "import_id": "faulty"},
            content=ndjson(messages),
            headers={**AUTH, "Content-Type": "application/x-ndjson"},
            timeout=120,
        )
        assert answer.status_code == 202, answer.text
        view = eventually(
            lambda: (v := serve.get("/imports/faulty")) and v["state"] == "completed" and v,
            timeout_s=900,
            every_s=1.0,
        )
        failed = _failed_results(serve)
        metrics = httpx.get(f"{serve.url}/metrics", headers=AUTH, timeout=10).text
        secret_scan.add_text("faults: /metrics", metrics)
    finally:
        assert serve.terminate() == 0, serve.output()
    admin = EmulatorAdmin(emulator.url)
    users = admin.users()
    logins = Counter(u["login"] for u in users)
    duplicates = [login for login, n in logins.items() if n > 1]
    assert not duplicates, duplicates[:10]
    emails = Counter(e["userId"] for e in admin.outbox() if e.get("kind") == "activation")
    assert set(emails.values()) <= {1}, [uid for uid, n in emails.items() if n > 1][:10]
    # Every user either has exactly one account or a failed result with its reason.
    failed_keys = {r["key"] for r in failed}
    for r in failed:
        assert r["reason"] and r["reason"]["code"] and r["reason"]["message"], r
    invalid = {str(USERS + n) for n in range(10)}
    assert invalid <= failed_keys
    for r in failed:
        if r["key"] in invalid:
            assert r["reason"]["code"] == "invalid" and "user.email" in r["reason"]["message"], r
    missing = {str(i) for i in range(USERS) if f"user{i}@example.com" not in logins}
    assert missing <= failed_keys, sorted(missing - failed_keys)[:10]
    store = check_store(f"sqlite:///{tmp_path / 'idsync.db'}", "faulty")
    assert store.counts["received"] == USERS + 10 == view["received"]
    assert store.counts["created"] == len(logins) and store.counts["failed"] == len(failed)
    assert store.recount == {k: store.counts[k] for k in store.recount}
    stats = admin.stats(windows=False)
    injected = stats["faults"]["injected"]
    assert injected["error"] > 0 and injected["timeout"] > 0 and injected["drop"] > 0
    assert injected["storm_429"] > 0
    write_figures(
        "faults",
        {
            "users": USERS,
            "invalid": 10,
            "faults": FAULTS,
            "injected": injected,
            "requests": sum(sum(by.values()) for by in stats["requests"].values()),
            "served_429": stats.get("served_429"),
            "accounts": len(logins),
            "duplicates": len(duplicates),
            "double_emails": sum(1 for n in emails.values() if n > 1),
            "failed": len(failed),
            "failed_by_reason": dict(Counter(r["reason"]["code"] for r in failed)),
            "counters": store.counts,
        },
    )


def _failed_results(serve: ServeProcess) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = serve.get("/imports/faulty/results", status="failed", after=after, limit=1000)
        out.extend(page["items"])
        if page["next_after"] is None:
            return out
        after = page["next_after"]
