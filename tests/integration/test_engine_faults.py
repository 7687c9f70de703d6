"""The engine against the emulator's injected faults: each retry rule, and the rule that matters
most — no duplicate account, whatever the network does."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idsync.config import Settings, settings_from_dict
from idsync.domain.models import Status
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.engine.worker import WorkerOptions
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime

FAST_RETRIES = WorkerOptions(retry_base_s=0.05, retry_max_s=0.3, poll_s=0.05, max_attempts=10)


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token="faults-token", seed=11, time_scale=0.05)) as emu:
        yield emu


def settings(tmp_path: Path, url: str, tenant: dict[str, Any] | None = None, **governor: Any) -> Settings:
    gov = {
        "budget_share": 1.0,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.3,
        "timeout_s": 0.5,
        "max_retries": 3,
        "circuit_failures": 50,
        "circuit_cooldown_s": 0.5,
        **governor,
    }
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
            "idps": {"okta": {"type": "okta", "url": url, "token_env": "OKTA_TOKEN", "governor": gov}},
            "tenants": {"t": {"idp": "okta", "mode": "sync", **(tenant or {})}},
        },
        {"OKTA_TOKEN": "faults-token"},
    )


def write_users(path: Path, n: int, *, start: int = 0, version: int = 1, first: str = "Ann") -> Path:
    with path.open("w") as fh:
        for i in range(start, start + n):
            login = f"user{i}@example.com"
            fh.write(
                json.dumps(
                    {
                        "tenant": "t",
                        "op": "upsert",
                        "source": "app",
                        "key": str(i),
                        "version": version,
                        "user": {"login": login, "email": login, "firstName": first, "lastName": "Lee"},
                    }
                )
                + "\n"
            )
    return path


def accounts_by_login(url: str) -> Counter[str]:
    return Counter(u["login"].lower() for u in EmulatorAdmin(url).users())


async def test_unknown_outcomes_drops_and_errors_never_duplicate(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    EmulatorAdmin(emulator.url).set_faults(
        error_rate=0.05,
        timeout_rate=0.1,
        timeout_delay_s=1.0,
        timeout_applies_write=0.7,
        drop_rate=0.05,
        drop_applies_write=0.5,
    )
    users = write_users(tmp_path / "u.jsonl", 150)
    async with Runtime(settings(tmp_path, emulator.url), worker_options=FAST_RETRIES) as rt:
        report = await run_file_import(rt, users, tenant="t")
        counts = rt.store.imports.recount(report.progress.import_id)
        failed = rt.store.imports.results(report.progress.import_id, statuses=[Status.FAILED])
    accounts = accounts_by_login(emulator.url)
    assert max(accounts.values()) == 1, [login for login, n in accounts.items() if n > 1]
    assert len(accounts) == 150 - len(failed)
    assert report.progress.created == len(accounts)
    assert all(r["reason_code"] and r["reason_message"] for r in failed)
    assert counts["received"] == 150 == report.progress.done


async def test_a_create_whose_answer_is_lost_is_looked_up_not_repeated(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    admin = EmulatorAdmin(emulator.url)
    admin.set_faults(
        timeout_rate=1.0, timeout_delay_s=1.0, timeout_applies_write=1.0
    )  # every write lands late
    users = write_users(tmp_path / "u.jsonl", 5)
    async with Runtime(settings(tmp_path, emulator.url), worker_options=FAST_RETRIES) as rt:
        import asyncio

        def creates_sent() -> int:
            by = admin.stats(windows=False)["requests"].get("POST /api/v1/users", {})
            return int(sum(by.values()))

        async def clear_later() -> None:  # once every create was sent (and so answered late)
            for _ in range(300):
                if await asyncio.to_thread(creates_sent) >= 5:
                    break
                await asyncio.sleep(0.1)
            admin.clear_faults()

        clearer = asyncio.create_task(clear_later())
        report = await run_file_import(rt, users, tenant="t")
        await clearer
    accounts = accounts_by_login(emulator.url)
    assert sorted(accounts) == [f"user{i}@example.com" for i in range(5)]
    assert set(accounts.values()) == {1}
    assert report.progress.created == 5 and report.progress.failed == 0
    gets = sum(
        n
        for ep, by in admin.stats()["requests"].items()
        if ep.startswith("GET /api/v1/users/")
        for n in by.values()
    )
    assert gets >= 5  # each lost answer was checked by a lookup in the larger GET bucket


STORM_S = 1.5
"""One 429 storm, begun just before the import. The emulator starts a storm when it is set and the
import's first call goes out well under 0.2 s later, so the import always meets it (periodic storms
set before the Runtime started let a 0.3 s import slip between two of them)."""


async def test_429_storms_are_waited_out(emulator: EmulatorThread, tmp_path: Path) -> None:
    admin = EmulatorAdmin(emulator.url)
    users = write_users(tmp_path / "u.jsonl", 120)
    async with Runtime(settings(tmp_path, emulator.url), worker_options=FAST_RETRIES) as rt:
        # Each call during the storm is answered 429 with X-Rate-Limit-Remaining 0 and a Reset at
        # the storm's end; no second storm in the hour.
        admin.set_faults(storm_every_s=3600.0, storm_duration_s=STORM_S)
        report = await run_file_import(rt, users, tenant="t")
        results = rt.store.imports.results(report.progress.import_id)
        snapshot = rt.governor_snapshot()["okta"]
    assert report.progress.created == 120 and report.progress.failed == 0
    assert sorted(int(r["key"]) for r in results) == list(range(120))
    assert {r["status"] for r in results} == {"created"}
    assert set(accounts_by_login(emulator.url).values()) == {1}
    served = admin.stats(windows=False)["served_429"]
    stormed = served["storm"]
    assert stormed >= 1, "the import's first call came after the storm ended"
    assert sum(b["rate_limited"] for b in snapshot.values()) == served["total"]  # it met them all
    # The 429s were honoured: the call that met the storm held every call back until its Reset. A
    # client that only backed off (0.05-0.3 s) and retried would have met it again and again.
    assert stormed <= 3, stormed


async def test_persistent_errors_fail_with_a_reason_and_can_be_retried(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    admin = EmulatorAdmin(emulator.url)
    admin.set_faults(error_rate=1.0, error_statuses=[503])
    users = write_users(tmp_path / "u.jsonl", 4)
    options = WorkerOptions(retry_base_s=0.02, retry_max_s=0.05, poll_s=0.05, max_attempts=2)
    async with Runtime(settings(tmp_path, emulator.url), worker_options=options) as rt:
        report = await run_file_import(rt, users, tenant="t")
        assert report.progress.failed == 4
        failed = rt.store.imports.results(report.progress.import_id, statuses=[Status.FAILED])
        assert {r["reason_code"] for r in failed} == {"unknown_outcome"} or {
            r["reason_code"] for r in failed
        } <= {"unknown_outcome", "idp_unavailable"}
        assert all("503" in str(r["reason_message"]) for r in failed)
        admin.clear_faults()
        assert rt.store.imports.requeue_failed(report.progress.import_id) == 4
        again = await run_file_import(rt, users, tenant="t", import_id=report.progress.import_id)
    assert again.progress.created == 4 and again.progress.failed == 0
    assert set(accounts_by_login(emulator.url).values()) == {1}


async def test_circuit_breaker_stops_hammering_a_failing_idp(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    admin = EmulatorAdmin(emulator.url)
    admin.set_faults(error_rate=1.0, error_statuses=[500])
    users = write_users(tmp_path / "u.jsonl", 30)
    # A cool-down long enough to watch it stay shut for a second after the last call landed, short
    # enough that the users it postponed to its end are not kept waiting for long.
    cfg = settings(tmp_path, emulator.url, circuit_failures=5, circuit_cooldown_s=5.0)
    async with Runtime(
        cfg, worker_options=WorkerOptions(retry_base_s=0.02, retry_max_s=0.05, poll_s=0.05, max_attempts=3)
    ) as rt:
        import asyncio

        task = asyncio.create_task(run_file_import(rt, users, tenant="t"))
        breaker = rt.governors["okta"].breaker
        for _ in range(300):  # wait (up to 30 s on a loaded machine) for the breaker to open
            if breaker.is_open:
                break
            await asyncio.sleep(0.1)
        assert breaker.is_open and breaker.times_opened >= 1
        governor = rt.governors["okta"]
        for _ in range(100):  # calls sent before it opened may still be on their way: let them land
            if governor.in_flight == 0:
                break
            await asyncio.sleep(0.05)
        assert governor.in_flight == 0 and breaker.is_open
        calls_while_open = sum(sum(by.values()) for by in admin.stats()["requests"].values())
        await asyncio.sleep(1.0)
        assert sum(sum(by.values()) for by in admin.stats()["requests"].values()) == calls_while_open
        depth = rt.store.queue.queue_depth()
        assert sum(depth.values()) > 0  # the work waits in the queue; nothing was failed for the outage
        admin.clear_faults()
        rt.governors["okta"].breaker.opened_at = 0.0  # end the cool-down now instead of in 5 s
        report = await task
    assert report.progress.created == 30


async def test_an_existing_login_is_adopted_never_duplicated(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    admin = EmulatorAdmin(emulator.url)
    admin.seed_users(2, status="ACTIVE", prefix="user", domain="example.com")  # user0, user1 exist already
    users = write_users(tmp_path / "u.jsonl", 4)
    adopting = settings(tmp_path, emulator.url, {"existing_account": "adopt_unlinked"})
    async with Runtime(adopting, worker_options=FAST_RETRIES) as rt:
        report = await run_file_import(rt, users, tenant="t")
        results = {r["key"]: r["status"] for r in rt.store.imports.results(report.progress.import_id)}
    assert results["2"] == results["3"] == "created"
    assert results["0"] in ("updated", "unchanged") and results["1"] in ("updated", "unchanged")
    assert set(accounts_by_login(emulator.url).values()) == {1}


async def test_an_email_change_renames_the_account(emulator: EmulatorThread, tmp_path: Path) -> None:
    async with Runtime(settings(tmp_path, emulator.url), worker_options=FAST_RETRIES) as rt:
        await run_file_import(rt, write_users(tmp_path / "v1.jsonl", 1), tenant="t")
        renamed = tmp_path / "v2.jsonl"
        renamed.write_text(
            json.dumps(
                {
                    "tenant": "t",
                    "op": "upsert",
                    "source": "app",
                    "key": "0",
                    "version": 2,
                    "user": {
                        "login": "ann.lee@example.com",
                        "email": "ann.lee@example.com",
                        "firstName": "Ann",
                        "lastName": "Lee",
                    },
                }
            )
            + "\n"
        )
        report = await run_file_import(rt, renamed, tenant="t")
        stale = renamed.with_name("v1-again.jsonl")
        write_users(stale, 1, version=1)
        late = await run_file_import(rt, stale, tenant="t")
    assert report.progress.updated == 1
    assert late.progress.skipped == 1  # version 1 arrived after version 2: never applied
    accounts = EmulatorAdmin(emulator.url).users()
    assert [a["login"] for a in accounts] == ["ann.lee@example.com"]


async def test_a_definite_refusal_clears_the_intent_so_a_retry_costs_one_call(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    users = write_users(tmp_path / "u.jsonl", 6)
    wrong = settings(tmp_path, emulator.url).model_copy(deep=True)
    okta = wrong.idps["okta"]
    from pydantic import SecretStr

    wrong = wrong.model_copy(
        update={"idps": {"okta": okta.model_copy(update={"token": SecretStr("revoked")})}}
    )
    async with Runtime(wrong, worker_options=FAST_RETRIES) as rt:
        report = await run_file_import(rt, users, tenant="t")
        assert report.progress.failed == 6
        assert {r["reason_code"] for r in rt.store.imports.results(report.progress.import_id)} == {
            "idp_unauthorized"
        }
    admin = EmulatorAdmin(emulator.url)
    admin.reset()
    async with Runtime(settings(tmp_path, emulator.url), worker_options=FAST_RETRIES) as rt:
        assert rt.store.imports.requeue_failed(report.progress.import_id) == 6
        again = await run_file_import(rt, users, tenant="t", import_id=report.progress.import_id)
    assert again.progress.created == 6
    requests = admin.stats()["requests"]
    lookups = sum(
        n for ep, by in requests.items() if ep.startswith("GET /api/v1/users/") for n in by.values()
    )
    # The import's calls over both runs: 6 refused, then one create per user, nothing more.
    assert (report.api_calls, again.api_calls) == (6, 12) and lookups == 0
