"""The safety threshold (domain/safety.py): a run that would deactivate or delete more than the
tenant's `max_deprovision_share` of its linked users is held — nothing more of it is sent — and
reported, until it is released, forced or discarded. Checked against the emulator's accounts."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idsync.adapters.store.features.safety_ops import discard_run, find_run, list_runs, release_run
from idsync.config import Settings, settings_from_dict
from idsync.domain.models import Status
from idsync.domain.records import received_from_text
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.engine.ingest import Defaults
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.reliability.support import OKTA_TOKEN, user_message

USERS = 50  # linked users of tenant t; 20% of them: an allowance of 10


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.01)) as emu:
        yield emu


def _settings(tmp_path: Path, url: str, **tenant: Any) -> Settings:
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
            "idps": {"okta": {"type": "okta", "url": url, "token_env": "OKTA_TOKEN"}},
            "tenants": {
                "t": {"idp": "okta", "mode": "sync", "delete_policy": "deactivate", **tenant},
                "keep": {"idp": "okta", "mode": "sync"},  # delete policy ignore
            },
        },
        {"OKTA_TOKEN": OKTA_TOKEN},
    )


def _op(i: int, op: str, tenant: str = "t", version: int = 2) -> dict[str, Any]:
    return {"tenant": tenant, "op": op, "source": "app", "key": str(i), "version": version}


def _file(path: Path, messages: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def _statuses(url: str) -> Counter[str]:
    return Counter(u["status"] for u in EmulatorAdmin(url).users())


async def _populate(rt: Runtime, tmp_path: Path, tenant: str = "t") -> None:
    users = _file(tmp_path / f"{tenant}-users.jsonl", [user_message(i, tenant=tenant) for i in range(USERS)])
    report = await run_file_import(rt, users, tenant=tenant, import_id=f"{tenant}-initial")
    assert report.progress.created == USERS


async def test_a_run_within_the_share_goes_through(emulator: EmulatorThread, tmp_path: Path) -> None:
    async with Runtime(_settings(tmp_path, emulator.url)) as rt:
        await _populate(rt, tmp_path)
        small = _file(tmp_path / "small.jsonl", [_op(i, "deactivate") for i in range(10)])
        report = await run_file_import(rt, small, tenant="t", import_id="small")
        run = find_run(rt.store, "t/small")
    assert report.progress.deactivated == 10 and report.progress.state.value == "completed"
    assert run is not None and (run.state, run.admitted, run.held, run.allowance) == ("open", 10, 0, 10)
    assert _statuses(emulator.url) == {"STAGED": USERS - 10, "DEPROVISIONED": 10}


async def test_a_run_over_the_share_is_held_until_released(
    emulator: EmulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    messages = [_op(i, "delete") for i in range(30)]  # delete policy deactivate: 30 of 50 users
    messages.append(user_message(3, version=3, first="Later"))  # a later change of a held user
    messages.append(user_message(40, version=3, first="Other"))  # another user: not held
    async with Runtime(_settings(tmp_path, emulator.url)) as rt:
        await _populate(rt, tmp_path)
        mass = _file(tmp_path / "mass.jsonl", messages)
        with caplog.at_level(logging.WARNING, logger="idsync.ingest"):
            report = await run_file_import(rt, mass, tenant="t", import_id="mass")
        run = find_run(rt.store, "mass")
        assert run is not None
        # Nothing of it was sent: every deactivation held, and the later change of user 3 too.
        assert (run.state, run.admitted, run.held, run.allowance, run.linked_users) == (
            "tripped",
            0,
            31,
            10,
            USERS,
        )
        assert _statuses(emulator.url) == {"STAGED": USERS}
        assert report.progress.state.value == "running" and report.progress.pending == 31
        assert report.progress.updated == 1  # user 40 went through
        assert "safety threshold: run t/mass" in caplog.text and "idsync safety release" in caplog.text

        released = release_run(rt.store, "t/mass")
        assert released is not None and released[1] == 31
        await rt.worker.run(until_idle=lambda: True)
        record = rt.store.imports.get("mass")
        after = find_run(rt.store, "t/mass")
    assert record is not None and record.state.value == "completed"
    assert record.counts["deactivated"] == 30 and record.counts["updated"] == 2
    assert after is not None and (after.state, after.admitted, after.held) == ("released", 30, 0)
    accounts = {u["login"]: u for u in EmulatorAdmin(emulator.url).users()}
    assert Counter(u["status"] for u in accounts.values()) == {"STAGED": 20, "DEPROVISIONED": 30}
    # User 3's later upsert was applied after its deactivation, in order: the profile is updated.
    assert accounts["user3@example.com"]["profile"]["firstName"] == "Later"


async def test_held_changes_can_be_discarded(emulator: EmulatorThread, tmp_path: Path) -> None:
    async with Runtime(_settings(tmp_path, emulator.url)) as rt:
        await _populate(rt, tmp_path)
        mass = _file(tmp_path / "mass.jsonl", [_op(i, "deactivate") for i in range(25)])
        await run_file_import(rt, mass, tenant="t", import_id="mass")
        discarded = discard_run(rt.store, "t/mass")
        assert discarded is not None and discarded[1] == 25
        record = rt.store.imports.get("mass")
        skipped = rt.store.imports.results("mass", statuses=[Status.SKIPPED])
        run = find_run(rt.store, "t/mass")
    assert record is not None and record.state.value == "completed" and record.counts["skipped"] == 25
    assert {r["reason_code"] for r in skipped} == {"safety_threshold"}
    assert "discarded by an operator" in skipped[0]["reason_message"]
    assert run is not None and (run.state, run.discarded, run.held) == ("tripped", 25, 0)
    assert _statuses(emulator.url) == {"STAGED": USERS}


async def test_force_lets_a_run_through(emulator: EmulatorThread, tmp_path: Path) -> None:
    async with Runtime(_settings(tmp_path, emulator.url)) as rt:
        await _populate(rt, tmp_path)
        mass = _file(tmp_path / "mass.jsonl", [_op(i, "deactivate") for i in range(25)])
        report = await run_file_import(rt, mass, tenant="t", import_id="forced", force=True)
        run = find_run(rt.store, "forced")
    assert report.progress.deactivated == 25 and report.progress.state.value == "completed"
    assert run is not None and run.state == "released" and run.forced
    assert _statuses(emulator.url) == {"STAGED": USERS - 25, "DEPROVISIONED": 25}


async def test_a_run_spread_over_batches_never_sends_more_than_its_allowance(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A Kafka import arrives in batches while the worker runs: what was sent before the trip
    stays within the allowance, what was still queued is held with the rest."""
    async with Runtime(_settings(tmp_path, emulator.url)) as rt:
        await _populate(rt, tmp_path)
        defaults = Defaults(origin="kafka", import_id="stream")
        rt.store.imports.create("stream", "t", "kafka")

        async def batch(keys: range) -> None:
            items = [
                received_from_text(json.dumps({**_op(i, "deactivate"), "import_id": "stream"}), f"c:0:{i}")
                for i in keys
            ]
            await rt.ingestor.receive(items, defaults)

        await batch(range(0, 6))  # within the allowance (10): sent
        await rt.worker.run(until_idle=lambda: True)
        await batch(range(6, 9))  # still within: queued, not yet sent when the next batch trips it
        await batch(range(9, 30))
        await rt.worker.run(until_idle=lambda: True)
        run = find_run(rt.store, "stream")
        record = rt.store.imports.get("stream")
    assert run is not None and run.state == "tripped"
    assert (run.admitted, run.held) == (6, 24)
    assert _statuses(emulator.url) == {"STAGED": USERS - 6, "DEPROVISIONED": 6}
    assert record is not None and record.counts["deactivated"] == 6 and record.state.value == "running"


async def test_single_changes_count_per_tenant_and_window(emulator: EmulatorThread, tmp_path: Path) -> None:
    # A window that cannot turn during the test (the default hour, aligned to UTC, turned mid-run
    # once and split the changes over two runs).
    rules = {"deprovision_floor": 0, "safety_window_s": 1e9}
    async with Runtime(_settings(tmp_path, emulator.url, **rules)) as rt:
        await _populate(rt, tmp_path)
        for i in range(14):  # one at a time, as an admin (or a runaway script) would
            await rt.ingestor.receive(
                [received_from_text(json.dumps(_op(i, "deactivate")))], Defaults(origin="http")
            )
            await rt.worker.run(until_idle=lambda: True)
        (run,) = [r for r in list_runs(rt.store) if r.import_id is None]
    assert run.run_id.startswith("t/~single-") and run.state == "tripped"
    assert (run.allowance, run.admitted, run.held) == (10, 10, 4)
    assert _statuses(emulator.url) == {"STAGED": USERS - 10, "DEPROVISIONED": 10}


async def test_deletes_that_the_policy_ignores_do_not_count(emulator: EmulatorThread, tmp_path: Path) -> None:
    async with Runtime(_settings(tmp_path, emulator.url)) as rt:
        await _populate(rt, tmp_path, tenant="keep")
        deletes = _file(tmp_path / "del.jsonl", [_op(i, "delete", tenant="keep") for i in range(40)])
        report = await run_file_import(rt, deletes, tenant="keep", import_id="ignored")
        runs = list_runs(rt.store)
    assert report.progress.skipped == 40 and runs == []
    assert _statuses(emulator.url) == {"STAGED": USERS}
